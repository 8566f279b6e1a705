package discovery

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRule(t *testing.T) {
	tests := []struct {
		in      string
		want    Rule
		wantErr string
	}{
		{in: "vpn.example.com:80=80", want: Rule{Host: "vpn.example.com", SourcePort: 80, Port: 80}},
		{in: "vpc.example.com=8081", want: Rule{Host: "vpc.example.com", Port: 8081}},
		{in: "/api=8080", want: Rule{Path: "/api", Port: 8080}},
		{in: ":8080=80", want: Rule{SourcePort: 8080, Port: 80}},
		{in: "=80", want: Rule{Port: 80}},
		{in: "example.com:443/path/x=81", want: Rule{Host: "example.com", SourcePort: 443, Path: "/path/x", Port: 81}},
		{in: "*.Example.COM./static=8000", want: Rule{Host: "*.example.com", Path: "/static", Port: 8000}},
		{in: "  www.example.com=80  ", want: Rule{Host: "www.example.com", Port: 80}},
		{in: "[2001:db8::1]:80=80", want: Rule{Host: "[2001:db8::1]", SourcePort: 80, Port: 80}},
		{in: "[2001:db8::1]/a=80", want: Rule{Host: "[2001:db8::1]", Path: "/a", Port: 80}},
		{in: "host_1.example=65535", want: Rule{Host: "host_1.example", Port: 65535}},

		{in: "vpn.example.com:80", wantErr: `port rule "vpn.example.com:80": missing "=target_port"`},
		{in: "a.example:8o=80", wantErr: `port rule "a.example:8o=80": source port "8o": not a port number`},
		{in: "a.example=8o", wantErr: `port rule "a.example=8o": target port "8o": not a port number`},
		{in: "a.example=", wantErr: `port rule "a.example=": target port "": not a port number`},
		{in: "a.example=0", wantErr: `port rule "a.example=0": target port "0": out of range 1..65535`},
		{in: "a.example=65536", wantErr: `port rule "a.example=65536": target port "65536": out of range 1..65535`},
		{in: "a.example=123456", wantErr: `port rule "a.example=123456": target port "123456": out of range 1..65535`},
		{in: "a.example=+80", wantErr: `port rule "a.example=+80": target port "+80": not a port number`},
		{in: "a.example:=80", wantErr: `port rule "a.example:=80": source port "": not a port number`},
		{in: "a=b=80", wantErr: `port rule "a=b=80": more than one "="`},
		{in: "bad host=80", wantErr: `port rule "bad host=80": host "bad host": character ' ' in label "bad host"`},
		{in: "a..b=80", wantErr: `port rule "a..b=80": host "a..b": empty label`},
		{in: "*=80", wantErr: `port rule "*=80": host "*": a wildcard needs a domain, like *.example.com`},
		{in: "a.example/x y=80", wantErr: `port rule "a.example/x y=80": path "/x y": character ' ' at 2 is not allowed`},
		{in: "a.example/x?q=1=80", wantErr: `port rule "a.example/x?q=1=80": more than one "="`},
		{in: "a.example/x?q=80", wantErr: `port rule "a.example/x?q=80": path "/x?q": character '?' at 2 is not allowed (a route matches the path only)`},
		{in: "[2001:db8::1=80", wantErr: `port rule "[2001:db8::1=80": host "[2001:db8::1": missing ']' after IPv6 literal`},
		{in: "[2001:db8::1]x=80", wantErr: `port rule "[2001:db8::1]x=80": unexpected "x" after host "[2001:db8::1]"`},
		{in: "[zz]=80", wantErr: `port rule "[zz]=80": host "[zz]": not a bracketed IPv6 address`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRule(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseRule(%q) error = %v, want %s", tt.in, err, tt.wantErr)
				}
				var re *RuleError
				if !errors.As(err, &re) || re.Rule != tt.in {
					t.Fatalf("error %v is not a *RuleError naming the rule", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRule(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseRule(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			again, err := ParseRule(got.String())
			if err != nil || again != got {
				t.Fatalf("round trip of %q through %q = %+v, %v", tt.in, got.String(), again, err)
			}
		})
	}
}

func TestParseRules(t *testing.T) {
	got, err := ParseRules("vpn.example.com:80=80, vpc.example.com:80=8081,")
	if err != nil {
		t.Fatal(err)
	}
	want := []Rule{{Host: "vpn.example.com", SourcePort: 80, Port: 80}, {Host: "vpc.example.com", SourcePort: 80, Port: 8081}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("ParseRules = %+v, want %+v", got, want)
	}
	_, err = ParseRules("a.example=80,b.example=x")
	if err == nil || !strings.Contains(err.Error(), `port rule "b.example=x": target port "x": not a port number`) {
		t.Fatalf("error = %v", err)
	}
	if rs, err := ParseRules(" , "); err != nil || rs != nil {
		t.Fatalf("empty list = %v, %v", rs, err)
	}
}

// FuzzParseRule checks that ParseRule never panics, that what it accepts is
// normalised and valid, and that String round-trips.
func FuzzParseRule(f *testing.F) {
	for _, s := range []string{
		"vpn.example.com:80=80", "/api=8080", ":8080=80", "=80", "*.example.com/static=8000",
		"[2001:db8::1]:80=80", "a:8o=80", "a=b=c", "[", "[]:=", "a./=1", "A.B.:65535/x=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRule(s)
		if err != nil {
			var re *RuleError
			if !errors.As(err, &re) || re.Rule != s {
				t.Fatalf("error %v is not a *RuleError naming %q", err, s)
			}
			return
		}
		if r.Port == 0 {
			t.Fatalf("%q: accepted target port 0", s)
		}
		if r.Path != "" && r.Path[0] != '/' {
			t.Fatalf("%q: path %q", s, r.Path)
		}
		if r.Host != strings.ToLower(r.Host) || strings.HasSuffix(r.Host, ".") {
			t.Fatalf("%q: host %q is not normalised", s, r.Host)
		}
		again, err := ParseRule(r.String())
		if err != nil || again != r {
			t.Fatalf("%q → %+v → %q → %+v, %v", s, r, r.String(), again, err)
		}
	})
}
