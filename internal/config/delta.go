package config

// Delta says what changed between two configs, object by object, so that
// only that is checked and compiled: control makes it (State.Since) and
// hands it to the dry run, and the data plane compiles the next snapshot
// from it (snapshot.Check and Compiled.Update). A nil *Delta means
// "unknown": compile everything.
//
// A Delta is immutable once made, and may be shared.
type Delta struct {
	// LBs are the load balancers with a change, by name: created,
	// deleted, or with a changed field, frontend, backend or route. An LB
	// that is absent did not change.
	LBs map[string]*LBDelta
	// IPs is true when an IP object changed.
	IPs bool
	// Certificates is true when a certificate object changed.
	Certificates bool
}

// LBDelta is what changed in one load balancer.
type LBDelta struct {
	// Fields is true when the LB was created or deleted, or one of its
	// own fields (name, addresses, tags...) changed.
	Fields bool
	// Backends are the backends created, changed or deleted, by name.
	Backends map[string]bool
	// Frontends are the frontends created, changed or deleted, by name.
	Frontends map[string]*FrontendDelta
}

// FrontendDelta is what changed in one frontend.
type FrontendDelta struct {
	// Fields is true when the frontend was created or deleted or one of
	// its fields other than its routes changed: compile it whole.
	Fields bool
	// Routes, when Fields is false, is the part of the route list that
	// changed (nil: none did).
	Routes *RouteSpan
}

// RouteSpan says that routes [From, OldTo) of the old list became routes
// [From, NewTo) of the new one; the routes before From and from OldTo on
// (NewTo on in the new list) are the same in both.
type RouteSpan struct {
	From, OldTo, NewTo int
}
