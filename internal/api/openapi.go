package api

import (
	_ "embed"
	"net/http"
	"strconv"
)

// openAPIDoc is the OpenAPI 3.1 document of the native API, written by hand
// next to the handlers. openapi_test.go fails when it and the routes this
// package registers disagree, or when it does not describe what the
// server actually answers.
//
//go:embed openapi.json
var openAPIDoc []byte

// getOpenAPI serves the OpenAPI document. It needs a token like every other
// route (ServeHTTP authenticates before dispatching), and carries the
// revision as ETag like every other response, so a client can treat all
// routes alike.
func (s *Server) getOpenAPI(w http.ResponseWriter, r *http.Request) {
	rev, err := s.ctl.Revision(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(openAPIDoc)))
	w.Header().Set("ETag", etag(rev))
	w.WriteHeader(http.StatusOK)
	w.Write(openAPIDoc)
}
