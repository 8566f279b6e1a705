package discovery

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gantry-lb/gantry/internal/config"
)

// Rule is one routing rule of a container: requests for Host (any host when
// empty) whose path begins with Path (any path when empty), arriving on the
// frontend that listens on SourcePort (the default frontends when 0), go to
// the container's Port.
//
// A Rule is also the meaning of a Rancher port-rule string
// "[hostname][:source_port][/path]=target_port" (see ParseRule). Host is
// lower-case without a trailing dot and passes config.ValidHostPattern; Path
// is empty or begins with "/".
type Rule struct {
	Host       string
	SourcePort uint16
	Path       string
	Port       uint16
}

// String returns r in port-rule syntax, such as "vpn.example.com:80=80" or
// "/api=8080"; ParseRule(r.String()) returns r.
func (r Rule) String() string {
	var b strings.Builder
	b.WriteString(r.Host)
	if r.SourcePort != 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(int(r.SourcePort)))
	}
	b.WriteString(r.Path)
	b.WriteByte('=')
	b.WriteString(strconv.Itoa(int(r.Port)))
	return b.String()
}

// RuleError reports a port-rule string that did not parse. Its message is
// `port rule "<rule>": <reason>`.
type RuleError struct {
	Rule string
	Err  error
}

// Error returns `port rule "<rule>": <reason>`.
func (e *RuleError) Error() string {
	return "port rule " + strconv.Quote(e.Rule) + ": " + e.Err.Error()
}

// Unwrap returns the reason.
func (e *RuleError) Unwrap() error { return e.Err }

// ParseRule parses one Rancher port-rule string,
// "[hostname][:source_port][/path]=target_port":
//
//	vpn.example.com:80=80       host vpn.example.com on the frontend of port 80 → container port 80
//	vpn.example.com=80          that host on the default frontends → 80
//	/api=8080                   any host, paths under /api → 8080
//	:8080=80                    anything on the frontend of port 8080 → 80
//	*.example.com/static=8000   a wildcard host and a path
//	[2001:db8::1]:80=80         an IPv6 literal host, in brackets
//
// Surrounding spaces are ignored; anything else out of place is an error (a
// *RuleError) that names the part at fault, such as
// `port rule "a.example:8o=80": source port "8o": not a port number`.
func ParseRule(s string) (Rule, error) {
	r, err := parseRule(strings.TrimSpace(s))
	if err != nil {
		return Rule{}, &RuleError{Rule: s, Err: err}
	}
	return r, nil
}

func parseRule(s string) (Rule, error) {
	left, target, ok := strings.Cut(s, "=")
	if !ok {
		return Rule{}, errors.New(`missing "=target_port"`)
	}
	if strings.Contains(target, "=") {
		return Rule{}, errors.New(`more than one "="`)
	}
	var r Rule
	p, err := parsePort(target)
	if err != nil {
		return Rule{}, fmt.Errorf("target port %w", err)
	}
	r.Port = p

	hostPort := left
	if i := pathStart(left); i >= 0 {
		hostPort, r.Path = left[:i], left[i:]
		if err := validPath(r.Path, false); err != nil {
			return Rule{}, fmt.Errorf("path %q: %w", r.Path, err)
		}
	}
	host := hostPort
	if strings.HasPrefix(hostPort, "[") {
		// An IPv6 literal: the port, if any, follows the bracket.
		end := strings.IndexByte(hostPort, ']')
		if end < 0 {
			return Rule{}, fmt.Errorf("host %q: missing ']' after IPv6 literal", hostPort)
		}
		host = hostPort[:end+1]
		rest := hostPort[end+1:]
		if rest != "" {
			sp, ok := strings.CutPrefix(rest, ":")
			if !ok {
				return Rule{}, fmt.Errorf("unexpected %q after host %q", rest, host)
			}
			if r.SourcePort, err = parsePort(sp); err != nil {
				return Rule{}, fmt.Errorf("source port %w", err)
			}
		}
	} else if i := strings.LastIndexByte(hostPort, ':'); i >= 0 {
		host = hostPort[:i]
		if r.SourcePort, err = parsePort(hostPort[i+1:]); err != nil {
			return Rule{}, fmt.Errorf("source port %w", err)
		}
	}
	if host != "" {
		if r.Host, err = normalHost(host); err != nil {
			return Rule{}, err
		}
	}
	return r, nil
}

// pathStart returns the index of the "/" that begins the path part of the
// left side of a rule, skipping an IPv6 literal, or -1.
func pathStart(left string) int {
	from := 0
	if strings.HasPrefix(left, "[") {
		if end := strings.IndexByte(left, ']'); end >= 0 {
			from = end
		}
	}
	if i := strings.IndexByte(left[from:], '/'); i >= 0 {
		return from + i
	}
	return -1
}

// ParseRules parses a comma-separated list of port-rule strings, as in the
// gantry.http.rules label or Rancher's io.rancher.loadbalancer.target.*
// labels. Empty items (a trailing comma) are ignored. The error is the
// *RuleError of the first rule that did not parse.
func ParseRules(s string) ([]Rule, error) {
	var rules []Rule
	for item := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		r, err := ParseRule(item)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// parsePort parses a port number 1..65535 written in decimal digits only.
// Its error reads `"8o": not a port number`, ready to follow a field name.
func parsePort(s string) (uint16, error) {
	if s == "" || len(s) > 5 {
		if s != "" && strings.Trim(s, "0123456789") == "" {
			return 0, fmt.Errorf("%q: out of range 1..65535", s)
		}
		return 0, fmt.Errorf("%q: not a port number", s)
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q: not a port number", s)
		}
		n = n*10 + int(c-'0')
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q: out of range 1..65535", s)
	}
	return uint16(n), nil
}

// normalHost lower-cases h, drops one trailing dot and validates it as a
// host pattern (an exact name, "*.example.com", or a bracketed IPv6
// literal). The error names the host.
func normalHost(h string) (string, error) {
	n := strings.ToLower(h)
	if len(n) > 1 && strings.HasSuffix(n, ".") && !strings.HasPrefix(n, "[") {
		n = n[:len(n)-1]
	}
	if strings.HasSuffix(n, ".") {
		return "", fmt.Errorf("host %q: %w", h, errors.New("empty label"))
	}
	if err := config.ValidHostPattern(n); err != nil {
		return "", fmt.Errorf("host %q: %w", h, err)
	}
	return n, nil
}

// validPath accepts a path that begins with "/" and holds only printable
// ASCII other than space, '#', ',' and '='; with query, a "?query" part is
// allowed too (health check URIs).
func validPath(p string, query bool) error {
	if !strings.HasPrefix(p, "/") {
		return errors.New(`must begin with "/"`)
	}
	if len(p) > 1024 {
		return errors.New("longer than 1024 characters")
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c <= ' ' || c >= 0x7f:
			return fmt.Errorf("character %q at %d is not allowed", c, i)
		case c == '#' || c == ',':
			return fmt.Errorf("character %q at %d is not allowed", c, i)
		case (c == '?' || c == '=') && !query:
			return fmt.Errorf("character %q at %d is not allowed (a route matches the path only)", c, i)
		}
	}
	return nil
}
