package selfservice_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// metadata is the RFC 8414 document, as a discovering client reads it.
type metadata struct {
	Issuer                 string   `json:"issuer"`
	TokenEndpoint          string   `json:"token_endpoint"`
	RevocationEndpoint     string   `json:"revocation_endpoint"`
	IntrospectionEndpoint  string   `json:"introspection_endpoint"`
	GrantTypes             []string `json:"grant_types_supported"`
	TokenEndpointAuth      []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuth []string `json:"revocation_endpoint_auth_methods_supported"`
	Scopes                 []string `json:"scopes_supported"`
}

// TestDiscovery: a client configured with nothing but keygate's address
// does what openid-client's discovery does: it reads
// /.well-known/oauth-authorization-server (RFC 8414), checks the issuer
// is the address it asked (§3.3), gets a token with golang.org/x/oauth2's
// client credentials flow from the discovered token endpoint (with
// client_secret_post, openid-client's default), calls a proxied route,
// and introspects and revokes the token at the discovered endpoints, as
// the same client.
func TestDiscovery(t *testing.T) {
	e := newEnv(t, "embedded", "")
	alice := e.user(t, "alice", []string{"orders", "billing"}, []string{"read", "write"})
	id, secret := e.createClient(t, alice, `{"resourceIds": ["orders"]}`)
	client := e.doc.Client(t) // every call is checked against openapi.json

	r := e.call(t, "GET", "/.well-known/oauth-authorization-server", "", "", "")
	want(t, "metadata", r, 200)
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("metadata Cache-Control %q, want no-store (the issuer follows the Host)", cc)
	}
	var md metadata
	if err := json.Unmarshal(r.Body, &md); err != nil {
		t.Fatal(err)
	}
	if md.Issuer != e.base {
		t.Fatalf("issuer %q, want the address asked, %q (RFC 8414 §3.3)", md.Issuer, e.base)
	}
	for _, c := range []struct{ name, got, want string }{
		{"token_endpoint", md.TokenEndpoint, e.base + "/oauth/token"},
		{"revocation_endpoint", md.RevocationEndpoint, e.base + "/oauth/revoke"},
		{"introspection_endpoint", md.IntrospectionEndpoint, e.base + "/oauth/introspect"},
	} {
		if c.got != c.want {
			t.Errorf("%s %q, want %q", c.name, c.got, c.want)
		}
	}
	if !slices.Contains(md.GrantTypes, "client_credentials") || !slices.Contains(md.TokenEndpointAuth, "client_secret_post") ||
		!slices.Contains(md.RevocationEndpointAuth, "client_secret_post") || !slices.Equal(md.Scopes, []string{"read", "write"}) {
		t.Errorf("metadata %s", r.Body)
	}

	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, client)
	cc := &clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: md.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("token from the discovered endpoint: %v", err)
	}
	bearer := "Bearer " + tok.AccessToken
	want(t, "proxied route with the discovered client's token", e.call(t, "GET", "/orders/1", bearer, "", ""), 200)

	post := func(endpoint string, form url.Values) response {
		t.Helper()
		form.Set("client_id", id)
		form.Set("client_secret", secret)
		req, _ := http.NewRequestWithContext(t.Context(), "POST", endpoint, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m json.RawMessage
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return response{Status: resp.StatusCode, Header: resp.Header, Body: m}
	}
	r = post(md.IntrospectionEndpoint, url.Values{"token": {tok.AccessToken}})
	if m := r.JSON(t); r.Status != 200 || m["active"] != true || m["client_id"] != id {
		t.Fatalf("introspection with client_secret_post: %s", r)
	}
	r = post(md.RevocationEndpoint, url.Values{"token": {tok.AccessToken}})
	if r.Status != 200 || string(r.Body) != "{}" || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("revocation with client_secret_post: %s %q, want 200 application/json {}", r, r.Header.Get("Content-Type"))
	}
	want(t, "proxied route after revocation", e.call(t, "GET", "/orders/1", bearer, "", ""), 401)
	if r = post(md.IntrospectionEndpoint, url.Values{"token": {tok.AccessToken}}); r.JSON(t)["active"] != false {
		t.Errorf("introspection after revocation: %s", r)
	}
}

// TestMetadataIssuerScheme: the issuer is https when a trusted proxy says
// the client used https (X-Forwarded-Proto), and the same header from an
// address that is not a trusted proxy changes nothing.
func TestMetadataIssuerScheme(t *testing.T) {
	for _, c := range []struct {
		name, extra, want string
	}{
		{"trusted proxy", "trusted_proxies: [127.0.0.1/32]\n", "https://"},
		{"not trusted", "", "http://"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newAPI(t, "embedded", c.extra)
			req, _ := http.NewRequestWithContext(t.Context(), "GET", e.base+"/.well-known/oauth-authorization-server", nil)
			req.Header.Set("X-Forwarded-Proto", "https")
			resp, err := e.doc.Client(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var md metadata
			if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
				t.Fatal(err)
			}
			host := strings.TrimPrefix(e.base, "http://")
			if md.Issuer != c.want+host || md.TokenEndpoint != c.want+host+"/oauth/token" {
				t.Errorf("issuer %q, token endpoint %q; want %s%s", md.Issuer, md.TokenEndpoint, c.want, host)
			}
		})
	}
}
