package httpkit

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/store"
)

// who is a caller of the test API: a name, and the credential presented
// (nil: a password).
type who struct {
	name string
	id   *authz.Identity
}

func (w *who) Who() string                 { return w.name }
func (w *who) Credential() *authz.Identity { return w.id }

// TestAPI takes requests through the endpoint framework on a real
// listener: the route table (404, 405 with Allow from the table), the
// public document, authentication, the write-scope rule, a handler's
// error through the answer table, and the access log line naming the
// route and the caller.
func TestAPI(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	callers := map[string]*who{
		"Bearer pw":    {name: "alice"},
		"Bearer read":  {name: "bob", id: &authz.Identity{Scopes: []string{"read"}}},
		"Bearer write": {name: "carol", id: &authz.Identity{Scopes: []string{"read", "write"}}},
	}
	ran := 0
	api := NewAPI(Spec[*who]{
		Name: "test", CallerKey: "user", Log: zap.New(core),
		ClientAddr: func(r *http.Request) netip.Addr { return PeerAddr(r.RemoteAddr) },
		Authenticate: func(r *http.Request) (*who, error) {
			if c, ok := callers[r.Header.Get("Authorization")]; ok {
				return c, nil
			}
			if r.Header.Get("Authorization") == "Bearer dave" {
				SetCaller(r, "dave")
				return nil, &Error{Status: 403, Code: "forbidden", Description: "Not dave."}
			}
			return nil, authz.ErrNoCredential
		},
	}, []Route[*who]{
		Endpoint("GET", "/things", Signed, func(w http.ResponseWriter, r *http.Request, c *who) error {
			WriteJSON(w, 200, map[string]string{"caller": c.name})
			return nil
		}),
		Endpoint("POST", "/things", Signed, func(w http.ResponseWriter, r *http.Request, c *who) error {
			ran++
			WriteNoContent(w)
			return nil
		}),
		Endpoint("DELETE", "/things/{id}", Signed, func(w http.ResponseWriter, r *http.Request, c *who) error {
			return fmt.Errorf("get: %w", store.ErrUnavailable)
		}),
		Document[*who]("/doc.json", []byte(`{"openapi":"3.1.0"}`)),
	})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)

	for _, tc := range []struct {
		name, method, path, auth string
		status                   int
		header, want             string // a response header and its value
	}{
		{"public document", "GET", "/doc.json", "", 200, "Cache-Control", "public, max-age=300"},
		{"no caller", "GET", "/things", "", 401, "Www-Authenticate", `Basic realm="keygate"`},
		{"password", "GET", "/things", "Bearer pw", 200, "Cache-Control", "no-store"},
		{"read credential reads", "GET", "/things", "Bearer read", 200, "", ""},
		{"read credential cannot write", "POST", "/things", "Bearer read", 403, "Www-Authenticate", `Bearer realm="keygate", error="insufficient_scope", scope="write"`},
		{"write credential writes", "POST", "/things", "Bearer write", 204, "", ""},
		{"refused by name", "GET", "/things", "Bearer dave", 403, "", ""},
		{"store down", "DELETE", "/things/1", "Bearer write", 503, "Retry-After", "1"},
		{"unknown path", "GET", "/nothing", "", 404, "", ""},
		{"unserved method", "PUT", "/things", "", 405, "Allow", "GET, HEAD, POST"},
		{"path not plain", "GET", "/things/%61", "", 400, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs.TakeAll()
			before := ran
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			if tc.method == "POST" || tc.method == "PUT" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, resp.StatusCode, body, tc.status)
			}
			if tc.header != "" && resp.Header.Get(tc.header) != tc.want {
				t.Errorf("%s %q, want %q", tc.header, resp.Header.Get(tc.header), tc.want)
			}
			if tc.status == 403 && tc.method == "POST" && ran != before {
				t.Error("the handler ran without the write scope")
			}
			if !ValidRequestID(resp.Header.Get("X-Request-Id")) {
				t.Errorf("X-Request-Id %q", resp.Header.Get("X-Request-Id"))
			}
			access := logs.FilterMessage("test request").All()
			if len(access) != 1 {
				t.Fatalf("%d access log lines, want 1", len(access))
			}
			m := access[0].ContextMap()
			if m["status"] != int64(tc.status) || m["request_id"] != resp.Header.Get("X-Request-Id") {
				t.Errorf("access log %v: status or request id differ from the answer", m)
			}
			if strings.HasPrefix(tc.auth, "Bearer ") && tc.status != 401 {
				if want := map[string]string{"Bearer pw": "alice", "Bearer read": "bob", "Bearer write": "carol", "Bearer dave": "dave"}[tc.auth]; m["user"] != want {
					t.Errorf("access log user %v, want %q", m["user"], want)
				}
			}
			if tc.status == 503 && logs.FilterMessage("test request failed").FilterField(zap.String("route", "DELETE /things/{id}")).Len() != 1 {
				t.Error("a 503 without its cause logged under the route")
			}
		})
	}
	if got := api.Routes(); strings.Join(got, ",") != "GET /things,POST /things,DELETE /things/{id},GET /doc.json" {
		t.Errorf("Routes() = %q", got)
	}

}
