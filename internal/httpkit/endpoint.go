package httpkit

import (
	"context"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/audit"
)

// Access is who may call a route.
type Access uint8

const (
	// Public: anyone (an OpenAPI document).
	Public Access = iota
	// Signed: a caller the API's Authenticate accepts; the handler gets
	// them.
	Signed
	// Self: the handler authenticates the caller itself (an OAuth client,
	// RFC 6749 §2.3, or, for introspection, a client or a user).
	Self
)

// Principal is who an API's Authenticate accepted.
type Principal interface {
	// Who names them in the access log.
	Who() string
	// Credential is the credential they presented; nil after a password
	// (or the admin token), which the write-scope rule does not narrow.
	Credential() *authz.Identity
}

// A Principal may have an AuthMethod() string method naming how it
// authenticated in audit lines; without one it is the kind of its
// Credential, or "password".

// Route is one endpoint of an API: the method and ServeMux pattern, who
// may call it and what serves it. Serve's error is answered through
// FromAuthz (an *Error as it is).
type Route[C Principal] struct {
	Method, Pattern string
	Access          Access
	Serve           func(w http.ResponseWriter, r *http.Request, c C) error
}

// Document is the public route that serves an API's published JSON
// document (its OpenAPI document) at pattern, GET (and HEAD).
func Document[C Principal](pattern string, doc []byte) Route[C] {
	return Endpoint(http.MethodGet, pattern, Public, func(w http.ResponseWriter, r *http.Request, _ C) error {
		WriteDocument(w, r, doc)
		return nil
	})
}

// Spec is what an API tells the framework besides its routes.
type Spec[C Principal] struct {
	// Name names the API in its log lines: "<Name> request" (the access
	// log) and "<Name> request failed" (a 5xx's cause).
	Name string
	// Via names the API in audit lines ("admin_api", "self_service").
	Via string
	// CallerKey is the access log's field for the caller ("user").
	CallerKey string
	// PathChars are the characters the API's paths may hold besides
	// letters, digits and - . _ ~ (see PlainPath).
	PathChars string
	// Log receives the access log and the causes of 5xx answers.
	Log *zap.Logger
	// ClientAddr is the address a request is attributed to, for the log.
	ClientAddr func(r *http.Request) netip.Addr
	// Authenticate finds the caller of a Signed route; its error is
	// answered (an *Error as it is). Before refusing a caller it knows,
	// it may name them for the log with SetCaller.
	Authenticate func(r *http.Request) (C, error)
}

// API serves one JSON API from its route table. Every request goes the
// same way: a request id (the client's X-Request-Id when well-formed,
// else a new one; echoed back) → the path check (plain ASCII paths only:
// one spelling of every resource) → the Content-Type check of a
// state-changing request → the route (404, or 405 with Allow) →
// authentication for a Signed route → the write-scope rule (a credential
// changes things only with the write scope, as on a proxied route) → the
// handler → its error answered → one access log line.
type API[C Principal] struct {
	spec   Spec[C]
	mux    *http.ServeMux
	routes []Route[C]
}

// methods are the methods an API may serve, in the order an Allow header
// lists them.
var methods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// NewAPI builds an API from its spec and route table.
func NewAPI[C Principal](spec Spec[C], routes []Route[C]) *API[C] {
	if spec.Log == nil {
		spec.Log = zap.NewNop()
	}
	a := &API[C]{spec: spec, mux: http.NewServeMux(), routes: routes}
	var served []string
	for _, rt := range routes {
		a.mux.Handle(rt.Method+" "+rt.Pattern, a.endpoint(rt))
	}
	for _, m := range methods {
		if slices.ContainsFunc(routes, func(rt Route[C]) bool { return rt.Method == m }) {
			served = append(served, m)
		}
	}
	a.mux.HandleFunc("/", NotServed(a.mux, served...))
	return a
}

// Routes lists the API's routes as "METHOD pattern", in table order (for
// the tests that hold the OpenAPI document to them).
func (a *API[C]) Routes() []string {
	out := make([]string, 0, len(a.routes))
	for _, rt := range a.routes {
		out = append(out, rt.Method+" "+rt.Pattern)
	}
	return out
}

// ServeHTTP answers one request of the API (see API).
func (a *API[C]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	st := &reqState{}
	r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
	id, status := Serve(w, r, a.spec.PathChars, a.mux)
	if ce := a.spec.Log.Check(zapcore.InfoLevel, a.spec.Name+" request"); ce != nil {
		ce.Write(
			zap.String("request_id", id),
			zap.String("method", r.Method),
			zap.String("route", st.pattern),
			zap.Int("status", status),
			zap.Duration("duration", time.Since(start)),
			zap.String(a.spec.CallerKey, st.caller),
			zap.String("client", a.spec.ClientAddr(r).String()),
		)
	}
}

// endpoint wraps a route: the caller where the route needs one, the
// write-scope rule, the route, and its error.
func (a *API[C]) endpoint(rt Route[C]) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := stateOf(r.Context())
		st.pattern = rt.Method + " " + rt.Pattern
		var c C
		actor := audit.Actor{Via: a.spec.Via, Client: a.spec.ClientAddr(r).String(), RequestID: w.Header().Get("X-Request-Id")}
		if rt.Access == Signed {
			var err error
			if c, err = a.spec.Authenticate(r); err != nil {
				a.Fail(w, r, err)
				return
			}
			st.caller = c.Who()
			actor.Name, actor.Auth = c.Who(), "password"
			if id := c.Credential(); id != nil {
				actor.Auth, actor.CredentialID = string(id.Kind), id.CredentialID
			}
			if m, ok := any(c).(interface{ AuthMethod() string }); ok {
				actor.Auth = m.AuthMethod()
			}
			if id := c.Credential(); rt.Method != http.MethodGet && id != nil && !slices.Contains(id.Scopes, ScopeWrite) {
				a.Fail(w, r, Insufficient(ScopeWrite))
				return
			}
		}
		// The changes the route makes are the caller's in audit lines; a
		// Self route names its caller with audit.WithActor itself.
		r = r.WithContext(audit.WithActor(r.Context(), actor))
		if err := rt.Serve(w, r, c); err != nil {
			a.Fail(w, r, err)
		}
	})
}

// Fail writes an endpoint's error through FromAuthz and logs the internal
// cause of a 5xx (a 503 at warn level: the store is down, and authz and
// the store say more).
func (a *API[C]) Fail(w http.ResponseWriter, r *http.Request, err error) {
	e := FromAuthz(err)
	if e.Status >= 500 {
		level := zapcore.ErrorLevel
		if e.Status == http.StatusServiceUnavailable {
			level = zapcore.WarnLevel
		}
		if ce := a.spec.Log.Check(level, a.spec.Name+" request failed"); ce != nil {
			ce.Write(zap.String("request_id", w.Header().Get("X-Request-Id")), zap.String("method", r.Method),
				zap.String("route", RoutePattern(r)), zap.Int("status", e.Status), zap.Error(e.Cause))
		}
	}
	WriteError(w, e)
}

// reqState is what the access log line needs from deeper down.
type reqState struct {
	pattern string
	caller  string
}

type stateKey struct{}

func stateOf(ctx context.Context) *reqState {
	if st, ok := ctx.Value(stateKey{}).(*reqState); ok {
		return st
	}
	return &reqState{}
}

// SetCaller names the caller of r in the access log line: for a route
// that authenticates its caller itself, or a caller refused by name.
func SetCaller(r *http.Request, name string) { stateOf(r.Context()).caller = name }

// RoutePattern is the route r matched ("METHOD pattern"), for log lines;
// "" before the route is known.
func RoutePattern(r *http.Request) string { return stateOf(r.Context()).pattern }

// Endpoint is a row of a route table: method, pattern, who may call it and
// what serves it.
func Endpoint[C Principal](method, pattern string, access Access, serve func(w http.ResponseWriter, r *http.Request, c C) error) Route[C] {
	return Route[C]{Method: method, Pattern: pattern, Access: access, Serve: serve}
}
