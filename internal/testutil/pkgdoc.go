package testutil

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// PackageDoc checks the package in the current directory (a test's): one
// package comment, which starts "Package pkg " and names the package's
// entry point, and no non-test file importing gopacket (it is for
// building and checking test frames, off the forwarding path).
func PackageDoc(t *testing.T, pkg string) {
	t.Helper()
	names, err := filepath.Glob("*.go")
	if err != nil || len(names) == 0 {
		t.Fatalf("list Go files: %v", err)
	}
	fset := token.NewFileSet()
	var doc string
	for _, name := range names {
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil && f.Name.Name == pkg {
			if doc != "" {
				t.Errorf("%s: a second package comment", name)
			}
			doc = f.Doc.Text()
		}
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		for _, im := range f.Imports {
			path, _ := strconv.Unquote(im.Path.Value)
			if strings.HasPrefix(path, "github.com/google/gopacket") {
				t.Errorf("%s imports %s: gopacket is for tests only", name, path)
			}
		}
	}
	if prefix := "Package " + pkg + " "; !strings.HasPrefix(doc, prefix) || !strings.Contains(doc, "entry point") {
		t.Errorf("package comment should start %q and name the entry point; got %q", prefix, doc)
	}
}
