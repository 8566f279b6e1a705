// Package client is the Go client of gantry's native API (/v1) and holds its
// wire types, which the server uses too: the request and response bodies
// of load balancers, frontends (with their routes and ACLs), backends (with
// their health check), the whole config, history, rollback, transactions,
// status and API tokens.
//
// A Client is safe for concurrent use. Every response of the API carries
// the revision of the config it read or wrote; reads return it, and a
// write takes it back with IfMatch to fail with 412 when someone else wrote
// in between:
//
//	c, err := client.New("http://127.0.0.1:9980", token)
//	lb, rev, err := c.GetLB(ctx, "web")
//	_, _, err = c.PutLB(ctx, "web", client.LBInput{Description: "new"}, client.IfMatch(rev))
//	var e *client.Error
//	if errors.As(err, &e) && e.Status == http.StatusPreconditionFailed { ... }
//
// Errors of the API are *Error, carrying the problem document with the
// path of every wrong field.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Client calls one gantry server. Safe for concurrent use.
type Client struct {
	base  string // scheme://host[/prefix], no trailing slash
	token string
	hc    *http.Client
	ua    string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests with hc (default: a
// client on http.DefaultTransport without a timeout; bound calls with their
// context).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithUserAgent sets the User-Agent of every request.
func WithUserAgent(ua string) Option { return func(c *Client) { c.ua = ua } }

// New returns a client of the server at baseURL ("http://127.0.0.1:9980"),
// sending token as a bearer token. An empty token sends none.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("client: server URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("client: server URL %q: want http://host:port or https://host:port", baseURL)
	}
	u.RawQuery, u.Fragment = "", ""
	c := &Client{base: u.String(), token: token, hc: &http.Client{}, ua: "gantry-client"}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// CallOption sets a parameter of one call. Each says which calls it
// applies to; the others ignore it.
type CallOption func(*call)

type call struct {
	q       url.Values
	ifMatch uint64
	hasIf   bool
	dryRun  bool
	staged  bool
}

// IfMatch makes a write fail with 412 (an *Error) unless the config is
// still at revision rev, as returned by a read. For writes.
func IfMatch(rev uint64) CallOption {
	return func(c *call) { c.ifMatch, c.hasIf = rev, true }
}

// DryRun validates a write and compiles the snapshot the data plane would
// run, then answers the diff without storing anything. For writes and
// CommitTxn.
func DryRun() CallOption {
	return func(c *call) { c.q.Set("dry_run", "true"); c.dryRun = true }
}

// WaitApplied makes a write return only once the data plane serves the new
// revision (the server waits at most 30 s). For writes and CommitTxn.
func WaitApplied() CallOption { return func(c *call) { c.q.Set("wait", "applied") } }

// InTxn stages a write in the open transaction id instead of storing it.
// For writes.
func InTxn(id string) CallOption {
	return func(c *call) { c.q.Set("transaction_id", id); c.staged = true }
}

// AtRevision reads the config as it was at revision rev. For reads.
func AtRevision(rev uint64) CallOption {
	return func(c *call) { c.q.Set("revision", strconv.FormatUint(rev, 10)) }
}

// Page selects a page of a list, from 1 (default 1). For lists.
func Page(n int) CallOption { return func(c *call) { c.q.Set("page", strconv.Itoa(n)) } }

// PageSize sets the page length of a list, 1-100 (default 20). For lists.
func PageSize(n int) CallOption { return func(c *call) { c.q.Set("page_size", strconv.Itoa(n)) } }

// OrderBy orders a list: created_at_asc (default), created_at_desc,
// name_asc or name_desc. For lists.
func OrderBy(order string) CallOption { return func(c *call) { c.q.Set("order_by", order) } }

// NameContains keeps the objects of a list whose name contains s. For lists.
func NameContains(s string) CallOption { return func(c *call) { c.q.Set("name", s) } }

// ReleaseIP makes DeleteLB delete the IPs of the load balancer that no
// other one binds. For DeleteLB.
func ReleaseIP() CallOption { return func(c *call) { c.q.Set("release_ip", "true") } }

// Message sets the history message of a commit. For CommitTxn.
func Message(msg string) CallOption { return func(c *call) { c.q.Set("message", msg) } }

func newCall(opts []CallOption) *call {
	c := &call{q: url.Values{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Error is an error the API answered: Status is the HTTP status and
// Problem the problem document (synthesized from the status when the body
// was not one).
type Error struct {
	Method, Path string
	Status       int
	Problem      Problem
}

// Error reads "PUT /v1/lbs/web: 422 invalid config: <detail>".
func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, e.Problem.Title)
	if e.Problem.Detail != "" {
		msg += ": " + e.Problem.Detail
	}
	return msg
}

// Field returns the error about field (a path as the server writes it),
// if the problem names it.
func (e *Error) Field(field string) (FieldError, bool) {
	for _, f := range e.Problem.Errors {
		if f.Field == field {
			return f, true
		}
	}
	return FieldError{}, false
}

// NotAppliedError is what a write made with WaitApplied returns when it
// was stored but the data plane could not apply it (a port in use, say):
// the config holds it as Result.Revision, traffic stays on the previous
// revision, and the server retries. Result.ApplyError says why.
type NotAppliedError struct {
	Result Result
}

// Error reads "revision 7 is stored but not applied: <why>".
func (e *NotAppliedError) Error() string {
	return fmt.Sprintf("revision %d is stored but not applied: %s", e.Result.Revision, e.Result.ApplyError)
}

// StatusOf returns the HTTP status of an API error in err's chain, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// maxErrorBody bounds how much of an error body is read.
const maxErrorBody = 1 << 20

// body is a request body and its media type.
type body struct {
	r           io.Reader
	contentType string
}

func jsonBody(v any) (*body, error) {
	switch b := v.(type) {
	case json.RawMessage:
		return &body{bytes.NewReader(b), "application/json"}, nil
	case []byte:
		return &body{bytes.NewReader(b), "application/json"}, nil
	}
	js, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("client: encoding the request: %w", err)
	}
	return &body{bytes.NewReader(js), "application/json"}, nil
}

// do sends one request to path (already escaped) and decodes a 2xx JSON answer into out (unless out
// is nil or the answer has no body). It returns the revision of the ETag.
func (c *Client) do(ctx context.Context, method, path string, cl *call, in *body, out any) (uint64, error) {
	u := c.base + path
	if q := cl.q.Encode(); q != "" {
		u += "?" + q
	}
	var rd io.Reader
	if in != nil {
		rd = in.r
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", in.contentType)
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.ua != "" {
		req.Header.Set("User-Agent", c.ua)
	}
	if cl.hasIf {
		req.Header.Set("If-Match", `"`+strconv.FormatUint(cl.ifMatch, 10)+`"`)
	}
	return c.send(req, path, out)
}

func (c *Client) send(req *http.Request, path string, out any) (uint64, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		// *url.Error repeats the method and URL this message already has.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, fmt.Errorf("client: %s %s: %w", req.Method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return 0, readError(resp, req.Method, path)
	}
	rev := parseETag(resp.Header.Get("ETag"))
	switch resp.StatusCode {
	case http.StatusNoContent:
		return rev, nil
	case http.StatusAccepted: // only ?wait=applied answers it
		na := &NotAppliedError{Result: Result{Revision: rev}}
		if err := json.NewDecoder(resp.Body).Decode(&na.Result); err != nil {
			return rev, fmt.Errorf("client: %s %s: decoding the answer: %w", req.Method, path, err)
		}
		return rev, na
	}
	switch o := out.(type) {
	case nil:
		io.Copy(io.Discard, resp.Body)
	case *[]byte:
		if *o, err = io.ReadAll(resp.Body); err != nil {
			return rev, fmt.Errorf("client: %s %s: reading the answer: %w", req.Method, path, err)
		}
	default:
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return rev, fmt.Errorf("client: %s %s: decoding the answer: %w", req.Method, path, err)
		}
	}
	return rev, nil
}

// parseETag reads `"12"` (or W/"12") as revision 12, anything else as 0.
func parseETag(s string) uint64 {
	n, err := strconv.ParseUint(strings.Trim(strings.TrimPrefix(s, "W/"), `"`), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func readError(resp *http.Response, method, path string) error {
	e := &Error{Method: method, Path: path, Status: resp.StatusCode}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/problem+json" || mt == "application/json" {
		if json.Unmarshal(raw, &e.Problem) == nil && e.Problem.Status != 0 {
			return e
		}
	}
	// Not a problem document: a proxy in between, or not gantry.
	e.Problem = Problem{Type: "about:blank", Title: strings.ToLower(http.StatusText(resp.StatusCode)), Status: resp.StatusCode,
		Detail: strings.TrimSpace(string(raw))}
	if len(e.Problem.Detail) > 512 {
		e.Problem.Detail = e.Problem.Detail[:512] + "..."
	}
	return e
}
