package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/gantry-lb/gantry/client"
)

// printer writes command output as an aligned table, JSON or YAML.
type printer struct {
	w      io.Writer
	format string // table, json or yaml
}

// print writes v as JSON or YAML, or rows as a table under header (no
// header: rows are key/value lines).
func (p printer) print(v any, header []string, rows [][]string) error {
	switch p.format {
	case "json":
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(p.w, "%s\n", b)
		return err
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = p.w.Write(b)
		return err
	}
	tw := tabwriter.NewWriter(p.w, 0, 8, 2, ' ', 0)
	if header != nil {
		fmt.Fprintln(tw, strings.Join(header, "\t"))
	}
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// result writes what a dry run or a staged write would change.
func (p printer) result(res *client.Result, txn string) error {
	if p.format != "table" {
		return p.print(res, nil, nil)
	}
	switch {
	case res.Staged && res.DryRun:
		fmt.Fprintf(p.w, "dry run in transaction %s (base revision %d), nothing staged; the transaction would change:\n", txn, res.Revision)
	case res.Staged:
		fmt.Fprintf(p.w, "staged in transaction %s (base revision %d); the transaction changes so far:\n", txn, res.Revision)
	case res.DryRun:
		fmt.Fprintf(p.w, "dry run on revision %d, nothing stored:\n", res.Revision)
	default:
		fmt.Fprintf(p.w, "revision %d:\n", res.Revision)
	}
	writeChanges(p.w, res.Changes)
	return nil
}

// writeChanges prints a diff: one line per object (+ created, ~ updated,
// - deleted), then its changed fields.
func writeChanges(w io.Writer, changes []client.Change) {
	if len(changes) == 0 {
		fmt.Fprintln(w, "  no changes")
		return
	}
	for _, c := range changes {
		mark := map[client.ChangeKind]string{client.Created: "+", client.Updated: "~", client.Deleted: "-"}[c.Kind]
		if mark == "" {
			mark = "?"
		}
		fmt.Fprintf(w, "%s %s\n", mark, c.Path)
		if c.Kind == client.Deleted {
			continue
		}
		before, after := flatJSON(c.Before), flatJSON(c.After)
		keys := make([]string, 0, len(before)+len(after))
		for k := range before {
			keys = append(keys, k)
		}
		for k := range after {
			if _, ok := before[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			b, inB := before[k]
			a, inA := after[k]
			if inB && inA && a == b {
				continue
			}
			if inB {
				fmt.Fprintf(w, "    - %s: %s\n", k, b)
			}
			if inA {
				fmt.Fprintf(w, "    + %s: %s\n", k, a)
			}
		}
	}
}

// flatJSON maps every leaf of a JSON document to its JSON text, keyed by
// its path ("routes[0].match.host_header"). Invalid or empty input is empty.
func flatJSON(raw json.RawMessage) map[string]string {
	out := map[string]string{}
	var v any
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return out
	}
	flatten("", v, out)
	return out
}

func flatten(path string, v any, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 && path != "" {
			out[path] = "{}"
		}
		for k, e := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			flatten(p, e, out)
		}
	case []any:
		if len(x) == 0 {
			out[path] = "[]"
		}
		for i, e := range x {
			flatten(path+"["+strconv.Itoa(i)+"]", e, out)
		}
	default:
		b, _ := json.Marshal(x)
		out[path] = string(b)
	}
}

// dash shows an empty cell as "-", so columns stay readable.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// few joins up to three items and says how many more there are.
func few(items []string) string {
	if len(items) <= 3 {
		return dash(strings.Join(items, ", "))
	}
	return strings.Join(items[:3], ", ") + fmt.Sprintf(" (+%d more)", len(items)-3)
}

func lbRow(lb client.LB) []string {
	ips := strings.Join(lb.IPs, ",")
	if ips == "" {
		ips = "*" // every address of the host
	}
	return []string{lb.Name, ips, strconv.Itoa(lb.FrontendCount), strconv.Itoa(lb.BackendCount), dash(lb.Status), dash(lb.Description)}
}

func ipRow(ip client.IP) []string {
	lb := "-" // kept, bound by no load balancer
	if ip.LB != nil {
		lb = *ip.LB
	}
	return []string{ip.Address, dash(ip.Reverse), lb, dash(strings.Join(ip.Tags, ","))}
}

func frontendRow(f client.Frontend) []string {
	port := strconv.Itoa(f.InboundPort)
	routes := make([]string, len(f.Routes))
	for i, r := range f.Routes {
		routes[i] = routeText(r) + "->" + r.Backend
	}
	return []string{f.Name, port, dash(string(f.Protocol)), dash(f.Backend), few(routes)}
}

func routeRow(r client.IndexedRoute) []string {
	return []string{dash(r.Name), strconv.Itoa(r.Index), routeText(r.Route), dash(r.Backend), strconv.Itoa(r.Priority)}
}

// routeText is a route's conditions in one word or a few.
func routeText(r client.Route) string {
	m := client.RouteMatch{HostHeader: r.HostHeader, SNI: r.SNI, MatchSubdomains: r.MatchSubdomains, PathBegin: r.PathBegin, Headers: r.Headers}
	if r.Match != nil {
		m = *r.Match
	}
	var parts []string
	if m.HostHeader != "" {
		parts = append(parts, m.HostHeader)
	}
	if m.SNI != "" {
		parts = append(parts, "sni:"+m.SNI)
	}
	if m.MatchSubdomains {
		parts = append(parts, "(+subdomains)")
	}
	if m.PathBegin != "" {
		parts = append(parts, m.PathBegin)
	}
	for _, h := range m.Headers {
		parts = append(parts, "header:"+h.Name)
	}
	if len(parts) == 0 {
		return "*"
	}
	return strings.Join(parts, " ")
}

func aclRow(a client.ACL) []string {
	return []string{dash(a.Name), strconv.Itoa(a.Index), aclMatchText(a.Match), aclActionText(a.Action)}
}

// aclMatchText is an ACL's conditions in a few words: "*" matches all.
func aclMatchText(m client.ACLMatch) string {
	var parts []string
	if len(m.IPSubnet) > 0 {
		parts = append(parts, "ip:"+strings.Join(m.IPSubnet, ","))
	}
	if m.HTTPFilter != "" && m.HTTPFilter != client.FilterNone {
		f := m.HTTPFilter
		if m.HTTPFilterOption != "" {
			f += "(" + m.HTTPFilterOption + ")"
		}
		parts = append(parts, f+":"+strings.Join(m.HTTPFilterValue, ","))
	}
	text := "*"
	if len(parts) > 0 {
		text = strings.Join(parts, " ")
	}
	if m.Invert {
		text = "not " + text
	}
	return text
}

// aclActionText is what an ACL does: allow, deny, or a redirect with its
// code and target.
func aclActionText(a client.ACLAction) string {
	r := a.Redirect
	if a.Type != client.ActionRedirect || r == nil {
		return dash(a.Type)
	}
	code := r.Code
	if code == 0 {
		code = 302
	}
	if r.Type == client.RedirectScheme {
		return fmt.Sprintf("redirect %d to %s://", code, r.Target)
	}
	return fmt.Sprintf("redirect %d to %s", code, r.Target)
}

func backendRow(b client.Backend) []string {
	port := ""
	if b.ForwardPort != 0 {
		port = strconv.Itoa(b.ForwardPort)
	}
	servers := make([]string, len(b.Servers))
	for i, s := range b.Servers {
		p := s.Port
		if p == 0 {
			p = b.ForwardPort
		}
		servers[i] = s.IP
		if p != 0 {
			servers[i] = joinHostPort(s.IP, p)
		}
	}
	return []string{b.Name, dash(string(b.ForwardProtocol)), dash(port), dash(b.ForwardPortAlgorithm), few(servers), checkText(b.HealthCheck)}
}

func joinHostPort(ip string, port int) string {
	if strings.Contains(ip, ":") {
		return "[" + ip + "]:" + strconv.Itoa(port)
	}
	return ip + ":" + strconv.Itoa(port)
}

// checkText names a health check: its kind, and the path of HTTP checks.
func checkText(h *client.HealthCheck) string {
	switch {
	case h == nil:
		return "-"
	case h.HTTPConfig != nil:
		return "http " + dashURI(h.HTTPConfig.URI)
	case h.HTTPSConfig != nil:
		return "https " + dashURI(h.HTTPSConfig.URI)
	case h.MySQLConfig != nil:
		return "mysql"
	case h.PgSQLConfig != nil:
		return "pgsql"
	case h.RedisConfig != nil:
		return "redis"
	case h.LDAPConfig != nil:
		return "ldap"
	}
	return "tcp"
}

func dashURI(u string) string {
	if u == "" {
		return "/"
	}
	return u
}

func timeText(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func historyRows(h []client.HistoryEntry) [][]string {
	rows := make([][]string, len(h))
	for i, e := range h {
		changes := make([]string, len(e.Changes))
		for j, c := range e.Changes {
			changes[j] = string(c.Kind) + " " + c.Path
		}
		rows[i] = []string{strconv.FormatUint(e.Revision, 10), timeText(e.Time), dash(e.Author), dash(e.Message), few(changes)}
	}
	return rows
}

func txnRow(t *client.Transaction) []string {
	return []string{t.ID, strconv.FormatUint(t.Version, 10), strconv.Itoa(t.Changes), timeText(t.Expires)}
}

func statusRows(s *client.Status) [][]string {
	rows := [][]string{
		{"stored revision:", strconv.FormatUint(s.StoredRevision, 10)},
		{"applied revision:", strconv.FormatUint(s.AppliedRevision, 10)},
	}
	if s.ApplyError != "" {
		rows = append(rows, []string{"apply error:", s.ApplyError})
	}
	rows = append(rows, []string{"listeners:", dash(strings.Join(s.Listeners, ", "))})
	return append(rows, discoveryRows(s.Discovery)...) // explain.go
}
