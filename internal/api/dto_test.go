package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/control"
)

func TestBackendBodies(t *testing.T) {
	tests := []struct {
		name, body string
		check      func(t *testing.T, b config.Backend)
		wantErr    string // field of the badRequest
	}{
		{name: "seed 004 as written", body: `{"name": "api-backend", "mode": "http", "balancing_method": "roundrobin", "port": 8080,
			"servers": {"type": "ip", "addresses": ["10.0.0.23", "10.0.0.24"]},
			"options": {"tls": false, "tls_verify": false, "forward_for": true, "proxy_protocol": "v2",
				"sticky_session": {"type": "cookie", "cookie": "SERVERID", "ttl": "5m"},
				"health_check": {"type": "http", "path": "/health", "method": "GET", "port": 80, "expected_code": "200", "host_header": "example.com"}}}`,
			check: func(t *testing.T, b config.Backend) {
				hc := b.HealthCheck
				if b.ForwardProtocol != "http" || b.ForwardPortAlgorithm != "roundrobin" || b.ForwardPort != 8080 ||
					len(b.Servers) != 2 || b.Servers[1].IP != "10.0.0.24" || b.ProxyProtocol != config.ProxyV2 || b.SendProxyV2 ||
					b.StickySessions != "cookie" || b.StickySessionsCookieName != "SERVERID" || b.StickySessionsTTL != 300_000 ||
					hc == nil || hc.Port != 80 || hc.HTTPConfig.URI != "/health" || *hc.HTTPConfig.Code != 200 || hc.HTTPConfig.HostHeader != "example.com" {
					t.Fatalf("mapped to %+v", b)
				}
			}},
		{name: "port as a string", body: `{"mode": "tcp", "port": "5432"}`,
			check: func(t *testing.T, b config.Backend) {
				if b.ForwardPort != 5432 || b.ForwardProtocol != "tcp" {
					t.Fatalf("%+v", b)
				}
			}},
		{name: "scaleway names", body: `{"forward_protocol": "http", "forward_port": 81, "forward_port_algorithm": "first", "pool": ["10.0.0.1"], "server_ip": ["10.0.0.2"], "timeout_server": 500}`,
			check: func(t *testing.T, b config.Backend) {
				if b.ForwardPort != 81 || b.ForwardPortAlgorithm != "first" || len(b.Servers) != 2 || b.TimeoutServer != 500 {
					t.Fatalf("%+v", b)
				}
			}},
		{name: "native servers list", body: `{"forward_protocol": "http", "servers": [{"ip": "10.0.0.1", "port": 9000, "weight": 3}]}`,
			check: func(t *testing.T, b config.Backend) {
				if len(b.Servers) != 1 || b.Servers[0].Port != 9000 || *b.Servers[0].Weight != 3 {
					t.Fatalf("%+v", b)
				}
			}},
		{name: "same value both ways is fine", body: `{"mode": "http", "forward_protocol": "http"}`,
			check: func(t *testing.T, b config.Backend) {}},
		{name: "mode vs forward_protocol", body: `{"mode": "http", "forward_protocol": "tcp"}`, wantErr: "mode"},
		{name: "port vs forward_port", body: `{"port": 80, "forward_port": 81}`, wantErr: "port"},
		{name: "port not a number", body: `{"port": "eighty"}`, wantErr: "port"},
		{name: "computer servers", body: `{"servers": {"type": "computer", "computer_ids": ["23"]}}`, wantErr: "servers.type"},
		{name: "unknown server field", body: `{"servers": [{"ip": "10.0.0.1", "prot": 1}]}`, wantErr: "servers"},
		{name: "tls_verify without tls", body: `{"options": {"tls_verify": true}}`, wantErr: "options.tls_verify"},
		{name: "tls to backends", body: `{"options": {"tls": true, "tls_verify": true}}`,
			check: func(t *testing.T, b config.Backend) {
				if !b.SSLBridging || b.IgnoreSSLServerVerify {
					t.Fatalf("%+v", b)
				}
			}},
		{name: "forward_for false", body: `{"options": {"forward_for": false}}`, wantErr: "options.forward_for"},
		{name: "proxy v3", body: `{"options": {"proxy_protocol": "v3"}}`, wantErr: "options.proxy_protocol"},
		{name: "proxy protocol options, short and long", body: `{"options": {"proxy_protocol": "v2_ssl_cn"}, "proxy_protocol": "proxy_protocol_v2_ssl_cn"}`,
			check: func(t *testing.T, b config.Backend) {
				if b.ProxyProtocol != config.ProxyV2SSLCN {
					t.Fatalf("%+v", b)
				}
			}},
		{name: "proxy protocol option disagrees", body: `{"options": {"proxy_protocol": "v1"}, "proxy_protocol": "proxy_protocol_v2"}`, wantErr: "options.proxy_protocol"},
		{name: "sticky ttl in milliseconds", body: `{"options": {"sticky_session": {"type": "table", "ttl": 1500}}}`,
			check: func(t *testing.T, b config.Backend) {
				if b.StickySessions != "table" || b.StickySessionsTTL != 1500 {
					t.Fatalf("%+v", b)
				}
			}},
		{name: "sticky ttl as a string of digits", body: `{"options": {"sticky_session": {"type": "table", "ttl": "1500"}}}`,
			check: func(t *testing.T, b config.Backend) {
				if b.StickySessionsTTL != 1500 {
					t.Fatalf("%+v", b)
				}
			}},
		{name: "sticky ttl of hours and minutes", body: `{"options": {"sticky_session": {"type": "cookie", "cookie": "c", "ttl": "1h30m"}}}`,
			check: func(t *testing.T, b config.Backend) {
				if b.StickySessionsTTL != 5_400_000 {
					t.Fatalf("%+v", b)
				}
			}},
		{name: "sticky ttl not a duration", body: `{"options": {"sticky_session": {"type": "cookie", "ttl": "5 minutes"}}}`, wantErr: "options.sticky_session.ttl"},
		{name: "sticky ttl negative", body: `{"options": {"sticky_session": {"type": "cookie", "ttl": "-5m"}}}`, wantErr: "options.sticky_session.ttl"},
		{name: "sticky ttl below a millisecond", body: `{"options": {"sticky_session": {"type": "cookie", "ttl": "1500us"}}}`, wantErr: "options.sticky_session.ttl"},
		{name: "sticky ttl fractional number", body: `{"options": {"sticky_session": {"type": "cookie", "ttl": 1.5}}}`, wantErr: "options.sticky_session.ttl"},
		{name: "sticky type unknown", body: `{"options": {"sticky_session": {"type": "ip"}}}`, wantErr: "options.sticky_session.type"},
		{name: "sticky option disagrees", body: `{"options": {"sticky_session": {"type": "cookie", "cookie": "a"}}, "sticky_sessions_cookie_name": "b"}`, wantErr: "options.sticky_session.cookie"},
		{name: "seed 004 checks of every type", body: `{"options": {"health_check": {"type": "mysql", "user": "haproxy"}}}`,
			check: func(t *testing.T, b config.Backend) {
				if b.HealthCheck.MySQLConfig == nil || b.HealthCheck.MySQLConfig.User != "haproxy" {
					t.Fatalf("%+v", b.HealthCheck)
				}
			}},
		{name: "seed 004 https check", body: `{"options": {"health_check": {"type": "https", "path": "/h", "sni": "a.example.com", "expected_code": "204"}}}`,
			check: func(t *testing.T, b config.Backend) {
				h := b.HealthCheck.HTTPSConfig
				if h == nil || h.URI != "/h" || h.SNI != "a.example.com" || *h.Code != 204 || b.HealthCheck.HTTPConfig != nil {
					t.Fatalf("%+v", b.HealthCheck)
				}
			}},
		{name: "seed 004 redis and ldap checks", body: `{"options": {"health_check": {"type": "ldap"}}}`,
			check: func(t *testing.T, b config.Backend) {
				if b.HealthCheck.LDAPConfig == nil || b.HealthCheck.TCPConfig != nil {
					t.Fatalf("%+v", b.HealthCheck)
				}
			}},
		{name: "sni on an http check", body: `{"options": {"health_check": {"type": "http", "sni": "a.example.com"}}}`, wantErr: "options.health_check.sni"},
		{name: "path on a redis check", body: `{"options": {"health_check": {"type": "redis", "path": "/"}}}`, wantErr: "options.health_check.path"},
		{name: "bad check type", body: `{"options": {"health_check": {"type": "icmp"}}}`, wantErr: "options.health_check.type"},
		{name: "bad expected code", body: `{"options": {"health_check": {"type": "http", "expected_code": "2xx"}}}`, wantErr: "options.health_check.expected_code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in backendIn
			dec := json.NewDecoder(strings.NewReader(tt.body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&in); err != nil {
				t.Fatalf("decode: %v", err)
			}
			b, err := backendToConfig(in)
			if tt.wantErr != "" {
				var br *badRequest
				if !errors.As(err, &br) || br.field != tt.wantErr {
					t.Fatalf("error %v, want one on field %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, b)
		})
	}
}

func TestFrontendBodies(t *testing.T) {
	var in frontendIn
	json.Unmarshal([]byte(`{"inbound_port": 80, "protocol": "http", "backend": "api-backend", "timeout_client": 30000,
		"routes": [{"match": {"host_header": "vpn.example.com"}, "backend": "vpn"},
		           {"match": {"host_header": "*.dev.example.com"}, "backend": "dev"},
		           {"match": {"path_begin": "/api"}, "backend": "api-backend"},
		           {"host_header": "flat.example.com", "backend": "flat", "priority": 2}]}`), &in)
	f, err := frontendToConfig(in)
	if err != nil {
		t.Fatal(err)
	}
	if f.InboundPort != 80 || f.TimeoutClient != 30000 || f.Routes.Len() != 4 || f.Routes.At(1).HostHeader != "*.dev.example.com" ||
		f.Routes.At(2).PathBegin != "/api" || f.Routes.At(3).HostHeader != "flat.example.com" || f.Routes.At(3).Priority != 2 {
		t.Fatalf("%+v", f)
	}
	out := toFrontendOut(&f, controlMeta())
	if out.Routes[0].Match == nil || out.Routes[0].Match.HostHeader != "vpn.example.com" || out.Routes[0].HostHeader != "" {
		t.Fatalf("routes are shown under match: %+v", out.Routes[0])
	}
	both := frontendIn{Routes: []routeDTO{{Backend: "b", HostHeader: "a", Match: &routeMatch{HostHeader: "b"}}}}
	if _, err := frontendToConfig(both); err == nil || !strings.Contains(err.Error(), "routes[0]") {
		t.Fatalf("match and flat together: %v", err)
	}
	alias := frontendIn{InboundPort: 80, BackendID: "x", CertificateID: "c"}
	if f, err := frontendToConfig(alias); err != nil || f.Backend != "x" || f.Certificates[0] != "c" {
		t.Fatalf("scaleway aliases: %+v %v", f, err)
	}
}

func TestMergePatch(t *testing.T) {
	var target, patch any
	json.Unmarshal([]byte(`{"a": 1, "b": {"c": 2, "d": 3}, "e": [1]}`), &target)
	json.Unmarshal([]byte(`{"a": null, "b": {"c": 5}, "e": [2, 3], "f": "x"}`), &patch)
	got, _ := json.Marshal(mergePatch(target, patch))
	if string(got) != `{"b":{"c":5,"d":3},"e":[2,3],"f":"x"}` {
		t.Fatalf("merge: %s", got)
	}
}

func controlMeta() control.ObjectMeta { return control.ObjectMeta{} }

// fill sets every field reachable from v to a distinct non-zero value, so a
// conversion that forgets a field (one added to config later, say) shows.
func fill(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	*n++
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), n)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(t, v.Field(i), n)
			}
		}
	case reflect.Slice:
		if v.Type() == reflect.TypeFor[json.RawMessage]() {
			v.SetBytes([]byte(fmt.Sprintf(`{"k":%d}`, *n)))
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		fill(t, s.Index(0), n)
		fill(t, s.Index(1), n)
		v.Set(s)
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Map: // DockerSelector.Labels
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(t, k, n)
		fill(t, e, n)
		m.SetMapIndex(k, e)
		v.Set(m)
	default:
		t.Fatalf("fill: no value for %s", v.Type())
	}
}

func filled[T any](t *testing.T) T {
	var v T
	n := 0
	fill(t, reflect.ValueOf(&v).Elem(), &n)
	return v
}

// TestBackendOutIsTheModel: the backend the API shows is the model's JSON
// plus its times, byte for byte, for every field the model has.
func TestBackendOutIsTheModel(t *testing.T) {
	b := filled[config.Backend](t)
	m := control.ObjectMeta{CreatedAt: time.Unix(1, 0).UTC(), UpdatedAt: time.Unix(2, 0).UTC()}
	got, err := json.Marshal(toBackendOut(&b, m))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(struct {
		config.Backend
		CreatedAt time.Time `json:"created_at"`
		UpdatedAt time.Time `json:"updated_at"`
	}{b, m.CreatedAt, m.UpdatedAt})
	if !bytes.Equal(got, want) {
		t.Fatalf("backend out:\n got %s\nwant %s", got, want)
	}
}

// TestModelRoundTrips: what the API shows, sent back, is the same model.
// PATCH relies on it: it merges into the current object's JSON.
func TestModelRoundTrips(t *testing.T) {
	t.Run("backend", func(t *testing.T) {
		b := filled[config.Backend](t)
		js, _ := json.Marshal(b)
		var in backendIn
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			t.Fatalf("the model's JSON is not a backend body: %v", err)
		}
		got, err := backendToConfig(in)
		if err != nil {
			t.Fatal(err)
		}
		b.Name = "" // the name comes from the path
		if !reflect.DeepEqual(got, b) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, b)
		}
	})
	t.Run("health check", func(t *testing.T) {
		h := filled[config.HealthCheck](t)
		if got := healthToConfig(healthOut(&h)); !reflect.DeepEqual(*got, h) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", *got, h)
		}
	})
	t.Run("frontend", func(t *testing.T) {
		f := filled[config.Frontend](t)
		got, err := frontendToConfig(frontendInOf(&f))
		if err != nil {
			t.Fatal(err)
		}
		f.Name = ""
		if !reflect.DeepEqual(got, f) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, f)
		}
		// The shown frontend, as a body, is the same frontend too.
		js, _ := json.Marshal(toFrontendOut(&f, control.ObjectMeta{}))
		var in frontendIn
		json.Unmarshal(js, &in)
		if again, err := frontendToConfig(in); err != nil || !reflect.DeepEqual(again, f) {
			t.Fatalf("shown frontend as a body: %v\n got %+v\nwant %+v", err, again, f)
		}
	})
}
