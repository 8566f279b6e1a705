package discovery

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

var tcp80 = []Port{{Port: 80, Proto: "tcp"}}

func TestParseIntent(t *testing.T) {
	rancher := LabelOptions{StackDomain: "Dev.Test."}
	tests := []struct {
		name    string
		labels  map[string]string
		ports   []Port
		opts    LabelOptions
		want    Intent
		wantErr string
	}{
		{name: "no labels", labels: map[string]string{"app": "vpn"}, want: Intent{}},
		{name: "opt out", labels: map[string]string{"gantry.enable": "false", "gantry.http.port": "8o", "map-public-http": "80"}, opts: rancher, want: Intent{}},
		{
			name:   "seed 000 vpn",
			labels: map[string]string{"gantry.enable": "true", "gantry.http.port": "80", "gantry.http.hosts": "vpn.example.com,www.example.com"},
			want: Intent{Mode: ModeNative, Port: 80, Weight: 1, Rules: []Rule{
				{Host: "vpn.example.com", Port: 80}, {Host: "www.example.com", Port: 80},
			}},
		},
		{
			name:   "port from the only exposed TCP port",
			labels: map[string]string{"gantry.enable": "TRUE", "gantry.http.hosts": " VPC.example.com. , ,vpc.example.com"},
			ports:  []Port{{Port: 53, Proto: "udp"}, {Port: 8081, Proto: "tcp"}},
			want:   Intent{Mode: ModeNative, Port: 8081, Weight: 1, Rules: []Rule{{Host: "vpc.example.com", Port: 8081}}},
		},
		{
			name: "every native label",
			labels: map[string]string{
				"gantry.enable": "1", "gantry.http.port": "8080", "gantry.http.path": "/api",
				"gantry.lb": "edge", "gantry.frontend": "https", "gantry.backend": "api",
				"gantry.weight": "0", "gantry.healthcheck.path": "/healthz?full=1",
				"gantry.proxy_protocol": "v2", "gantry.network": "front_net",
			},
			want: Intent{Mode: ModeNative, Port: 8080, Rules: []Rule{{Path: "/api", Port: 8080}},
				LB: "edge", Frontend: "https", Backend: "api", Weight: 0, HealthCheckPath: "/healthz?full=1",
				ProxyProtocol: ProxyV2, Network: "front_net"},
		},
		{
			name:   "catch-all",
			labels: map[string]string{"gantry.enable": "true"},
			ports:  tcp80,
			want:   Intent{Mode: ModeNative, Port: 80, Weight: 1, Rules: []Rule{{Port: 80}}},
		},
		{
			name:   "join a backend only",
			labels: map[string]string{"gantry.enable": "true", "gantry.backend": "vpn"},
			want:   Intent{Mode: ModeNative, Backend: "vpn", Weight: 1},
		},
		{
			name:   "join a backend with a port",
			labels: map[string]string{"gantry.enable": "true", "gantry.backend": "vpn", "gantry.http.port": "1194"},
			want:   Intent{Mode: ModeNative, Backend: "vpn", Port: 1194, Weight: 1, Rules: []Rule{{Port: 1194}}},
		},
		{
			name:   "rules only",
			labels: map[string]string{"gantry.enable": "true", "gantry.http.rules": "vpn.example.com:80=80,/api=8080"},
			ports:  []Port{{Port: 80, Proto: "tcp"}, {Port: 8080, Proto: "tcp"}},
			want: Intent{Mode: ModeNative, Weight: 1, Rules: []Rule{
				{Host: "vpn.example.com", SourcePort: 80, Port: 80}, {Path: "/api", Port: 8080},
			}},
		},
		{
			name:   "hosts and rules",
			labels: map[string]string{"gantry.enable": "true", "gantry.http.hosts": "a.example", "gantry.http.rules": ":8443=443"},
			ports:  tcp80,
			want: Intent{Mode: ModeNative, Port: 80, Weight: 1, Rules: []Rule{
				{Host: "a.example", Port: 80}, {SourcePort: 8443, Port: 443},
			}},
		},
		{
			name:    "bad port",
			labels:  map[string]string{"gantry.enable": "true", "gantry.http.port": "8o"},
			wantErr: `label gantry.http.port: "8o": not a port number`,
		},
		{
			name:    "port out of range",
			labels:  map[string]string{"gantry.enable": "true", "gantry.http.port": "70000"},
			wantErr: `label gantry.http.port: "70000": out of range 1..65535`,
		},
		{
			name:    "no port",
			labels:  map[string]string{"gantry.enable": "true", "gantry.http.hosts": "a.example"},
			wantErr: `label gantry.http.port: not set: the container exposes no TCP port; say which port to route to`,
		},
		{
			name:    "several ports",
			labels:  map[string]string{"gantry.enable": "true"},
			ports:   []Port{{Port: 80, Proto: "tcp"}, {Port: 443, Proto: "tcp"}},
			wantErr: `label gantry.http.port: not set: the container exposes several TCP ports (80, 443); say which one to route to`,
		},
		{
			name:    "bad enable",
			labels:  map[string]string{"gantry.enable": "yes"},
			wantErr: `label gantry.enable: "yes": want "true" or "false"`,
		},
		{
			name:    "typo",
			labels:  map[string]string{"gantry.enable": "true", "gantry.http.prot": "80", "gantry.http.port": "80"},
			wantErr: `label gantry.http.prot: "80": unknown gantry label (known: gantry.enable, gantry.http.port,`,
		},
		{
			name:    "bad host",
			labels:  map[string]string{"gantry.enable": "true", "gantry.http.port": "80", "gantry.http.hosts": "ok.example,bad_ host"},
			wantErr: `label gantry.http.hosts: "bad_ host": character ' ' in label "bad_ host"`,
		},
		{
			name:    "bad path",
			labels:  map[string]string{"gantry.enable": "true", "gantry.http.port": "80", "gantry.http.path": "api"},
			wantErr: `label gantry.http.path: "api": must begin with "/"`,
		},
		{
			name:    "bad weight",
			labels:  map[string]string{"gantry.enable": "true", "gantry.http.port": "80", "gantry.weight": "257"},
			wantErr: `label gantry.weight: "257": out of range 0..256`,
		},
		{
			name:    "weight not a number",
			labels:  map[string]string{"gantry.enable": "true", "gantry.http.port": "80", "gantry.weight": "heavy"},
			wantErr: `label gantry.weight: "heavy": not a number`,
		},
		{
			name:    "bad proxy protocol",
			labels:  map[string]string{"gantry.enable": "true", "gantry.http.port": "80", "gantry.proxy_protocol": "v3"},
			wantErr: `label gantry.proxy_protocol: "v3": want v1, v2, none, send-proxy or send-proxy-v2`,
		},
		{
			name:    "bad backend name",
			labels:  map[string]string{"gantry.enable": "true", "gantry.http.port": "80", "gantry.backend": "-x"},
			wantErr: `label gantry.backend: "-x": character '-' at 0: use letters, digits, '.', '_' and '-', starting with a letter or digit`,
		},
		{
			name:    "bad network",
			labels:  map[string]string{"gantry.enable": "true", "gantry.http.port": "80", "gantry.network": "a b"},
			wantErr: `label gantry.network: "a b": character ' ' at 1:`,
		},
		{
			name:    "bad healthcheck path",
			labels:  map[string]string{"gantry.enable": "true", "gantry.http.port": "80", "gantry.healthcheck.path": "/a b"},
			wantErr: `label gantry.healthcheck.path: "/a b": character ' ' at 2 is not allowed`,
		},
		{
			name:    "bad rule",
			labels:  map[string]string{"gantry.enable": "true", "gantry.http.rules": "a.example=80,b.example:8o=80"},
			wantErr: `label gantry.http.rules: "b.example:8o=80": source port "8o": not a port number`,
		},
		{
			name:    "every error at once",
			labels:  map[string]string{"gantry.enable": "true", "gantry.http.port": "x", "gantry.weight": "-1"},
			wantErr: `label gantry.weight: "-1": out of range 0..256; label gantry.http.port: "x": not a port number`,
		},

		// rancher-haproxy (seed 001).
		{
			name:   "seed 001 stack",
			labels: map[string]string{"map-public-http": "80", "com.docker.compose.project": "test-webservice-r123", "aliases": "www, someotheralias"},
			opts:   rancher,
			want: Intent{Mode: ModeRancher, Port: 80, Weight: 1, Stack: "test-webservice-r123", Rules: []Rule{
				{Host: "test-webservice-r123.dev.test", Port: 80},
				{Host: "www.dev.test", Port: 80},
				{Host: "someotheralias.dev.test", Port: 80},
			}},
		},
		{
			name:   "rancher stack label and proxy",
			labels: map[string]string{"map-public-http": "8080", "io.rancher.stack.name": "App1", "proxy_protocol": "send-proxy"},
			opts:   rancher,
			want:   Intent{Mode: ModeRancher, Port: 8080, Weight: 1, Stack: "App1", ProxyProtocol: ProxyV1, Rules: []Rule{{Host: "app1.dev.test", Port: 8080}}},
		},
		{
			name:   "custom rancher label names",
			labels: map[string]string{"public": "80", "com.docker.compose.project": "s", "pp": "send-proxy-v2", "names": "a b", "gantry.weight": "5", "gantry.network": "n1"},
			opts:   LabelOptions{StackDomain: "dev.test", RancherLabel: "public", ProxyLabel: "pp", AliasLabel: "names"},
			want: Intent{Mode: ModeRancher, Port: 80, Weight: 5, Network: "n1", Stack: "s", ProxyProtocol: ProxyV2, Rules: []Rule{
				{Host: "s.dev.test", Port: 80}, {Host: "a.dev.test", Port: 80}, {Host: "b.dev.test", Port: 80},
			}},
		},
		{
			name:   "rancher label ignored when native",
			labels: map[string]string{"gantry.enable": "true", "gantry.http.port": "81", "map-public-http": "80", "com.docker.compose.project": "s"},
			opts:   rancher,
			want:   Intent{Mode: ModeNative, Port: 81, Weight: 1, Rules: []Rule{{Port: 81}}},
		},
		{
			name:    "rancher mode off",
			labels:  map[string]string{"map-public-http": "80", "com.docker.compose.project": "s"},
			wantErr: `label map-public-http: "80": the rancher-compatible mode is off: set --stack-domain (STACK_DOMAIN)`,
		},
		{
			name:    "rancher without a stack",
			labels:  map[string]string{"map-public-http": "80"},
			opts:    rancher,
			wantErr: `label com.docker.compose.project: not set: map-public-http needs a stack: a com.docker.compose.project or io.rancher.stack.name label`,
		},
		{
			name:    "rancher bad port",
			labels:  map[string]string{"map-public-http": "http", "com.docker.compose.project": "s"},
			opts:    rancher,
			wantErr: `label map-public-http: "http": not a port number`,
		},
		{
			name:    "rancher bad alias",
			labels:  map[string]string{"map-public-http": "80", "com.docker.compose.project": "s", "aliases": "ok,*"},
			opts:    rancher,
			wantErr: `label aliases: "*": "*.dev.test" is not a valid host name`,
		},
		{
			name:    "rancher bad proxy",
			labels:  map[string]string{"map-public-http": "80", "com.docker.compose.project": "s", "proxy_protocol": "send-proxy-v3"},
			opts:    rancher,
			wantErr: `label proxy_protocol: "send-proxy-v3": want v1, v2, none, send-proxy or send-proxy-v2`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseIntent(tt.labels, tt.ports, tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v\nwant     %s", err, tt.wantErr)
				}
				var le *LabelError
				if !errors.As(err, &le) {
					t.Fatalf("error %v holds no *LabelError", err)
				}
				if !reflect.DeepEqual(got, Intent{}) {
					t.Fatalf("intent with an error = %+v, want the zero Intent", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseIntent: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseIntent =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestLabelOptionsValidate(t *testing.T) {
	for _, o := range []LabelOptions{{}, {StackDomain: "dev.test"}, {StackDomain: "Dev.Test.", Network: "front"}} {
		if err := o.Validate(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
	for o, want := range map[*LabelOptions]string{
		{StackDomain: "*.dev.test"}:   `stack domain "*.dev.test": not a domain name`,
		{StackDomain: "a b"}:          `stack domain "a b": not a domain name`,
		{RancherLabel: "a b"}:         `rancher label "a b": a label name has no spaces or '='`,
		{Network: "-n"}:               `network "-n": character '-' at 0`,
		{ProxyLabel: "x=y"}:           `proxy label "x=y"`,
		{AliasLabel: "aliases\tmore"}: `alias label "aliases\tmore"`,
	} {
		if err := o.Validate(); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%+v: error %v, want %s", *o, err, want)
		}
	}
}

// FuzzParseIntent feeds arbitrary label values to every label ParseIntent
// reads: it must never panic, an error must be a LabelErrors of
// *LabelError with the zero Intent, and an accepted intent must be valid.
func FuzzParseIntent(f *testing.F) {
	f.Add("true", "80", "vpn.example.com,www.example.com", "/api", "a.example:80=80", "v2", "7", "80", "s", "www")
	f.Add("1", "8o", "bad host", "api", "x=y=z", "v3", "-1", "http", "", "*")
	f.Add("", "", "", "", "", "", "", "80", "test-webservice-r123", "www someotheralias")
	f.Fuzz(func(t *testing.T, enable, port, hosts, path, rules, proxy, weight, rancherPort, stack, aliases string) {
		labels := map[string]string{}
		for k, v := range map[string]string{
			LabelEnable: enable, LabelHTTPPort: port, LabelHTTPHosts: hosts, LabelHTTPPath: path,
			LabelHTTPRules: rules, LabelProxyProtocol: proxy, LabelWeight: weight,
			DefaultRancherLabel: rancherPort, LabelComposeProject: stack, DefaultAliasLabel: aliases,
		} {
			if v != "" {
				labels[k] = v
			}
		}
		in, err := ParseIntent(labels, tcp80, LabelOptions{StackDomain: "dev.test"})
		if err != nil {
			var les LabelErrors
			if !errors.As(err, &les) || len(les) == 0 {
				t.Fatalf("error %v is not a non-empty LabelErrors", err)
			}
			if !reflect.DeepEqual(in, Intent{}) {
				t.Fatalf("intent with an error: %+v", in)
			}
			return
		}
		if in.Mode == ModeNone {
			if !reflect.DeepEqual(in, Intent{}) {
				t.Fatalf("ModeNone with content: %+v", in)
			}
			return
		}
		if in.Weight < 0 || in.Weight > 256 {
			t.Fatalf("weight %d", in.Weight)
		}
		for _, r := range in.Rules {
			if r.Port == 0 {
				t.Fatalf("rule %+v without a port", r)
			}
			if again, err := ParseRule(r.String()); err != nil || again != r {
				t.Fatalf("rule %+v does not round-trip: %+v, %v", r, again, err)
			}
		}
	})
}
