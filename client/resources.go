package client

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
)

// The methods below follow one pattern. Reads return the value and the
// revision it was read at (for IfMatch). Writes return the stored object and
// a Result with the new revision; a dry run or a write staged in a
// transaction returns a nil object and a Result with the diff. A write with
// WaitApplied that was stored but not applied returns a *NotAppliedError
// and the Result of the stored revision.

func lbPath(lb string) string { return "/v1/lbs/" + url.PathEscape(lb) }

func childPath(lb, kind, name string) string {
	p := lbPath(lb) + "/" + kind
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p
}

// get reads path into out and returns the revision.
func get(ctx context.Context, c *Client, path string, opts []CallOption, out any) (uint64, error) {
	return c.do(ctx, http.MethodGet, path, newCall(opts), nil, out)
}

// write sends a write whose stored answer is a T.
func write[T any](ctx context.Context, c *Client, method, path string, in any, opts []CallOption) (*T, *Result, error) {
	cl := newCall(opts)
	var b *body
	if in != nil {
		var err error
		if b, err = jsonBody(in); err != nil {
			return nil, nil, err
		}
		if method == http.MethodPatch {
			b.contentType = "application/merge-patch+json"
		}
	}
	if cl.dryRun || cl.staged {
		res, err := c.result(ctx, method, path, cl, b)
		return nil, res, err
	}
	out := new(T)
	rev, err := c.do(ctx, method, path, cl, b, out)
	if na := (*NotAppliedError)(nil); errors.As(err, &na) {
		return nil, &na.Result, err
	}
	if err != nil {
		return nil, nil, err
	}
	return out, &Result{Revision: rev}, nil
}

// result sends a request answered by a Result (or by nothing, 204).
func (c *Client) result(ctx context.Context, method, path string, cl *call, b *body) (*Result, error) {
	var res Result
	rev, err := c.do(ctx, method, path, cl, b, &res)
	if na := (*NotAppliedError)(nil); errors.As(err, &na) {
		return &na.Result, err
	}
	if err != nil {
		return nil, err
	}
	if res.Revision == 0 {
		res.Revision = rev
	}
	return &res, nil
}

func (c *Client) del(ctx context.Context, path string, opts []CallOption) (*Result, error) {
	return c.result(ctx, http.MethodDelete, path, newCall(opts), nil)
}

// ListLBs lists load balancers. Options: Page, PageSize, OrderBy,
// NameContains, AtRevision.
func (c *Client) ListLBs(ctx context.Context, opts ...CallOption) (*LBList, uint64, error) {
	var out LBList
	rev, err := get(ctx, c, "/v1/lbs", opts, &out)
	if err != nil {
		return nil, 0, err
	}
	return &out, rev, nil
}

// GetLB reads load balancer name. Options: AtRevision.
func (c *Client) GetLB(ctx context.Context, name string, opts ...CallOption) (*LB, uint64, error) {
	var out LB
	rev, err := get(ctx, c, lbPath(name), opts, &out)
	if err != nil {
		return nil, 0, err
	}
	return &out, rev, nil
}

// PutLB creates or replaces load balancer name.
func (c *Client) PutLB(ctx context.Context, name string, in LBInput, opts ...CallOption) (*LB, *Result, error) {
	return write[LB](ctx, c, http.MethodPut, lbPath(name), in, opts)
}

// PatchLB merges patch (an RFC 7386 JSON merge patch: a map, a struct or
// raw JSON) into load balancer name.
func (c *Client) PatchLB(ctx context.Context, name string, patch any, opts ...CallOption) (*LB, *Result, error) {
	return write[LB](ctx, c, http.MethodPatch, lbPath(name), patch, opts)
}

// DeleteLB deletes load balancer name with its frontends and backends.
// Its IPs are kept unless ReleaseIP is given.
func (c *Client) DeleteLB(ctx context.Context, name string, opts ...CallOption) (*Result, error) {
	return c.del(ctx, lbPath(name), opts)
}

func ipPath(addr string) string { return "/v1/ips/" + url.PathEscape(addr) }

// ListIPs lists IPs; a list's name filter matches addresses. Options as
// ListLBs.
func (c *Client) ListIPs(ctx context.Context, opts ...CallOption) (*IPList, uint64, error) {
	var out IPList
	rev, err := get(ctx, c, "/v1/ips", opts, &out)
	if err != nil {
		return nil, 0, err
	}
	return &out, rev, nil
}

// GetIP reads the IP of address addr. Options: AtRevision.
func (c *Client) GetIP(ctx context.Context, addr string, opts ...CallOption) (*IP, uint64, error) {
	var out IP
	rev, err := get(ctx, c, ipPath(addr), opts, &out)
	if err != nil {
		return nil, 0, err
	}
	return &out, rev, nil
}

// PutIP creates or replaces the IP of address addr.
func (c *Client) PutIP(ctx context.Context, addr string, in IPInput, opts ...CallOption) (*IP, *Result, error) {
	return write[IP](ctx, c, http.MethodPut, ipPath(addr), in, opts)
}

// DeleteIP deletes the IP of address addr; it fails (422) while a load
// balancer binds it.
func (c *Client) DeleteIP(ctx context.Context, addr string, opts ...CallOption) (*Result, error) {
	return c.del(ctx, ipPath(addr), opts)
}

// ListFrontends lists the frontends of lb. Options as ListLBs.
func (c *Client) ListFrontends(ctx context.Context, lb string, opts ...CallOption) (*FrontendList, uint64, error) {
	var out FrontendList
	rev, err := get(ctx, c, childPath(lb, "frontends", ""), opts, &out)
	if err != nil {
		return nil, 0, err
	}
	return &out, rev, nil
}

// GetFrontend reads frontend name of lb. Options: AtRevision.
func (c *Client) GetFrontend(ctx context.Context, lb, name string, opts ...CallOption) (*Frontend, uint64, error) {
	var out Frontend
	rev, err := get(ctx, c, childPath(lb, "frontends", name), opts, &out)
	if err != nil {
		return nil, 0, err
	}
	return &out, rev, nil
}

// PutFrontend creates or replaces frontend name of lb.
func (c *Client) PutFrontend(ctx context.Context, lb, name string, in FrontendInput, opts ...CallOption) (*Frontend, *Result, error) {
	return write[Frontend](ctx, c, http.MethodPut, childPath(lb, "frontends", name), in, opts)
}

// PatchFrontend merges patch (a JSON merge patch over FrontendInput's
// fields) into frontend name of lb.
func (c *Client) PatchFrontend(ctx context.Context, lb, name string, patch any, opts ...CallOption) (*Frontend, *Result, error) {
	return write[Frontend](ctx, c, http.MethodPatch, childPath(lb, "frontends", name), patch, opts)
}

// DeleteFrontend deletes frontend name of lb.
func (c *Client) DeleteFrontend(ctx context.Context, lb, name string, opts ...CallOption) (*Result, error) {
	return c.del(ctx, childPath(lb, "frontends", name), opts)
}

// ListBackends lists the backends of lb. Options as ListLBs.
func (c *Client) ListBackends(ctx context.Context, lb string, opts ...CallOption) (*BackendList, uint64, error) {
	var out BackendList
	rev, err := get(ctx, c, childPath(lb, "backends", ""), opts, &out)
	if err != nil {
		return nil, 0, err
	}
	return &out, rev, nil
}

// GetBackend reads backend name of lb. Options: AtRevision.
func (c *Client) GetBackend(ctx context.Context, lb, name string, opts ...CallOption) (*Backend, uint64, error) {
	var out Backend
	rev, err := get(ctx, c, childPath(lb, "backends", name), opts, &out)
	if err != nil {
		return nil, 0, err
	}
	return &out, rev, nil
}

// PutBackend creates or replaces backend name of lb.
func (c *Client) PutBackend(ctx context.Context, lb, name string, in BackendInput, opts ...CallOption) (*Backend, *Result, error) {
	return write[Backend](ctx, c, http.MethodPut, childPath(lb, "backends", name), in, opts)
}

// PatchBackend merges patch (a JSON merge patch over Backend's fields)
// into backend name of lb.
func (c *Client) PatchBackend(ctx context.Context, lb, name string, patch any, opts ...CallOption) (*Backend, *Result, error) {
	return write[Backend](ctx, c, http.MethodPatch, childPath(lb, "backends", name), patch, opts)
}

// DeleteBackend deletes backend name of lb.
func (c *Client) DeleteBackend(ctx context.Context, lb, name string, opts ...CallOption) (*Result, error) {
	return c.del(ctx, childPath(lb, "backends", name), opts)
}

func routePath(lb, frontend, name string) string {
	p := childPath(lb, "frontends", frontend) + "/routes"
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p
}

func healthPath(lb, backend string) string {
	return childPath(lb, "backends", backend) + "/healthcheck"
}

// ListRoutes lists every route of frontend frontend of lb, in order, with
// its index. Options: AtRevision.
func (c *Client) ListRoutes(ctx context.Context, lb, frontend string, opts ...CallOption) (*RouteList, uint64, error) {
	var out RouteList
	rev, err := get(ctx, c, routePath(lb, frontend, ""), opts, &out)
	if err != nil {
		return nil, 0, err
	}
	return &out, rev, nil
}

// GetRoute reads the route called name of frontend frontend of lb.
// Options: AtRevision.
func (c *Client) GetRoute(ctx context.Context, lb, frontend, name string, opts ...CallOption) (*IndexedRoute, uint64, error) {
	var out IndexedRoute
	rev, err := get(ctx, c, routePath(lb, frontend, name), opts, &out)
	if err != nil {
		return nil, 0, err
	}
	return &out, rev, nil
}

// PutRoute creates or replaces the route called name of frontend frontend
// of lb, and moves it to in.Index if set.
func (c *Client) PutRoute(ctx context.Context, lb, frontend, name string, in RouteInput, opts ...CallOption) (*IndexedRoute, *Result, error) {
	return write[IndexedRoute](ctx, c, http.MethodPut, routePath(lb, frontend, name), in, opts)
}

// DeleteRoute deletes the route called name of frontend frontend of lb.
func (c *Client) DeleteRoute(ctx context.Context, lb, frontend, name string, opts ...CallOption) (*Result, error) {
	return c.del(ctx, routePath(lb, frontend, name), opts)
}

func aclPath(lb, frontend, name string) string {
	p := childPath(lb, "frontends", frontend) + "/acls"
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p
}

// ListACLs lists the ACLs of frontend frontend of lb in the order they
// apply: ascending index, then name. Options: Page, PageSize, NameContains,
// AtRevision.
func (c *Client) ListACLs(ctx context.Context, lb, frontend string, opts ...CallOption) (*ACLList, uint64, error) {
	var out ACLList
	rev, err := get(ctx, c, aclPath(lb, frontend, ""), opts, &out)
	if err != nil {
		return nil, 0, err
	}
	return &out, rev, nil
}

// GetACL reads the ACL called name of frontend frontend of lb. Options:
// AtRevision.
func (c *Client) GetACL(ctx context.Context, lb, frontend, name string, opts ...CallOption) (*ACL, uint64, error) {
	var out ACL
	rev, err := get(ctx, c, aclPath(lb, frontend, name), opts, &out)
	if err != nil {
		return nil, 0, err
	}
	return &out, rev, nil
}

// PutACL creates or replaces the ACL called name of frontend frontend of
// lb; in.Name may be empty.
func (c *Client) PutACL(ctx context.Context, lb, frontend, name string, in ACL, opts ...CallOption) (*ACL, *Result, error) {
	return write[ACL](ctx, c, http.MethodPut, aclPath(lb, frontend, name), in, opts)
}

// PatchACL merges patch (a JSON merge patch over ACL's fields) into the
// ACL called name of frontend frontend of lb.
func (c *Client) PatchACL(ctx context.Context, lb, frontend, name string, patch any, opts ...CallOption) (*ACL, *Result, error) {
	return write[ACL](ctx, c, http.MethodPatch, aclPath(lb, frontend, name), patch, opts)
}

// DeleteACL deletes the ACL called name of frontend frontend of lb.
func (c *Client) DeleteACL(ctx context.Context, lb, frontend, name string, opts ...CallOption) (*Result, error) {
	return c.del(ctx, aclPath(lb, frontend, name), opts)
}

// GetHealthCheck reads the health check of backend backend of lb (404 when
// it has none). Options: AtRevision.
func (c *Client) GetHealthCheck(ctx context.Context, lb, backend string, opts ...CallOption) (*HealthCheck, uint64, error) {
	var out HealthCheck
	rev, err := get(ctx, c, healthPath(lb, backend), opts, &out)
	if err != nil {
		return nil, 0, err
	}
	return &out, rev, nil
}

// PutHealthCheck replaces the health check of backend backend of lb with
// in (Scaleway's shape), leaving the rest of the backend as it is.
func (c *Client) PutHealthCheck(ctx context.Context, lb, backend string, in HealthCheck, opts ...CallOption) (*HealthCheck, *Result, error) {
	return write[HealthCheck](ctx, c, http.MethodPut, healthPath(lb, backend), in, opts)
}

// PutHealthCheckOption is PutHealthCheck with seed 004's shape
// ({type, path, method, port, expected_code, host_header}).
func (c *Client) PutHealthCheckOption(ctx context.Context, lb, backend string, in HealthCheckOption, opts ...CallOption) (*HealthCheck, *Result, error) {
	return write[HealthCheck](ctx, c, http.MethodPut, healthPath(lb, backend), in, opts)
}

// DeleteHealthCheck removes the health check of backend backend of lb.
func (c *Client) DeleteHealthCheck(ctx context.Context, lb, backend string, opts ...CallOption) (*Result, error) {
	return c.del(ctx, healthPath(lb, backend), opts)
}

// Format is a media type of the whole config.
type Format string

// Formats of GetConfig.
const (
	JSON Format = "json"
	YAML Format = "yaml"
)

// GetConfig reads the whole desired state as a JSON or YAML document (the
// model of docs/config.md) and its revision. Options: AtRevision.
func (c *Client) GetConfig(ctx context.Context, format Format, opts ...CallOption) ([]byte, uint64, error) {
	if format == YAML {
		opts = append(opts[:len(opts):len(opts)], func(c *call) { c.q.Set("format", "yaml") })
	}
	var out []byte
	rev, err := get(ctx, c, "/v1/config", opts, &out)
	if err != nil {
		return nil, 0, err
	}
	return out, rev, nil
}

// PutConfig replaces the whole desired state with doc, JSON or YAML (like
// kubectl apply). Options: IfMatch, DryRun, WaitApplied.
func (c *Client) PutConfig(ctx context.Context, doc []byte, opts ...CallOption) (*Result, error) {
	return c.result(ctx, http.MethodPut, "/v1/config", newCall(opts), &body{bytes.NewReader(doc), "application/yaml"})
}

// History lists up to limit revisions (0: the server's default, 20) older
// than before (0: from the newest), newest first.
func (c *Client) History(ctx context.Context, limit int, before uint64) ([]HistoryEntry, error) {
	cl := newCall(nil)
	if limit > 0 {
		cl.q.Set("limit", strconv.Itoa(limit))
	}
	if before > 0 {
		cl.q.Set("before", strconv.FormatUint(before, 10))
	}
	var out History
	if _, err := c.do(ctx, http.MethodGet, "/v1/history", cl, nil, &out); err != nil {
		return nil, err
	}
	return out.Revisions, nil
}

// Rollback makes a new revision whose config equals revision rev.
// Options: IfMatch, DryRun, WaitApplied.
func (c *Client) Rollback(ctx context.Context, rev uint64, opts ...CallOption) (*Result, error) {
	b, err := jsonBody(struct {
		Revision uint64 `json:"revision"`
	}{rev})
	if err != nil {
		return nil, err
	}
	return c.result(ctx, http.MethodPost, "/v1/rollback", newCall(opts), b)
}

// BeginTxn opens a transaction on revision version (0: the newest). It
// fails with 412 if version is not the newest revision.
func (c *Client) BeginTxn(ctx context.Context, version uint64) (*Transaction, error) {
	cl := newCall(nil)
	if version > 0 {
		cl.q.Set("version", strconv.FormatUint(version, 10))
	}
	var out Transaction
	if _, err := c.do(ctx, http.MethodPost, "/v1/transactions", cl, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetTxn reads open transaction id.
func (c *Client) GetTxn(ctx context.Context, id string) (*Transaction, error) {
	var out Transaction
	if _, err := get(ctx, c, "/v1/transactions/"+url.PathEscape(id), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CommitTxn stores everything staged in transaction id as one revision. It
// fails with 409 if another write landed since the transaction began (the
// transaction is then gone), and with 422 if the result is invalid (it
// stays open). Options: DryRun, WaitApplied, Message.
func (c *Client) CommitTxn(ctx context.Context, id string, opts ...CallOption) (*Result, error) {
	return c.result(ctx, http.MethodPut, "/v1/transactions/"+url.PathEscape(id), newCall(opts), nil)
}

// AbortTxn discards transaction id.
func (c *Client) AbortTxn(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/transactions/"+url.PathEscape(id), newCall(nil), nil, nil)
	return err
}

// Status reads the stored revision and the revision the data plane runs.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var out Status
	if _, err := get(ctx, c, "/v1/status", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Stats returns the live state of every server of the LB's backends, as
// the data plane runs them now.
func (c *Client) Stats(ctx context.Context, lb string) (*StatsList, error) {
	var out StatsList
	if _, err := get(ctx, c, lbPath(lb)+"/stats", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
