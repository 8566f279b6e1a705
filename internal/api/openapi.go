package api

import "net/http"

// getOpenAPI serves the OpenAPI document of this API.
func (s *Server) getOpenAPI(w http.ResponseWriter, r *http.Request) {
	s.problem(w, r, http.StatusNotImplemented, "not implemented", "the OpenAPI document is being written", nil)
}
