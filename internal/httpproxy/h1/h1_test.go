package h1

import (
	"net/netip"
	"strings"
	"testing"
)

// TestCharClass checks the charClass table against the RFC definitions.
func TestCharClass(t *testing.T) {
	const (
		alnum   = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		tchar   = "!#$%&'*+-.^_`|~" + alnum      // RFC 9110 §5.6.2
		regName = "-._~" + "!$&'()*+,;=" + alnum // RFC 3986 unreserved / sub-delims
	)
	if len(charClass) != 256 {
		t.Fatalf("charClass has %d entries", len(charClass))
	}
	for c := 0; c < 256; c++ {
		b := byte(c)
		if got, want := isTchar(b), strings.IndexByte(tchar, b) >= 0; got != want {
			t.Errorf("isTchar(%q) = %v, want %v", b, got, want)
		}
		if got, want := isRegName(b), strings.IndexByte(regName, b) >= 0; got != want {
			t.Errorf("isRegName(%q) = %v, want %v", b, got, want)
		}
		wantValue := b == '\t' || (b >= 0x20 && b != 0x7f)
		if got := isValueByte(b); got != wantValue {
			t.Errorf("isValueByte(%q) = %v, want %v", b, got, wantValue)
		}
		if got := validValue([]byte(strings.Repeat("a", c%13) + string(b) + strings.Repeat("z", 9))); got != wantValue {
			t.Errorf("validValue with %q at %d = %v, want %v", b, c%13, got, wantValue)
		}
	}
}

// TestValidIPv6 checks validIPv6 against net/netip, which net/url uses.
func TestValidIPv6(t *testing.T) {
	cases := []string{
		"::", "::1", "1::", "1::2", "2001:db8::1", "2001:DB8:0:0:8:800:200C:417A", "1:2:3:4:5:6:7:8",
		"1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1:2:3:4:5:6::8", "::ffff:1.2.3.4", "1:2:3:4:5:6:1.2.3.4",
		"::1.2.3.4", "64:ff9b::192.0.2.33", "fe80::1%eth0", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7",
		"1::2::3", ":1", "1:", "1:::2", "12345::", "g::", "1.2.3.4", "::1.2.3", "::1.2.3.4.5",
		"::01.2.3.4", "::256.1.1.1", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3.4:5", "", ":", ":::", "1:2:3:4:5:6:7:8::",
		"::1:2:3:4:5:6:7", "0:0:0:0:0:0:0:0", "::ffff:0.0.0.0", "a:b:c:d:e:f:0:1", "1::2:3:4:5:6:7",
	}
	for _, s := range cases {
		addr, err := netip.ParseAddr(s)
		want := err == nil && addr.Is6() && addr.Zone() == ""
		if got := validIPv6([]byte(s)); got != want {
			t.Errorf("validIPv6(%q) = %v, net/netip says %v", s, got, want)
		}
	}
}

func FuzzValidIPv6(f *testing.F) {
	for _, s := range []string{"::", "::1", "1:2:3:4:5:6:7:8", "::ffff:1.2.3.4", "1::2::3", "::01.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addr, err := netip.ParseAddr(s)
		want := err == nil && addr.Is6() && addr.Zone() == ""
		if got := validIPv6([]byte(s)); got != want {
			t.Errorf("validIPv6(%q) = %v, net/netip says %v", s, got, want)
		}
	})
}
