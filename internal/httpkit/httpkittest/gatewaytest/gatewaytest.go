// Package gatewaytest runs a whole keygate for the tests whose flows
// cross front ends (the proxied route, the API, the account pages, the
// admin listener). A test of one front end builds it on
// httpkittest.Core instead.
package gatewaytest

import (
	"context"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/gateway"
	"github.com/keygate/keygate/internal/echo"
	"github.com/keygate/keygate/internal/httpkit/httpkittest"
)

// Upstream is an echo upstream on a real listener (internal/echo), for
// the proxied routes; its URL.
func Upstream(t *testing.T) string {
	t.Helper()
	up := httptest.NewServer(echo.Handler{})
	t.Cleanup(up.Close)
	return up.URL
}

// Gateway runs a whole keygate on loopback ports (listen and admin_listen
// are set, the access log is off), for the flows that cross front ends
// (the proxied route, the account pages, the admin listener); y is the
// rest of the config. It is stopped when the test ends.
func Gateway(t *testing.T, y string, log *zap.Logger) (*gateway.Gateway, *config.Config) {
	t.Helper()
	cfg := httpkittest.Config(t, "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nhealth_listen: 127.0.0.1:0\nlog: {access_log: false}\n"+y)
	if log == nil {
		log = zap.NewNop()
	}
	g, err := gateway.New(context.Background(), cfg, gateway.Options{Logger: log})
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	if err := g.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return g, cfg
}
