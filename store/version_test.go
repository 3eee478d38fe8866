package store

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// The change token is right only if every write goes through exec, inTx or migrationTx, which
// move it: no other code may use the writer connection itself (prepareWrites only prepares the
// statements those run).
func TestWritesGoThroughExecOrInTx(t *testing.T) {
	allowed := map[string]bool{"exec": true, "inTx": true, "migrationTx": true, "prepareWrites": true, "Backup": true, "Ping": true, "Close": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil || allowed[fn.Name.Name] {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "w" {
					if x, ok := sel.X.(*ast.Ident); ok && x.Name == "s" {
						t.Errorf("%s: %s uses the writer directly: use s.exec or s.inTx, which move the change token", fset.Position(sel.Pos()), fn.Name.Name)
					}
				}
				return true
			})
		}
	}
}
