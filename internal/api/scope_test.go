package api_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEveryRouteIsScoped: every route the package registers goes through
// the project scoping, either scoped or unscopedOnly, so a route added
// later cannot leak another project's objects by forgetting it; and the
// routes that span every project are the unscopedOnly ones.
func TestEveryRouteIsScoped(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	global := []string{"/v1/config", "/v1/history", "/v1/rollback", "/v1/transactions", "/v1/ips", "/v1/certificates", "/v1/discovery"}
	fset := token.NewFileSet()
	seen := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "HandleFunc" && sel.Sel.Name != "Handle") || len(call.Args) != 2 {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok {
				t.Errorf("%s: a pattern that is not a literal", fset.Position(call.Pos()))
				return true
			}
			pattern, _ := strconv.Unquote(lit.Value)
			if pattern == "/" {
				return true // the catch-all 404 reaches nothing
			}
			seen++
			wrapper := ""
			if inner, ok := call.Args[1].(*ast.CallExpr); ok {
				if s, ok := inner.Fun.(*ast.SelectorExpr); ok {
					wrapper = s.Sel.Name
				}
			}
			_, path, _ := strings.Cut(pattern, " ")
			want := "scoped"
			for _, g := range global {
				if path == g || strings.HasPrefix(path, g+"/") {
					want = "unscopedOnly"
				}
			}
			if wrapper != want {
				t.Errorf("%s: %q is registered through %q, want s.%s(...)", fset.Position(call.Pos()), pattern, wrapper, want)
			}
			return true
		})
	}
	if seen == 0 {
		t.Fatal("found no routes: the extraction is broken")
	}
}
