package jwtauth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/keygate/keygate/config"
)

// TestKeySources: keys from a configured jwks_url or from discovery; a
// discovery document that sends keygate for keys over plain http to
// another host, and a key set without a public signature key (only a
// symmetric key, or only an encryption key, under the token's kid) are
// not used: the token cannot be verified (503), never accepted.
func TestKeySources(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub := jose.JSONWebKey{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}
	for _, tt := range []struct {
		name      string
		configure bool // jwks_url in the config, else discovery
		jwksURI   string
		keys      []jose.JSONWebKey
		want      error
	}{
		{"configured", true, "", []jose.JSONWebKey{pub}, nil},
		{"discovered", false, "", []jose.JSONWebKey{pub}, nil},
		{"discovered http elsewhere", false, "http://198.51.100.7/keys", []jose.JSONWebKey{pub}, ErrUnavailable},
		{"symmetric key only", true, "", []jose.JSONWebKey{{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "k1", Algorithm: "HS256"}}, ErrUnavailable},
		{"encryption key only", true, "", []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Use: "enc"}}, ErrUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mux := http.NewServeMux()
			srv := httptest.NewServer(mux)
			defer srv.Close()
			jwksURI := tt.jwksURI
			if jwksURI == "" {
				jwksURI = srv.URL + "/keys"
			}
			mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
				json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "jwks_uri": jwksURI, "authorization_endpoint": srv.URL + "/auth", "token_endpoint": srv.URL + "/token"})
			})
			mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
				json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: tt.keys})
			})
			is := config.JWTIssuer{Issuer: srv.URL, Audiences: []string{"api"}}
			if tt.configure {
				is.JWKSURL = srv.URL + "/keys"
			}
			cfg := config.JWT{Issuers: []config.JWTIssuer{is}}
			c := config.Config{Auth: config.Auth{JWT: cfg}}
			c.ApplyDefaults()
			v, err := New(c.Auth.JWT, Options{})
			if err != nil {
				t.Fatal(err)
			}
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			tok, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: srv.URL, Audience: jwt.Audience{"api"}, Subject: "alice", Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Verify(t.Context(), tok)
			switch {
			case tt.want == nil && (err != nil || got.User != "alice"):
				t.Errorf("got %+v, %v; want alice", got, err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("got %+v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
