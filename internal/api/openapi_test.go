package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	gclient "github.com/gantry-lb/gantry/client"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gantry-lb/gantry/internal/api"
	"github.com/gantry-lb/gantry/internal/control"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// docFile is the document the server embeds; tests read the same file.
const docFile = "openapi.json"

// httpMethods are the operation keys of an OpenAPI path item.
var httpMethods = []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}

// openAPI is a decoded OpenAPI document. Numbers stay json.Number so that
// integer and number can be told apart.
type openAPI struct{ root map[string]any }

func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	return v, nil
}

func loadDoc(t *testing.T) *openAPI {
	t.Helper()
	data, err := os.ReadFile(docFile)
	if err != nil {
		t.Fatal(err)
	}
	v, err := decodeJSON(data)
	if err != nil {
		t.Fatalf("%s is not well-formed JSON: %v", docFile, err)
	}
	root, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s is not a JSON object", docFile)
	}
	return &openAPI{root: root}
}

// lookup resolves a local JSON pointer ("#/components/schemas/LB").
func (d *openAPI) lookup(ref string) (any, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("$ref %q is not local", ref)
	}
	var cur any = d.root
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q: %q is not inside an object", ref, tok)
		}
		if cur, ok = m[tok]; !ok {
			return nil, fmt.Errorf("$ref %q: no %q", ref, tok)
		}
	}
	return cur, nil
}

// deref follows $ref until it reaches an object without one.
func (d *openAPI) deref(v any) (map[string]any, error) {
	for range 32 {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%T is not an object", v)
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m, nil
		}
		var err error
		if v, err = d.lookup(ref); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("$ref chain longer than 32")
}

// operation is one method of one path of the document.
type operation struct {
	method, path string // "GET", "/v1/lbs/{lb}"
	item, op     map[string]any
}

func (d *openAPI) operations(t *testing.T) []operation {
	t.Helper()
	paths, ok := d.root["paths"].(map[string]any)
	if !ok {
		t.Fatal("the document has no paths object")
	}
	var ops []operation
	for _, p := range slices.Sorted(maps.Keys(paths)) {
		item, ok := paths[p].(map[string]any)
		if !ok {
			t.Fatalf("paths[%s] is not an object", p)
		}
		for _, m := range httpMethods {
			if op, ok := item[m].(map[string]any); ok {
				ops = append(ops, operation{method: strings.ToUpper(m), path: p, item: item, op: op})
			}
		}
	}
	return ops
}

// --- route coverage --------------------------------------------------------

// routesInFile returns the "METHOD /path" patterns of every
// HandleFunc/Handle call in f, with the path in OpenAPI's template syntax,
// and a problem for every call this test cannot read (a pattern that is not
// a string literal could register anything, so it must not pass silently).
func routesInFile(fset *token.FileSet, f *ast.File) (routes, problems []string) {
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "HandleFunc" && sel.Sel.Name != "Handle") || len(call.Args) != 2 {
			return true
		}
		pos := fset.Position(call.Pos())
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			problems = append(problems, fmt.Sprintf("%s: %s with a pattern that is not a string literal", pos, sel.Sel.Name))
			return true
		}
		pattern, err := strconv.Unquote(lit.Value)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", pos, err))
			return true
		}
		if pattern == "/" {
			return true // the catch-all 404
		}
		method, path, ok := strings.Cut(pattern, " ")
		if !ok || !strings.HasPrefix(path, "/") {
			problems = append(problems, fmt.Sprintf("%s: pattern %q names no method or has a host; the document needs METHOD /path", pos, pattern))
			return true
		}
		routes = append(routes, method+" "+openAPIPath(path))
		return true
	})
	return routes, problems
}

// wildcard matches a ServeMux wildcard segment: {name}, {name...} or {$}.
var wildcard = regexp.MustCompile(`\{(\$|[A-Za-z_][A-Za-z0-9_]*)(\.\.\.)?\}`)

// openAPIPath turns a ServeMux path into an OpenAPI path template.
func openAPIPath(p string) string {
	return wildcard.ReplaceAllStringFunc(p, func(w string) string {
		name := wildcard.FindStringSubmatch(w)[1]
		if name == "$" {
			return ""
		}
		return "{" + name + "}"
	})
}

// registeredRoutes reads the patterns the package registers from its
// non-test sources, so a route added anywhere in package api is seen.
func registeredRoutes(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var routes []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		rs, problems := routesInFile(fset, f)
		for _, p := range problems {
			t.Error(p)
		}
		routes = append(routes, rs...)
	}
	if len(routes) == 0 {
		t.Fatal("found no m.HandleFunc(\"METHOD /path\", ...) calls: the route extraction is broken")
	}
	return routes
}

// diffRoutes returns the routes registered but not documented, and those
// documented but not registered, each sorted.
func diffRoutes(registered, documented []string) (missing, extra []string) {
	for _, r := range registered {
		if !slices.Contains(documented, r) {
			missing = append(missing, r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(registered, r) {
			extra = append(extra, r)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	return slices.Compact(missing), slices.Compact(extra)
}

func TestOpenAPICoversEveryRoute(t *testing.T) {
	d := loadDoc(t)
	var documented []string
	for _, op := range d.operations(t) {
		documented = append(documented, op.method+" "+op.path)
	}
	registered := registeredRoutes(t)
	missing, extra := diffRoutes(registered, documented)
	for _, r := range missing {
		t.Errorf("route %s is registered but missing from %s", r, docFile)
	}
	for _, r := range extra {
		t.Errorf("%s names %s, which the server does not register", docFile, r)
	}
	if len(missing) == 0 && len(extra) == 0 && len(registered) != len(documented) {
		t.Errorf("%d routes registered, %d documented: a route is registered twice", len(registered), len(documented))
	}
}

// TestDiffRoutes shows that the coverage comparison fails both ways.
func TestDiffRoutes(t *testing.T) {
	tests := []struct {
		name                   string
		registered, documented []string
		missing, extra         []string
	}{
		{name: "equal", registered: []string{"GET /a", "PUT /a/{x}"}, documented: []string{"PUT /a/{x}", "GET /a"}},
		{name: "undocumented route", registered: []string{"GET /a", "DELETE /a"}, documented: []string{"GET /a"}, missing: []string{"DELETE /a"}},
		{name: "documented ghost", registered: []string{"GET /a"}, documented: []string{"GET /a", "GET /b"}, extra: []string{"GET /b"}},
		{name: "method differs", registered: []string{"PATCH /a"}, documented: []string{"PUT /a"}, missing: []string{"PATCH /a"}, extra: []string{"PUT /a"}},
		{name: "parameter name differs", registered: []string{"GET /a/{id}"}, documented: []string{"GET /a/{name}"}, missing: []string{"GET /a/{id}"}, extra: []string{"GET /a/{name}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			missing, extra := diffRoutes(tt.registered, tt.documented)
			if !slices.Equal(missing, tt.missing) || !slices.Equal(extra, tt.extra) {
				t.Fatalf("missing %v extra %v, want %v and %v", missing, extra, tt.missing, tt.extra)
			}
		})
	}
}

// TestRoutesInSource shows what the extraction reads and what it refuses.
func TestRoutesInSource(t *testing.T) {
	const src = `package x
func (s *S) routes() {
	m := s.mux
	m.HandleFunc("GET /v1/a/{id}", s.a)
	m.Handle("POST /v1/files/{path...}", h)
	m.HandleFunc("GET /v1/{$}", s.root)
	m.HandleFunc("/", s.notFound)
	m.HandleFunc(pattern, s.b)
	m.HandleFunc("/v1/any-method", s.c)
	fmt.Println("GET /not/a/route")
}`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "routes.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	routes, problems := routesInFile(fset, f)
	want := []string{"GET /v1/a/{id}", "POST /v1/files/{path}", "GET /v1/"}
	if !slices.Equal(routes, want) {
		t.Errorf("routes %q, want %q", routes, want)
	}
	if len(problems) != 2 || !strings.Contains(problems[0], "not a string literal") || !strings.Contains(problems[1], "/v1/any-method") {
		t.Errorf("problems %q, want the non-literal pattern and the method-less one", problems)
	}
}

// --- the document itself --------------------------------------------------

func TestOpenAPIWellFormed(t *testing.T) {
	d := loadDoc(t)
	if v, _ := d.root["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi is %q, want 3.1.x", v)
	}
	info, _ := d.root["info"].(map[string]any)
	for _, k := range []string{"title", "version", "description"} {
		if s, _ := info[k].(string); s == "" {
			t.Errorf("info.%s is empty", k)
		}
	}
	if desc, _ := info["description"].(string); !strings.Contains(desc, "ETag") || !strings.Contains(desc, "If-Match") {
		t.Error("info.description does not explain revisions, ETag and If-Match")
	}

	t.Run("every $ref resolves", func(t *testing.T) {
		var walk func(v any, at string)
		n := 0
		walk = func(v any, at string) {
			switch v := v.(type) {
			case map[string]any:
				if ref, ok := v["$ref"]; ok {
					n++
					s, ok := ref.(string)
					if !ok {
						t.Errorf("%s: $ref is not a string", at)
					} else if _, err := d.lookup(s); err != nil {
						t.Errorf("%s: %v", at, err)
					}
				}
				for k, e := range v {
					walk(e, at+"/"+k)
				}
			case []any:
				for i, e := range v {
					walk(e, at+"/"+strconv.Itoa(i))
				}
			}
		}
		walk(d.root, "#")
		if n == 0 {
			t.Error("no $ref at all: the walk is broken")
		}
	})

	t.Run("security schemes", func(t *testing.T) {
		for name, want := range map[string][2]string{"bearerAuth": {"http", "bearer"}, "authToken": {"apiKey", "X-Auth-Token"}} {
			s, err := d.lookup("#/components/securitySchemes/" + name)
			if err != nil {
				t.Error(err)
				continue
			}
			m := s.(map[string]any)
			if m["type"] != want[0] || (m["scheme"] != want[1] && m["name"] != want[1]) {
				t.Errorf("securitySchemes.%s is %v, want %v", name, m, want)
			}
		}
		sec, _ := d.root["security"].([]any)
		if len(sec) != 2 {
			t.Errorf("top-level security %v, want bearerAuth or authToken", sec)
		}
	})

	ids := map[string]string{}
	for _, o := range d.operations(t) {
		name := o.method + " " + o.path
		t.Run(name, func(t *testing.T) {
			id, _ := o.op["operationId"].(string)
			if id == "" {
				t.Error("no operationId")
			} else if prev, dup := ids[id]; dup {
				t.Errorf("operationId %s is also %s", id, prev)
			}
			ids[id] = name
			responses, _ := o.op["responses"].(map[string]any)
			has2xx := false
			for code, r := range responses {
				has2xx = has2xx || (len(code) == 3 && code[0] == '2')
				rm, err := d.deref(r)
				if err != nil {
					t.Errorf("response %s: %v", code, err)
				} else if s, _ := rm["description"].(string); s == "" {
					t.Errorf("response %s has no description", code)
				}
			}
			if !has2xx {
				t.Error("no 2xx response")
			}
			if _, ok := responses["401"]; !ok {
				t.Error("no 401 response (every route needs a token)")
			}
			// Path parameters and the template name the same set.
			var declared []string
			for _, src := range []map[string]any{o.item, o.op} {
				ps, _ := src["parameters"].([]any)
				for _, p := range ps {
					pm, err := d.deref(p)
					if err != nil {
						t.Error(err)
						continue
					}
					if pm["in"] == "path" {
						if pm["required"] != true {
							t.Errorf("path parameter %v is not required", pm["name"])
						}
						declared = append(declared, pm["name"].(string))
					}
				}
			}
			var inTemplate []string
			for _, m := range wildcard.FindAllStringSubmatch(o.path, -1) {
				inTemplate = append(inTemplate, m[1])
			}
			slices.Sort(declared)
			slices.Sort(inTemplate)
			if !slices.Equal(declared, inTemplate) {
				t.Errorf("path parameters %v, the template has %v", declared, inTemplate)
			}
			// Request body examples match their schemas.
			if rb, ok := o.op["requestBody"]; ok {
				rbm, err := d.deref(rb)
				if err != nil {
					t.Fatal(err)
				}
				content, _ := rbm["content"].(map[string]any)
				for mt, media := range content {
					mm := media.(map[string]any)
					exs, _ := mm["examples"].(map[string]any)
					for exName, ex := range exs {
						exm, err := d.deref(ex)
						if err != nil {
							t.Fatal(err)
						}
						for _, e := range d.check(mm["schema"], exm["value"], "", 0) {
							t.Errorf("%s example %s: %s", mt, exName, e)
						}
					}
				}
			}
		})
	}
}

// TestSchemaCheck shows that the structural check rejects what it should.
func TestSchemaCheck(t *testing.T) {
	d := loadDoc(t)
	tests := []struct {
		schema, value string
		wantErr       string
	}{
		{`{"$ref": "#/components/schemas/LBList"}`, `{"lbs": [], "total_count": 0}`, ""},
		{`{"$ref": "#/components/schemas/LBList"}`, `{"lbs": [], "total_count": 0, "next": 2}`, "next: not documented"},
		{`{"$ref": "#/components/schemas/LBList"}`, `{"lbs": []}`, "total_count: required"},
		{`{"$ref": "#/components/schemas/LBList"}`, `{"lbs": [{"name": 1}], "total_count": 1}`, "lbs[0].name: JSON integer, want string"},
		{`{"$ref": "#/components/schemas/Status"}`, `{"stored_revision": 1.5, "applied_revision": 1, "listeners": []}`, "want integer"},
		{`{"$ref": "#/components/schemas/Route"}`, `{"backend": "b", "match": {"host": "x"}}`, "match.host: not documented"},
		{`{"$ref": "#/components/schemas/LB"}`, `{"name": "a", "description": "", "tags": [], "ips": [], "status": "gone", "frontend_count": 0, "backend_count": 0, "created_at": "", "updated_at": ""}`, "status: \"gone\" is not one of"},
		{`{"oneOf": [{"$ref": "#/components/schemas/LB"}, {"$ref": "#/components/schemas/ChangeResult"}]}`, `{"revision": 3, "changes": null, "dry_run": true}`, ""},
		{`{"oneOf": [{"$ref": "#/components/schemas/LB"}, {"$ref": "#/components/schemas/ChangeResult"}]}`, `{"revision": 3, "changes": [], "DryRun": true}`, "matches none of"},
		{`{"$ref": "#/components/schemas/BackendInput"}`, `{"port": "80a"}`, "does not match"},
		{`{"allOf": [{"type": "object"}]}`, `{}`, "unsupported keyword allOf"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			schema, err := decodeJSON([]byte(tt.schema))
			if err != nil {
				t.Fatal(err)
			}
			v, err := decodeJSON([]byte(tt.value))
			if err != nil {
				t.Fatal(err)
			}
			errs := strings.Join(d.check(schema, v, "", 0), "; ")
			if tt.wantErr == "" && errs != "" || !strings.Contains(errs, tt.wantErr) {
				t.Fatalf("errors %q, want %q", errs, tt.wantErr)
			}
		})
	}
}

// check is a light structural check of v against an OpenAPI 3.1 schema:
// $ref, type, enum, const, pattern, required, properties, items,
// additionalProperties (as a schema), oneOf and anyOf (some alternative
// fits). Stricter than JSON Schema on purpose: an object whose schema lists
// properties may have only those, so every property the server sends must
// be documented. It returns what does not fit, one line per problem.
func (d *openAPI) check(schema, v any, at string, depth int) []string {
	if depth > 64 {
		return []string{at + ": schema nesting deeper than 64"}
	}
	if schema == nil {
		return nil
	}
	s, err := d.deref(schema)
	if err != nil {
		return []string{at + ": " + err.Error()}
	}
	here := at
	if here == "" {
		here = "(top)"
	}
	for _, k := range []string{"allOf", "not", "if", "patternProperties", "unevaluatedProperties", "dependentSchemas", "prefixItems"} {
		if _, ok := s[k]; ok {
			return []string{here + ": unsupported keyword " + k + " (extend check)"}
		}
	}
	for _, k := range []string{"oneOf", "anyOf"} {
		alts, ok := s[k].([]any)
		if !ok {
			continue
		}
		var why []string
		for i, alt := range alts {
			errs := d.check(alt, v, at, depth+1)
			if len(errs) == 0 {
				return nil
			}
			why = append(why, fmt.Sprintf("[%d] %s", i, strings.Join(errs, ", ")))
		}
		return []string{fmt.Sprintf("%s: matches none of %s: %s", here, k, strings.Join(why, " | "))}
	}
	got := jsonType(v)
	if types := schemaTypes(s["type"]); len(types) > 0 && !slices.Contains(types, got) && !(got == "integer" && slices.Contains(types, "number")) {
		return []string{fmt.Sprintf("%s: JSON %s, want %s", here, got, strings.Join(types, " or "))}
	}
	var errs []string
	if c, ok := s["const"]; ok && !sameJSON(c, v) {
		errs = append(errs, fmt.Sprintf("%s: %s is not %s", here, mustJSON(v), mustJSON(c)))
	}
	if enum, ok := s["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return sameJSON(e, v) }) {
		errs = append(errs, fmt.Sprintf("%s: %s is not one of %s", here, mustJSON(v), mustJSON(enum)))
	}
	if p, ok := s["pattern"].(string); ok {
		if str, isStr := v.(string); isStr {
			re, err := regexp.Compile(p)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: pattern %q: %v", here, p, err))
			} else if !re.MatchString(str) {
				errs = append(errs, fmt.Sprintf("%s: %q does not match %s", here, str, p))
			}
		}
	}
	switch v := v.(type) {
	case map[string]any:
		req, _ := s["required"].([]any)
		for _, r := range req {
			if _, ok := v[r.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: required", join(at, r.(string))))
			}
		}
		props, hasProps := s["properties"].(map[string]any)
		addl, addlSchema := s["additionalProperties"].(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(v)) {
			switch ps, ok := props[k]; {
			case ok:
				errs = append(errs, d.check(ps, v[k], join(at, k), depth+1)...)
			case addlSchema:
				errs = append(errs, d.check(addl, v[k], join(at, k), depth+1)...)
			case hasProps || s["additionalProperties"] == false:
				errs = append(errs, fmt.Sprintf("%s: not documented", join(at, k)))
			}
		}
	case []any:
		if items, ok := s["items"]; ok {
			for i, e := range v {
				errs = append(errs, d.check(items, e, fmt.Sprintf("%s[%d]", at, i), depth+1)...)
			}
		}
	}
	return errs
}

func join(at, k string) string {
	if at == "" {
		return k
	}
	return at + "." + k
}

func jsonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		if strings.ContainsAny(string(v), ".eE") {
			return "number"
		}
		return "integer"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func schemaTypes(t any) []string {
	switch t := t.(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func sameJSON(a, b any) bool { return mustJSON(a) == mustJSON(b) }

// --- real payloads ---------------------------------------------------------

// seed004 is seed 004's backend body as written, with servers by IP
// (gantry cannot resolve OpenScaler's computer IDs).
const seed004 = `{"name": "api-backend", "mode": "http", "balancing_method": "roundrobin", "port": 8080,
	"servers": {"type": "ip", "addresses": ["10.0.0.23", "10.0.0.24"]},
	"options": {"tls": false, "tls_verify": false, "forward_for": true, "proxy_protocol": "v2",
		"sticky_session": {"type": "cookie", "cookie": "SERVERID", "ttl": "5m"},
		"health_check": {"type": "http", "path": "/health", "method": "GET", "port": 80, "expected_code": "200", "host_header": "example.com"}}}`

// payloadStep is one request of the payload test. Placeholders {name} in
// path and body are replaced by values saved by earlier steps.
type payloadStep struct {
	name         string
	method, path string
	auth         string // "" admin, "viewer", "none", or a saved secret ("{name}")
	ifMatch      string
	body         string
	status       int
	badBody      bool   // the body must not fit the documented request schema
	saveETag     string // save the response's revision under this name
	saveField    string // "name=field.path": save a string field (dots separate the path)
	check        func(t *testing.T, resp *http.Response, raw []byte, v any)
}

func field(v any, path ...string) any {
	for _, p := range path {
		switch c := v.(type) {
		case map[string]any:
			v = c[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

func wantField(want any, path ...string) func(t *testing.T, resp *http.Response, raw []byte, v any) {
	return func(t *testing.T, resp *http.Response, raw []byte, v any) {
		t.Helper()
		if got := field(v, path...); !sameJSON(got, want) {
			t.Errorf("%s is %s, want %s", strings.Join(path, "."), mustJSON(got), mustJSON(want))
		}
	}
}

func wantProblemField(want string) func(t *testing.T, resp *http.Response, raw []byte, v any) {
	return func(t *testing.T, resp *http.Response, raw []byte, v any) {
		t.Helper()
		errs, _ := field(v, "errors").([]any)
		for _, e := range errs {
			if f, _ := field(e, "field").(string); f == want {
				return
			}
		}
		t.Errorf("no errors[].field %q in %s", want, raw)
	}
}

// TestOpenAPIDescribesRealPayloads drives a real server over a real store
// through every operation of the document, and checks each request body
// against the documented request schema and each response (status,
// Content-Type, ETag, body) against the documented response.
func TestOpenAPIDescribesRealPayloads(t *testing.T) {
	d := loadDoc(t)
	ctx := context.Background()
	ctl, log := newControl(t)
	admin, adminTok, err := ctl.CreateToken(ctx, "admin", control.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	viewer, _, err := ctl.CreateToken(ctx, "viewer", control.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	// The data plane never applies anything here, so ?wait=applied shows
	// its 202 answer.
	notApplied := func(context.Context, uint64) error { return errors.New("port 80 is in use") }
	// A data plane that reports one server, so the stats schema meets a
	// real answer.
	stats := func(lb string) []gclient.ServerStats {
		return []gclient.ServerStats{{Backend: "api-backend", Server: "10.0.0.23:8080", ServerState: "running",
			ServerStateChangedAt: time.Unix(1_700_000_000, 0).UTC(), LastHealthCheckStatus: "passed", ActiveConnections: 1,
			TotalConnections: 3, TotalRequests: 10, Responses: map[string]uint64{"2xx": 9, "5xx": 1}, BytesIn: 5, BytesOut: 700}}
	}
	srv := httptest.NewServer(api.New(api.Options{Control: ctl, Log: log, WaitApplied: notApplied, Discovery: fakeDiscovery{} /* discovery_test.go */, Stats: stats, Sealer: testSealer(t)}))
	t.Cleanup(srv.Close)
	client := srv.Client()
	t.Cleanup(client.CloseIdleConnections)
	docBytes, err := os.ReadFile(docFile)
	if err != nil {
		t.Fatal(err)
	}

	frontend := `{"inbound_port": 80, "protocol": "http", "backend": "api-backend", "timeout_client": 30000,
		"routes": [{"match": {"host_header": "vpn.example.com"}, "backend": "vpn"},
		           {"match": {"host_header": "*.dev.example.com"}, "backend": "dev"},
		           {"match": {"path_begin": "/api"}, "backend": "api-backend"}]}`
	steps := []payloadStep{
		{name: "status", method: "GET", path: "/v1/status", status: 200, check: wantField([]any{}, "listeners")},
		{name: "openapi", method: "GET", path: "/v1/openapi.json", status: 200,
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				if !bytes.Equal(raw, docBytes) {
					t.Error("the served document differs from openapi.json")
				}
			}},
		{name: "no token", method: "GET", path: "/v1/openapi.json", auth: "none", status: 401,
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				if resp.Header.Get("WWW-Authenticate") == "" {
					t.Error("no WWW-Authenticate")
				}
			}},
		{name: "put lb", method: "PUT", path: "/v1/lbs/web", body: `{"description": "public web", "tags": ["prod"]}`, status: 200, saveETag: "lbrev",
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				if l := resp.Header.Get("Location"); l != "/v1/lbs/web" {
					t.Errorf("Location %q", l)
				}
			}},
		{name: "get lb", method: "GET", path: "/v1/lbs/web", status: 200, check: wantField("public web", "description")},
		{name: "patch lb", method: "PATCH", path: "/v1/lbs/web", body: `{"ips": ["127.0.0.1"]}`, status: 200, check: wantField([]any{"127.0.0.1"}, "ips")},
		// IPs: PATCHing ips above created the IP object of 127.0.0.1.
		{name: "list ips", method: "GET", path: "/v1/ips?order_by=name_asc", status: 200,
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				wantField(json.Number("1"), "total_count")(t, resp, raw, v)
				wantField("web", "ips", "0", "lb")(t, resp, raw, v)
			}},
		{name: "put ip", method: "PUT", path: "/v1/ips/127.0.0.1", body: `{"reverse": "web.example.com", "tags": ["prod"]}`, status: 200,
			check: wantField("web.example.com", "reverse")},
		{name: "put new ip", method: "PUT", path: "/v1/ips/::1", body: `{}`, status: 200,
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				if l := resp.Header.Get("Location"); l != "/v1/ips/::1" {
					t.Errorf("Location %q", l)
				}
			}},
		{name: "get ip", method: "GET", path: "/v1/ips/::1", status: 200, check: wantField(nil, "lb")},
		{name: "bad ip is 422", method: "PUT", path: "/v1/ips/nope", body: `{}`, status: 422, check: wantProblemField("ips[nope].address")},
		{name: "address differs", method: "PUT", path: "/v1/ips/::1", body: `{"address": "::2"}`, status: 400, check: wantProblemField("address")},
		{name: "delete bound ip is 422", method: "DELETE", path: "/v1/ips/127.0.0.1", status: 422, check: wantProblemField("lbs[web].ips[0]")},
		{name: "delete ip", method: "DELETE", path: "/v1/ips/::1", status: 204},
		{name: "deleted ip", method: "GET", path: "/v1/ips/::1", status: 404},
		{name: "stored, not applied", method: "PATCH", path: "/v1/lbs/web?wait=applied", body: `{"tags": ["prod", "edge"]}`, status: 202,
			check: wantField("port 80 is in use", "apply_error")},
		{name: "list lbs", method: "GET", path: "/v1/lbs?page=1&page_size=10&order_by=name_asc&name=we", status: 200, check: wantField(json.Number("1"), "total_count")},
		{name: "bad page_size", method: "GET", path: "/v1/lbs?page_size=0", status: 400, check: wantProblemField("page_size")},
		{name: "missing lb", method: "GET", path: "/v1/lbs/nope", status: 404},
		{name: "stale If-Match", method: "PUT", path: "/v1/lbs/web", ifMatch: `"1"`, body: `{"description": "late"}`, status: 412},
		{name: "viewer writes", method: "PUT", path: "/v1/lbs/web", auth: "viewer", body: `{"description": "nope"}`, status: 403},
		{name: "put backend seed 004", method: "PUT", path: "/v1/lbs/web/backends/api-backend", body: seed004, status: 200,
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				wantField(json.Number("8080"), "forward_port")(t, resp, raw, v)
				wantField("10.0.0.24", "servers", "1", "ip")(t, resp, raw, v)
				wantField("/health", "health_check", "http_config", "uri")(t, resp, raw, v)
				wantField("proxy_protocol_v2", "proxy_protocol")(t, resp, raw, v)
				wantField("SERVERID", "sticky_sessions_cookie_name")(t, resp, raw, v)
				wantField(json.Number("300000"), "sticky_sessions_ttl")(t, resp, raw, v)
			}},
		{name: "put backend scaleway", method: "PUT", path: "/v1/lbs/web/backends/vpn", status: 200,
			body: `{"forward_protocol": "http", "forward_port": 80, "forward_port_algorithm": "leastconn", "pool": ["10.0.0.5"], "health_check": {"check_delay": 2000, "tcp_config": {}}}`},
		{name: "put backend gantry", method: "PUT", path: "/v1/lbs/web/backends/dev", status: 200,
			body: `{"forward_protocol": "http", "servers": [{"ip": "10.0.0.8", "port": 8000, "weight": 2}]}`},
		{name: "unknown proxy_protocol option is 400", method: "PUT", path: "/v1/lbs/web/backends/api-backend", status: 400, badBody: true,
			body: strings.Replace(seed004, `"proxy_protocol": "v2"`, `"proxy_protocol": "v3"`, 1), check: wantProblemField("options.proxy_protocol")},
		{name: "bad sticky cookie name is 422", method: "PUT", path: "/v1/lbs/web/backends/api-backend", status: 422,
			body:  strings.Replace(seed004, `"SERVERID"`, `"SERVER;ID"`, 1),
			check: wantProblemField("lbs[web].backends[api-backend].sticky_sessions_cookie_name")},
		{name: "put backend with every traffic option", method: "PUT", path: "/v1/lbs/web/backends/traffic", status: 200,
			body: `{"forward_protocol": "http", "forward_port": 80, "forward_port_algorithm": "hdr", "hash_header": "X-User",
				"servers": [{"ip": "10.0.0.30"}, {"ip": "10.0.0.31", "backup": true}],
				"sticky_sessions": "cookie", "sticky_sessions_cookie_name": "S", "sticky_sessions_ttl": 60000,
				"sticky_sessions_cookie_secure": true, "sticky_sessions_cookie_httponly": false, "sticky_sessions_cookie_samesite": "none",
				"proxy_protocol": "proxy_protocol_v1", "failover_host": "api-backend", "max_connections": 10, "timeout_queue": 2000,
				"max_retries": 0, "redispatch_attempt_count": 0, "host": "internal.example.com:8080",
				"passive_health_check": {"consecutive_failures": 3, "backoff": 10000},
				"health_check": {"transient_check_delay": 500, "check_send_proxy": true, "tcp_config": {"send": "PING\r\n", "expect": "+PONG"}}}`,
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				wantField(true, "servers", "1", "backup")(t, resp, raw, v)
				wantField(json.Number("0"), "max_retries")(t, resp, raw, v)
				wantField("+PONG", "health_check", "tcp_config", "expect")(t, resp, raw, v)
				wantField(json.Number("3"), "passive_health_check", "consecutive_failures")(t, resp, raw, v)
			}},
		{name: "put backend with a redis check", method: "PUT", path: "/v1/lbs/web/backends/cache", status: 200,
			body:  `{"forward_protocol": "tcp", "forward_port": 6379, "pool": ["10.0.0.40"], "health_check": {"redis_config": {}}}`,
			check: wantField(map[string]any{}, "health_check", "redis_config")},
		{name: "unknown field is 400", method: "PUT", path: "/v1/lbs/web/backends/typo", body: `{"mode": "http", "bogus": 1}`, badBody: true, status: 400, check: wantProblemField("bogus")},
		{name: "two vocabularies disagree", method: "PUT", path: "/v1/lbs/web/backends/typo", body: `{"mode": "http", "forward_protocol": "tcp"}`, status: 400, check: wantProblemField("mode")},
		{name: "get backend", method: "GET", path: "/v1/lbs/web/backends/api-backend", status: 200, check: wantField("roundrobin", "forward_port_algorithm")},
		{name: "patch backend", method: "PATCH", path: "/v1/lbs/web/backends/api-backend", body: `{"forward_port_algorithm": "leastconn"}`, status: 200, check: wantField("leastconn", "forward_port_algorithm")},
		{name: "list backends", method: "GET", path: "/v1/lbs/web/backends?order_by=name_desc", status: 200, check: wantField(json.Number("5"), "total_count")},
		{name: "stats", method: "GET", path: "/v1/lbs/web/stats", status: 200, check: wantField("running", "backend_servers_stats", "0", "server_state")},
		{name: "stats of a missing lb", method: "GET", path: "/v1/lbs/nope/stats", status: 404},
		{name: "put frontend", method: "PUT", path: "/v1/lbs/web/frontends/main", body: frontend, status: 200, saveETag: "fullrev",
			check: wantField("*.dev.example.com", "routes", "1", "match", "host_header")},
		{name: "bad route is 422", method: "PUT", path: "/v1/lbs/web/frontends/bad", status: 422,
			body:  `{"inbound_port": 81, "backend": "dev", "routes": [{"match": {"host_header": "*."}, "backend": "dev"}]}`,
			check: wantProblemField("lbs[web].frontends[bad].routes[0].host_header")},
		{name: "get frontend", method: "GET", path: "/v1/lbs/web/frontends/main", status: 200, check: wantField("/api", "routes", "2", "match", "path_begin")},
		{name: "patch frontend", method: "PATCH", path: "/v1/lbs/web/frontends/main", body: `{"timeout_client": 10000}`, status: 200, check: wantField(json.Number("10000"), "timeout_client")},
		{name: "list frontends", method: "GET", path: "/v1/lbs/web/frontends", status: 200, check: wantField(json.Number("1"), "total_count")},
		// The routes of main as a sub-resource: three unnamed routes so far.
		{name: "put route", method: "PUT", path: "/v1/lbs/web/frontends/main/routes/beta", status: 200,
			body: `{"match": {"path_begin": "/beta"}, "backend": "dev", "priority": 1}`,
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				wantField(json.Number("3"), "index")(t, resp, raw, v)
				wantField("beta", "name")(t, resp, raw, v)
			}},
		{name: "put route first, flat", method: "PUT", path: "/v1/lbs/web/frontends/main/routes/alpha", status: 200,
			body: `{"name": "alpha", "host_header": "alpha.example.com", "backend": "vpn", "index": 0}`,
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				wantField(json.Number("0"), "index")(t, resp, raw, v)
				wantField("alpha.example.com", "match", "host_header")(t, resp, raw, v)
			}},
		{name: "list routes", method: "GET", path: "/v1/lbs/web/frontends/main/routes", status: 200,
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				wantField(json.Number("5"), "total_count")(t, resp, raw, v)
				wantField("alpha", "routes", "0", "name")(t, resp, raw, v)
				wantField("vpn.example.com", "routes", "1", "match", "host_header")(t, resp, raw, v)
				wantField(json.Number("4"), "routes", "4", "index")(t, resp, raw, v)
			}},
		{name: "get route", method: "GET", path: "/v1/lbs/web/frontends/main/routes/beta", status: 200, check: wantField(json.Number("4"), "index")},
		{name: "missing route", method: "GET", path: "/v1/lbs/web/frontends/main/routes/nope", status: 404},
		{name: "route of a missing frontend", method: "PUT", path: "/v1/lbs/web/frontends/nope/routes/a", body: `{"backend": "dev"}`, status: 404},
		{name: "route name differs", method: "PUT", path: "/v1/lbs/web/frontends/main/routes/a", body: `{"name": "b", "backend": "dev"}`, status: 400,
			check: wantProblemField("name")},
		{name: "negative index", method: "PUT", path: "/v1/lbs/web/frontends/main/routes/a", body: `{"backend": "dev", "index": -1}`, status: 400,
			check: wantProblemField("index")},
		{name: "route with a bad host is 422", method: "PUT", path: "/v1/lbs/web/frontends/main/routes/bad", status: 422,
			body:  `{"match": {"host_header": "*."}, "backend": "dev"}`,
			check: wantProblemField("lbs[web].frontends[main].routes[5].host_header")},
		{name: "delete route dry run", method: "DELETE", path: "/v1/lbs/web/frontends/main/routes/alpha?dry_run=true", status: 200, check: wantField(true, "dry_run")},
		{name: "delete route", method: "DELETE", path: "/v1/lbs/web/frontends/main/routes/alpha", status: 204},
		{name: "deleted route", method: "GET", path: "/v1/lbs/web/frontends/main/routes/alpha", status: 404},
		// Discovery (a fake one, discovery_test.go): Docker selectors,
		// port rules, read-only objects and the /v1/discovery reads.
		{name: "put backend docker selector", method: "PUT", path: "/v1/lbs/web/backends/sel", status: 200,
			body: `{"mode": "http", "servers": {"type": "docker", "selector": {"labels": {"app": "vpn"}}, "port": 80}}`,
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				wantField(json.Number("80"), "docker", "port")(t, resp, raw, v)
				wantField("vpn-1", "resolved_servers", "0", "container")(t, resp, raw, v)
			}},
		{name: "put backend docker service", method: "PUT", path: "/v1/lbs/web/backends/svc", status: 200,
			body: `{"forward_protocol": "http", "forward_port": 81, "docker": {"project": "prod", "service": "vpn"}}`, check: wantField([]any{}, "resolved_servers")},
		{name: "docker selector of everything is 422", method: "PUT", path: "/v1/lbs/web/backends/all", status: 422,
			body: `{"mode": "http", "servers": {"type": "docker", "port": 80}}`, check: wantProblemField("lbs[web].backends[all].docker")},
		{name: "get backend docker", method: "GET", path: "/v1/lbs/web/backends/sel", status: 200, check: wantField("running", "resolved_servers", "0", "state")},
		{name: "put route as a port rule", method: "PUT", path: "/v1/lbs/web/frontends/main/routes/ruled", status: 200,
			body: `{"rule": "rule.example.com:80/x=80", "backend": "vpn"}`, check: wantField("/x", "match", "path_begin")},
		{name: "port rule to a port the backend does not serve is 422", method: "PUT", path: "/v1/lbs/web/frontends/main/routes/ruled", status: 422,
			body: `{"rule": "rule.example.com=8080", "backend": "vpn"}`, check: wantProblemField("rule")},
		{name: "port rule and a host is 400", method: "PUT", path: "/v1/lbs/web/frontends/main/routes/ruled", status: 400,
			body: `{"rule": "rule.example.com=80", "host_header": "a.example.com", "backend": "vpn"}`, check: wantProblemField("rule")},
		{name: "delete port rule route", method: "DELETE", path: "/v1/lbs/web/frontends/main/routes/ruled", status: 204},
		{name: "delete backend svc", method: "DELETE", path: "/v1/lbs/web/backends/svc", status: 204},
		{name: "delete backend sel", method: "DELETE", path: "/v1/lbs/web/backends/sel", status: 204},
		{name: "write to the entry point is 409", method: "PUT", path: "/v1/lbs/docker", body: `{}`, status: 409},
		{name: "write to a discovered route is 409", method: "PUT", path: "/v1/lbs/web/frontends/main/routes/docker-vpn.example.com-1a2b3c", body: `{"backend": "vpn"}`, status: 409},
		{name: "discovery status", method: "GET", path: "/v1/discovery", status: 200, check: wantField(json.Number("7"), "generation")},
		{name: "discovered containers", method: "GET", path: "/v1/discovery/containers", status: 200, check: wantField("routed", "containers", "0", "code")},
		{name: "explain a container", method: "GET", path: "/v1/discovery/containers/vpn-1", status: 200, check: wantField(true, "port_checks", "0", "listening")},
		{name: "explain a missing container", method: "GET", path: "/v1/discovery/containers/nope", status: 404},
		{name: "discovered routes", method: "GET", path: "/v1/discovery/routes?lb=docker&frontend=http", status: 200, check: wantField("docker", "routes", "0", "source")},
		{name: "discovered backends", method: "GET", path: "/v1/discovery/backends", status: 200, check: wantField("172.17.0.2:80", "backends", "0", "servers", "0", "address")},
		// The ACLs of main as a sub-resource: the two examples of issue 5.
		{name: "put acl moved", method: "PUT", path: "/v1/lbs/web/frontends/main/acls/moved", status: 200,
			body: `{"index": 1, "match": {"http_filter": "path_begin", "http_filter_value": ["/old"]},
				"action": {"type": "redirect", "redirect": {"type": "location", "target": "https://example.com/new", "code": 301}}}`,
			check: wantField(json.Number("301"), "action", "redirect", "code")},
		{name: "put acl no-admin", method: "PUT", path: "/v1/lbs/web/frontends/main/acls/no-admin", status: 200,
			body: `{"index": 0, "match": {"http_filter": "path_begin", "http_filter_value": ["/admin"], "ip_subnet": ["0.0.0.0/0"]}, "action": {"type": "deny"}}`,
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				wantField("no-admin", "name")(t, resp, raw, v)
				wantField("deny", "action", "type")(t, resp, raw, v)
			}},
		{name: "list acls", method: "GET", path: "/v1/lbs/web/frontends/main/acls", status: 200,
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				wantField(json.Number("2"), "total_count")(t, resp, raw, v)
				wantField("no-admin", "acls", "0", "name")(t, resp, raw, v)
				wantField("moved", "acls", "1", "name")(t, resp, raw, v)
			}},
		{name: "list acls paged", method: "GET", path: "/v1/lbs/web/frontends/main/acls?page=2&page_size=1", status: 200,
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				wantField(json.Number("2"), "total_count")(t, resp, raw, v)
				wantField("moved", "acls", "0", "name")(t, resp, raw, v)
			}},
		{name: "acls are not ordered by choice", method: "GET", path: "/v1/lbs/web/frontends/main/acls?order_by=name_asc", status: 400, check: wantProblemField("order_by")},
		{name: "get acl", method: "GET", path: "/v1/lbs/web/frontends/main/acls/moved", status: 200, check: wantField("https://example.com/new", "action", "redirect", "target")},
		{name: "patch acl", method: "PATCH", path: "/v1/lbs/web/frontends/main/acls/no-admin", body: `{"index": 5, "match": {"ip_subnet": []}}`, status: 200,
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				wantField(json.Number("5"), "index")(t, resp, raw, v)
				wantField(nil, "match", "ip_subnet")(t, resp, raw, v)
				wantField([]any{"/admin"}, "match", "http_filter_value")(t, resp, raw, v)
			}},
		{name: "acl with a bad CIDR is 422", method: "PUT", path: "/v1/lbs/web/frontends/main/acls/bad", status: 422,
			body:  `{"index": 2, "match": {"ip_subnet": ["10.0.0.0/33"]}, "action": {"type": "deny"}}`,
			check: wantProblemField("lbs[web].frontends[main].acls[bad].match.ip_subnet[0]")},
		{name: "acl with an unknown field is 400", method: "PUT", path: "/v1/lbs/web/frontends/main/acls/bad", status: 400, badBody: true,
			body: `{"index": 2, "match": {"path": "/x"}, "action": {"type": "deny"}}`, check: wantProblemField("path")},
		{name: "acl name differs", method: "PUT", path: "/v1/lbs/web/frontends/main/acls/a", body: `{"name": "b", "action": {"type": "deny"}}`, status: 400,
			check: wantProblemField("name")},
		{name: "patch a missing acl", method: "PATCH", path: "/v1/lbs/web/frontends/main/acls/nope", body: `{"index": 1}`, status: 404},
		{name: "acl of a missing frontend", method: "PUT", path: "/v1/lbs/web/frontends/nope/acls/a", body: `{"action": {"type": "deny"}}`, status: 404},
		{name: "delete acl dry run", method: "DELETE", path: "/v1/lbs/web/frontends/main/acls/moved?dry_run=true", status: 200, check: wantField(true, "dry_run")},
		{name: "delete acl", method: "DELETE", path: "/v1/lbs/web/frontends/main/acls/moved", status: 204},
		{name: "deleted acl", method: "GET", path: "/v1/lbs/web/frontends/main/acls/moved", status: 404},
		// The health check of a backend, alone.
		{name: "get health check", method: "GET", path: "/v1/lbs/web/backends/api-backend/healthcheck", status: 200,
			check: wantField("/health", "http_config", "uri")},
		{name: "put health check scaleway", method: "PUT", path: "/v1/lbs/web/backends/vpn/healthcheck", status: 200,
			body: `{"check_delay": 3000, "http_config": {"uri": "/ping", "code": 204}}`,
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				wantField(json.Number("3000"), "check_delay")(t, resp, raw, v)
				wantField(json.Number("204"), "http_config", "code")(t, resp, raw, v)
			}},
		{name: "put health check seed 004", method: "PUT", path: "/v1/lbs/web/backends/dev/healthcheck", status: 200,
			body: `{"type": "http", "path": "/h", "method": "HEAD", "expected_code": "200"}`, check: wantField("HEAD", "http_config", "method")},
		{name: "put health check seed 004 https", method: "PUT", path: "/v1/lbs/web/backends/dev/healthcheck", status: 200,
			body: `{"type": "https", "path": "/h", "sni": "api.example.com"}`, check: wantField("api.example.com", "https_config", "sni")},
		{name: "put health check seed 004 pgsql", method: "PUT", path: "/v1/lbs/web/backends/dev/healthcheck", status: 200,
			body: `{"type": "pgsql", "user": "check"}`, check: wantField("check", "pgsql_config", "user")},
		{name: "seed 004 check field of another type", method: "PUT", path: "/v1/lbs/web/backends/dev/healthcheck", status: 400,
			body: `{"type": "tcp", "user": "check"}`, check: wantProblemField("user")},
		{name: "health check of a missing backend", method: "PUT", path: "/v1/lbs/web/backends/nope/healthcheck", body: `{"type": "tcp"}`, status: 404},
		{name: "health check with a bad code", method: "PUT", path: "/v1/lbs/web/backends/dev/healthcheck", status: 422,
			body: `{"http_config": {"code": 42}}`, check: wantProblemField("lbs[web].backends[dev].health_check.http_config.code")},
		{name: "health check of unknown type", method: "PUT", path: "/v1/lbs/web/backends/dev/healthcheck", body: `{"type": "icmp"}`, badBody: true, status: 400,
			check: wantProblemField("type")},
		{name: "delete health check", method: "DELETE", path: "/v1/lbs/web/backends/dev/healthcheck", status: 204},
		{name: "deleted health check", method: "GET", path: "/v1/lbs/web/backends/dev/healthcheck", status: 404},
		{name: "dry run", method: "PUT", path: "/v1/lbs/web/backends/vpn?dry_run=true", body: `{"forward_protocol": "http", "forward_port": 81, "pool": ["10.0.0.5"]}`, status: 200,
			check: wantField(true, "dry_run")},
		{name: "history", method: "GET", path: "/v1/history?limit=5", status: 200, check: wantField("token:admin", "revisions", "0", "author")},
		{name: "old revision", method: "GET", path: "/v1/lbs/web?revision={lbrev}", status: 200, check: wantField([]any{}, "ips")},
		{name: "get config", method: "GET", path: "/v1/config", status: 200, saveField: "config="},
		{name: "get config yaml", method: "GET", path: "/v1/config?format=yaml", status: 200},
		{name: "put config", method: "PUT", path: "/v1/config", body: "{config}", status: 200, saveETag: "head"},
		{name: "begin", method: "POST", path: "/v1/transactions?version={head}", status: 201, saveField: "txn=id"},
		{name: "get transaction", method: "GET", path: "/v1/transactions/{txn}", status: 200, check: wantField(json.Number("0"), "changes")},
		{name: "stage", method: "PUT", path: "/v1/lbs/web/backends/staged?transaction_id={txn}", body: `{"forward_protocol": "tcp", "pool": ["10.0.0.9"], "forward_port": 5432}`, status: 200,
			check: wantField(true, "staged")},
		{name: "commit", method: "PUT", path: "/v1/transactions/{txn}?message=staged", status: 200, check: wantField("created", "changes", "0", "kind")},
		{name: "begin to abort", method: "POST", path: "/v1/transactions", status: 201, saveField: "txn2=id"},
		{name: "abort", method: "DELETE", path: "/v1/transactions/{txn2}", status: 204},
		{name: "begin to conflict", method: "POST", path: "/v1/transactions", status: 201, saveField: "txn3=id"},
		{name: "stage again", method: "PUT", path: "/v1/lbs/web/backends/late?transaction_id={txn3}", body: `{"forward_protocol": "tcp", "pool": ["10.0.0.10"], "forward_port": 5432}`, status: 200},
		{name: "move the head", method: "PATCH", path: "/v1/lbs/web", body: `{"description": "moved"}`, status: 200},
		{name: "commit conflicts", method: "PUT", path: "/v1/transactions/{txn3}", status: 409},
		{name: "delete frontend", method: "DELETE", path: "/v1/lbs/web/frontends/main", status: 204},
		{name: "delete backend", method: "DELETE", path: "/v1/lbs/web/backends/dev", status: 204},
		{name: "delete lb dry run", method: "DELETE", path: "/v1/lbs/web?dry_run=true", status: 200, check: wantField(true, "dry_run")},
		{name: "delete lb", method: "DELETE", path: "/v1/lbs/web", status: 204},
		{name: "ip kept", method: "GET", path: "/v1/ips/127.0.0.1", status: 200, check: wantField(nil, "lb")},
		{name: "rollback", method: "POST", path: "/v1/rollback", body: `{"revision": {fullrev}}`, status: 200},
		{name: "rolled back", method: "GET", path: "/v1/lbs/web/frontends/main", status: 200, check: wantField("vpn", "routes", "0", "backend")},
		{name: "delete lb releasing its ip", method: "DELETE", path: "/v1/lbs/web?release_ip=true", status: 204},
		{name: "released ip", method: "GET", path: "/v1/ips/127.0.0.1", status: 404},
		{name: "bad release_ip", method: "DELETE", path: "/v1/lbs/web?release_ip=maybe", status: 400, check: wantProblemField("release_ip")},
		// Tokens: admin tokens only; the secret is answered once.
		{name: "list tokens", method: "GET", path: "/v1/tokens", status: 200,
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				wantField(json.Number("2"), "total_count")(t, resp, raw, v)
				wantField("admin", "tokens", "0", "name")(t, resp, raw, v)
				if bytes.Contains(raw, []byte("secret")) || bytes.Contains(raw, []byte(admin)) {
					t.Errorf("a list shows a secret: %s", raw)
				}
			}},
		{name: "create token", method: "POST", path: "/v1/tokens", body: `{"name": "ci", "role": "editor"}`, status: 201, saveField: "ci=secret",
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				wantField("editor", "role")(t, resp, raw, v)
				if s, _ := field(v, "secret").(string); !strings.HasPrefix(s, "gty_") {
					t.Errorf("secret %q", s)
				}
			}},
		{name: "list the new token", method: "GET", path: "/v1/tokens", status: 200, saveField: "ciid=tokens.2.id", check: wantField("ci", "tokens", "2", "name")},
		{name: "bad token name", method: "POST", path: "/v1/tokens", body: `{"name": "a b", "role": "editor"}`, badBody: true, status: 422, check: wantProblemField("name")},
		{name: "taken token name", method: "POST", path: "/v1/tokens", body: `{"name": "ci", "role": "viewer"}`, status: 422, check: wantProblemField("name")},
		{name: "unknown role", method: "POST", path: "/v1/tokens", body: `{"name": "ops", "role": "root"}`, badBody: true, status: 422, check: wantProblemField("role")},
		{name: "the new token works", method: "GET", path: "/v1/status", auth: "{ci}", status: 200},
		{name: "editor lists tokens", method: "GET", path: "/v1/tokens", auth: "{ci}", status: 403},
		{name: "editor creates a token", method: "POST", path: "/v1/tokens", auth: "{ci}", body: `{"name": "root", "role": "admin"}`, status: 403},
		{name: "viewer lists tokens", method: "GET", path: "/v1/tokens", auth: "viewer", status: 403},
		{name: "viewer revokes a token", method: "DELETE", path: "/v1/tokens/{ciid}", auth: "viewer", status: 403},
		{name: "revoke token", method: "DELETE", path: "/v1/tokens/{ciid}", status: 204},
		{name: "a revoked token is refused", method: "GET", path: "/v1/tokens", auth: "{ci}", status: 401},
		{name: "revoke an unknown token", method: "DELETE", path: "/v1/tokens/{ciid}", status: 404},
		{name: "revoke the last admin", method: "DELETE", path: "/v1/tokens/{adminid}", status: 409,
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				if d, _ := field(v, "detail").(string); !strings.Contains(d, "only admin token") {
					t.Errorf("detail %q does not say why", d)
				}
			}},
		// Projects: a project token sees only its project's LBs.
		{name: "create a project token", method: "POST", path: "/v1/tokens", body: `{"name": "blue", "role": "admin", "project": "blue"}`, status: 201, saveField: "blue=secret",
			check: wantField("blue", "project")},
		{name: "discovery is for tokens bound to no project", method: "GET", path: "/v1/discovery/containers", auth: "{blue}", status: 403},
		{name: "bad project", method: "POST", path: "/v1/tokens", body: `{"name": "x", "role": "viewer", "project": "no way"}`, badBody: true, status: 422, check: wantProblemField("project")},
		{name: "lb of another project", method: "PUT", path: "/v1/lbs/green-web", body: `{"project": "green"}`, status: 200, check: wantField("green", "project")},
		{name: "project token creates an lb", method: "PUT", path: "/v1/lbs/blue-web", auth: "{blue}", body: `{"description": "blue"}`, status: 200, check: wantField("blue", "project")},
		{name: "project token names another project", method: "PUT", path: "/v1/lbs/blue-api", auth: "{blue}", body: `{"project": "green"}`, status: 400, check: wantProblemField("project")},
		{name: "project token lists its lbs", method: "GET", path: "/v1/lbs", auth: "{blue}", status: 200,
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				wantField(json.Number("1"), "total_count")(t, resp, raw, v)
				wantField("blue-web", "lbs", "0", "name")(t, resp, raw, v)
			}},
		{name: "unscoped admin lists both", method: "GET", path: "/v1/lbs", status: 200, check: wantField(json.Number("2"), "total_count")},
		{name: "another project's lb is 404", method: "GET", path: "/v1/lbs/green-web", auth: "{blue}", status: 404,
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				if d, _ := field(v, "detail").(string); d != `load balancer "green-web": control: not found` {
					t.Errorf("detail %q differs from a missing LB's", d)
				}
			}},
		{name: "under another project's lb is 404", method: "PUT", path: "/v1/lbs/green-web/backends/b", auth: "{blue}",
			body: `{"forward_protocol": "http", "servers": [{"ip": "10.0.0.1", "port": 80}]}`, status: 404},
		{name: "project token reads the config", method: "GET", path: "/v1/config", auth: "{blue}", status: 403,
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				if d, _ := field(v, "detail").(string); !strings.Contains(d, `bound to project "blue"`) {
					t.Errorf("detail %q does not say why", d)
				}
			}},
		{name: "project admin lists tokens", method: "GET", path: "/v1/tokens", auth: "{blue}", status: 403},
	}

	steps = withCertificateSteps(t, steps)
	vars := map[string]string{"adminid": adminTok.ID}
	exercised := map[string]bool{}
	for _, step := range steps {
		ok := t.Run(step.name, func(t *testing.T) {
			var repl []string
			for k, v := range vars {
				repl = append(repl, "{"+k+"}", v)
			}
			r := strings.NewReplacer(repl...)
			path, body := r.Replace(step.path), r.Replace(step.body)
			op, found := d.match(t, step.method, path)
			if !found {
				t.Fatalf("%s %s matches no operation of the document", step.method, path)
			}
			id, _ := op.op["operationId"].(string)
			exercised[id] = true

			reqType := "application/json"
			if step.method == "PATCH" {
				reqType = "application/merge-patch+json"
			}
			if body != "" {
				d.checkRequest(t, op, reqType, body, step.badBody)
			}
			var rd io.Reader
			if body != "" {
				rd = strings.NewReader(body)
			}
			req, err := http.NewRequestWithContext(ctx, step.method, srv.URL+path, rd)
			if err != nil {
				t.Fatal(err)
			}
			if body != "" {
				req.Header.Set("Content-Type", reqType)
			}
			switch step.auth {
			case "":
				req.Header.Set("Authorization", "Bearer "+admin)
			case "viewer":
				req.Header.Set("X-Auth-Token", viewer) // Scaleway's header
			case "none":
			default: // a saved secret, "{name}"
				req.Header.Set("Authorization", "Bearer "+r.Replace(step.auth))
			}
			if step.ifMatch != "" {
				req.Header.Set("If-Match", step.ifMatch)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != step.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, step.status, raw)
			}
			v := d.checkResponse(t, op, resp, raw)
			if step.check != nil {
				step.check(t, resp, raw, v)
			}
			if step.saveETag != "" {
				vars[step.saveETag] = strings.Trim(resp.Header.Get("ETag"), `"`)
			}
			if step.saveField != "" {
				name, f, _ := strings.Cut(step.saveField, "=")
				if f == "" {
					vars[name] = string(raw)
				} else if s, ok := field(v, strings.Split(f, ".")...).(string); ok {
					vars[name] = s
				} else {
					t.Fatalf("no string field %q to save", f)
				}
			}
		})
		if !ok && (step.saveETag != "" || step.saveField != "") {
			t.Fatalf("step %q failed; later steps need what it saves", step.name)
		}
	}
	for _, op := range d.operations(t) {
		if id, _ := op.op["operationId"].(string); !exercised[id] {
			t.Errorf("%s %s (%s) is not exercised by this test: add a step", op.method, op.path, id)
		}
	}
}

// match finds the operation for a concrete request path, preferring the
// template with the most literal segments.
func (d *openAPI) match(t *testing.T, method, rawPath string) (operation, bool) {
	t.Helper()
	p, _, _ := strings.Cut(rawPath, "?")
	segs := strings.Split(p, "/")
	best, bestLit := operation{}, -1
	for _, op := range d.operations(t) {
		if op.method != method {
			continue
		}
		tsegs := strings.Split(op.path, "/")
		if len(tsegs) != len(segs) {
			continue
		}
		lit := 0
		for i, ts := range tsegs {
			switch {
			case strings.HasPrefix(ts, "{") && strings.HasSuffix(ts, "}") && segs[i] != "":
			case ts == segs[i]:
				lit++
			default:
				lit = -1
			}
			if lit < 0 {
				break
			}
		}
		if lit > bestLit {
			best, bestLit = op, lit
		}
	}
	return best, bestLit >= 0
}

func (d *openAPI) checkRequest(t *testing.T, op operation, mediaType, body string, wantBad bool) {
	t.Helper()
	rb, err := d.deref(op.op["requestBody"])
	if err != nil {
		t.Fatalf("a body is sent, but the operation documents none: %v", err)
	}
	media, ok := field(rb, "content", mediaType).(map[string]any)
	if !ok {
		t.Fatalf("the request body is not documented as %s", mediaType)
	}
	v, err := decodeJSON([]byte(body))
	if err != nil {
		t.Fatalf("test body: %v", err)
	}
	errs := d.check(media["schema"], v, "", 0)
	switch {
	case wantBad && len(errs) == 0:
		t.Error("the server rejects this body, but the documented request schema accepts it")
	case !wantBad:
		for _, e := range errs {
			t.Errorf("request body: %s", e)
		}
	}
}

// checkResponse checks a response against the operation's documented
// response for its status and returns the decoded JSON body (nil if none).
func (d *openAPI) checkResponse(t *testing.T, op operation, resp *http.Response, raw []byte) any {
	t.Helper()
	r, ok := field(op.op, "responses", strconv.Itoa(resp.StatusCode)).(map[string]any)
	if !ok {
		t.Errorf("status %d is not documented for %s %s", resp.StatusCode, op.method, op.path)
		return nil
	}
	doc, err := d.deref(r)
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := field(doc, "headers", "ETag").(map[string]any); ok {
		hm, err := d.deref(h)
		if err != nil {
			t.Fatal(err)
		}
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Error("documented ETag header is missing")
		}
		for _, e := range d.check(hm["schema"], etag, "ETag", 0) {
			t.Error(e)
		}
	}
	content, hasContent := doc["content"].(map[string]any)
	if len(raw) == 0 {
		if hasContent {
			t.Error("the response has no body, but one is documented")
		}
		return nil
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type: %v", err)
	}
	media, ok := content[mt].(map[string]any)
	if !ok {
		t.Fatalf("Content-Type %s is not documented for status %d (documented: %v)", mt, resp.StatusCode, slices.Sorted(maps.Keys(content)))
	}
	if mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return nil
	}
	v, err := decodeJSON(raw)
	if err != nil {
		t.Fatalf("%s body is not JSON: %v", mt, err)
	}
	for _, e := range d.check(media["schema"], v, "", 0) {
		t.Errorf("response %d: %s", resp.StatusCode, e)
	}
	return v
}
