package gateway

import "net/http"

// accountHandler is the public server's handler while the account pages
// are on: requests at account.path or below it (on a segment boundary, as
// sent) go to the pages, everything else to next (the self-service
// dispatch or the proxy). As with the self-service paths, a path that
// only canonicalises to the account path (/%61ccount) goes to the proxy,
// which matches no route there (the config refuses overlapping routes)
// and answers 404.
type accountHandler struct {
	next    http.Handler
	path    string
	account http.Handler
}

func (a accountHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if under(r, a.path) {
		a.account.ServeHTTP(w, r)
		return
	}
	a.next.ServeHTTP(w, r)
}

// under reports whether the request path, as sent, is prefix or below it.
func under(r *http.Request, prefix string) bool {
	p := r.RequestURI
	if p == "" || p[0] != '/' {
		p = r.URL.EscapedPath() // absolute-form request target
	}
	return len(p) >= len(prefix) && p[:len(prefix)] == prefix &&
		(len(p) == len(prefix) || p[len(prefix)] == '/' || p[len(prefix)] == '?')
}
