package selfservice

// Routes lists the handler's endpoints as "METHOD pattern", for the test
// that holds them against the OpenAPI document.
func (h *Handler) Routes() []string {
	out := make([]string, 0, len(h.routes))
	for _, rt := range h.routes {
		out = append(out, rt.method+" "+rt.pattern)
	}
	return out
}
