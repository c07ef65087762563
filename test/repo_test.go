package test

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// repoRoot is the module root, one level up from this package.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestPackageDocs checks that every package has a package comment that
// starts with "Package NAME" (or "Command NAME") and names an entry point
// (STYLE §2).
func TestPackageDocs(t *testing.T) {
	root := repoRoot(t)
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "bin") {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			return nil
		}
		docs, err := packageDocs(path)
		if err != nil {
			return err
		}
		for name, doc := range docs {
			rel, _ := filepath.Rel(root, path)
			want := "Package " + name + " "
			if name == "main" {
				want = "Command " + filepath.Base(path) + " "
			}
			if !strings.HasPrefix(doc, want) {
				t.Errorf("%s: package comment should start with %q", rel, want)
			}
			if name != "main" && !strings.Contains(strings.ToLower(doc), "entry point") {
				t.Errorf("%s: package comment should name the entry point", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// packageDocs returns the package comments of the non-test Go files in dir,
// by package name.
func packageDocs(dir string) (map[string]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	docs := map[string]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			return nil, err
		}
		name := af.Name.Name
		if _, ok := docs[name]; !ok {
			docs[name] = ""
		}
		if af.Doc != nil {
			docs[name] += af.Doc.Text()
		}
	}
	return docs, nil
}

// TestFastPathDeps keeps gopacket (and cgo) off the forwarding path: the
// header, feature and datapath packages may use it in tests only (STYLE §15).
func TestFastPathDeps(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go tool not on PATH")
	}
	pkgs := []string{"header", "port", "tap", "vlan", "bridge", "arp", "nat", "router", "offload", "datapath", "afpacket"}
	for _, p := range pkgs {
		cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{if .CgoFiles}}cgo{{end}}", "github.com/vswitchd/vswitchd/"+p)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // as the Makefile builds
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", p, err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "gopacket") {
				t.Errorf("%s imports %s on the forwarding path", p, strings.Fields(line)[0])
			}
			if strings.HasSuffix(line, " cgo") {
				t.Errorf("%s depends on cgo package %s", p, strings.Fields(line)[0])
			}
		}
	}
}
