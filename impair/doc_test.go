package impair

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPackageDoc checks that the package comment exists, names the package
// and its entry point, and that no non-test file imports gopacket (it stays
// off the forwarding path).
func TestPackageDoc(t *testing.T) {
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
		if f.Doc != nil {
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
	if !strings.HasPrefix(doc, "Package impair ") || !strings.Contains(doc, "entry point") {
		t.Errorf("package comment should start %q and name the entry point; got %q", "Package impair ", doc)
	}
}
