package file

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/gantry-lb/gantry/internal/config"
)

// Parse reads the content of a discovery file: a config in the model's
// shape (config.Parse: YAML or JSON, unknown fields refused) that holds no
// certificates and validates on its own. Its errors name the field at
// fault: config.Errors from validation, or a *config.FieldError for a
// field that is unknown or of the wrong type (lbs[web].frontends[main].
// inbound_prt: unknown field).
func Parse(data []byte) (*config.Config, error) {
	js, err := yaml.YAMLToJSON(data)
	if err == nil && bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return nil, ErrEmpty
	}
	cfg, err := config.Parse(data)
	if err != nil {
		if fe := locate(js); fe != nil {
			return nil, fe
		}
		return nil, err
	}
	if len(cfg.Certificates) > 0 {
		return nil, &config.FieldError{Path: "certificates", Msg: "not supported in a discovery file: add certificates through the API (gantry cert), which keeps their keys sealed"}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// locate finds the first field of js, a config as JSON, that is unknown or
// of the wrong type, and says which and why; nil when it finds none.
func locate(js []byte) *config.FieldError {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil
	}
	return walk(v, reflect.TypeFor[config.Config](), "")
}

// walk checks v, decoded JSON, against type t at path. Paths read like
// the validator's: lbs[web].frontends[main].routes[2].host_header.
func walk(v any, t reflect.Type, path string) *config.FieldError {
	if v == nil {
		return nil // null decodes to the zero value of anything
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[config.RouteList]() {
		t = reflect.TypeFor[[]config.Route]() // it is one in JSON
	}
	bad := func(want string) *config.FieldError {
		return &config.FieldError{Path: orTop(path), Msg: fmt.Sprintf("want %s, got %s", want, describe(v))}
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return bad("an object")
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			var ft reflect.Type
			name := k
			if t.Kind() == reflect.Map {
				ft = t.Elem()
			} else {
				f, ok := fieldOf(t, k)
				if !ok {
					return &config.FieldError{Path: join(path, k), Msg: "unknown field"}
				}
				ft, name = f.Type, jsonName(f)
			}
			if fe := walk(m[k], ft, join(path, name)); fe != nil {
				return fe
			}
		}
	case reflect.Slice:
		a, ok := v.([]any)
		if !ok {
			return bad("a list")
		}
		for i, e := range a {
			if fe := walk(e, t.Elem(), path+"["+elemKey(e, i)+"]"); fe != nil {
				return fe
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			return bad("a string")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return bad("true or false")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n, ok := v.(json.Number); !ok || !fitsInt(string(n), t.Bits()) {
			return bad("an integer")
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n, ok := v.(json.Number); !ok || !fitsUint(string(n), t.Bits()) {
			return bad("a positive integer")
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			return bad("a number")
		}
	}
	return nil
}

func fitsInt(s string, bits int) bool {
	_, err := strconv.ParseInt(s, 10, bits)
	return err == nil
}

func fitsUint(s string, bits int) bool {
	_, err := strconv.ParseUint(s, 10, bits)
	return err == nil
}

// fieldOf finds the field of struct t that encoding/json decodes key
// into: the exact name of its tag, else one that matches but for case.
func fieldOf(t reflect.Type, key string) (reflect.StructField, bool) {
	var fold *reflect.StructField
	for i := range t.NumField() {
		f := t.Field(i)
		name := jsonName(f)
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == key {
			return f, true
		}
		if fold == nil && strings.EqualFold(name, key) {
			fold = &f
		}
	}
	if fold != nil {
		return *fold, true
	}
	return reflect.StructField{}, false
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

// elemKey names an element of a list as the validator does: by its name
// (or address, for IPs), else by its index.
func elemKey(e any, i int) string {
	if m, ok := e.(map[string]any); ok {
		for _, k := range []string{"name", "address"} {
			if s, ok := m[k].(string); ok && s != "" {
				return s
			}
		}
	}
	return strconv.Itoa(i)
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func orTop(path string) string {
	if path == "" {
		return "(the document)"
	}
	return path
}

// describe says what a decoded JSON value is, for an error.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case json.Number:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%v", v)
}
