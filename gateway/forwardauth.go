package gateway

import (
	"net"
	"net/http"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"

	"github.com/keygate/keygate/forwardauth"
)

// forwardAuthHandler is the public server's handler while forward_auth is
// on: check requests (forward_auth.path, forward_auth.envoy_prefix) go to
// the check endpoint, everything else to next.
type forwardAuthHandler struct {
	next  http.Handler
	check *forwardauth.Handler
}

func (f forwardAuthHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.check.Matches(r) {
		f.check.ServeHTTP(w, r)
		return
	}
	f.next.ServeHTTP(w, r)
}

// serveGRPCOn builds the ext_authz gRPC server on the bound
// forward_auth.grpc_listen; Serve serves it in the run group.
func (g *Gateway) serveGRPCOn(l net.Listener) {
	s := grpc.NewServer()
	authv3.RegisterAuthorizationServer(s, forwardauth.NewServer(g.proxy))
	g.grpcL, g.grpc = l, s
	g.onClose(s.Stop) // a no-op once drained
}

// GRPCAddr is the address of forward_auth.grpc_listen, nil without one.
func (g *Gateway) GRPCAddr() net.Addr {
	if g.grpcL == nil {
		return nil
	}
	return g.grpcL.Addr()
}
