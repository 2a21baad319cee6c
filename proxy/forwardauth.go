package proxy

import (
	"net/http"

	"github.com/keygate/keygate/internal/httpkit"
)

// mode tells a proxied request from a forward-auth check: the mode label
// of the request metrics and the mode field of the access log.
type mode uint8

const (
	modeProxy mode = iota
	modeCheck
)

// Check decides r, the original request an ingress asks about (rebuilt
// by the forwardauth package from the check request: its method, URI,
// Host and headers, the ingress's address as RemoteAddr), exactly as
// ServeHTTP would decide it — route table, path canonicalisation and
// refusals, credential, API set and scope, failure limit, rate limits
// and quotas, metrics and access log with mode forward_auth — but
// proxies nothing. Routes without an upstream are checked too.
//
// Allowed, it answers 200 with an empty body and the identity headers
// of auth.upstream_identity for the ingress to copy upstream, and
// reports whether the route lets the Authorization header through
// (forward_authorization); otherwise it writes the refusal ServeHTTP
// would have written (401 with the challenges, 403, 404, 429 and 503
// with Retry-After...) and reports false. The credential is never part of
// an answer.
func (h *Handler) Check(w http.ResponseWriter, r *http.Request) (keepAuthorization bool) {
	return h.handle(w, r, modeCheck, nil)
}

// Refuse answers a check request that could not be turned into an
// original request (an untrusted peer, a missing or malformed
// X-Forwarded-* header) with e, counted and logged like a check refused
// before a route matched.
func (h *Handler) Refuse(w http.ResponseWriter, r *http.Request, e *httpkit.Error) {
	h.handle(w, r, modeCheck, e)
}

// TrustedPeer reports whether remoteAddr (an http.Request's RemoteAddr)
// is in trusted_proxies: the only peers whose check requests are
// answered.
func (h *Handler) TrustedPeer(remoteAddr string) bool {
	s := h.state.Load()
	return len(s.trusted) > 0 && s.trusted.contains(peerAddr(remoteAddr))
}

// allowCheck is a check's answer once every step passed: 200, no body, the
// identity headers (as the upstream would have received them) and the
// rate-limit headers serve has set.
func allowCheck(w http.ResponseWriter, rt *Route, ex *exchange) {
	h := w.Header()
	h["Cache-Control"] = hdrNoStore
	if id := ex.identity; id != nil {
		rt.identity.set(h, id.HeaderValues())
	}
	h["Content-Length"] = hdrZero
	w.WriteHeader(http.StatusOK)
}

// Shared, read-only header values of allowCheck.
var (
	hdrNoStore = []string{"no-store"}
	hdrZero    = []string{"0"}
)
