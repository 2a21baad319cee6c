package gateway

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// checkRequest is an ext_authz CheckRequest as Envoy sends it for a
// request from 203.0.113.9.
func checkRequest(method, path, authorization string, more ...string) *authv3.CheckRequest {
	h := map[string]string{":method": method, ":path": path, ":authority": "api.example", "user-agent": "test"}
	if authorization != "" {
		h["authorization"] = authorization
	}
	for i := 0; i+1 < len(more); i += 2 {
		h[more[i]] = more[i+1]
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "203.0.113.9", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 40000}}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: method, Path: path, Host: "api.example", Headers: h,
		}},
	}}
}

// TestForwardAuthGRPC: the ext_authz v3 service on its own listener, asked
// by the generated gRPC client over a real connection: an allowed request
// gets the identity headers and the removal of Authorization and of a
// client-sent X-Keygate-* header; denials carry keygate's status,
// challenge, Retry-After and JSON body; the client's deadline is kept;
// with Redis stopped the answer is 503.
func TestForwardAuthGRPC(t *testing.T) {
	f := newFwdFixture(t)
	conn, err := grpc.NewClient(f.g.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := authv3.NewAuthorizationClient(conn)
	check := func(t *testing.T, req *authv3.CheckRequest) *authv3.CheckResponse {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		resp, err := client.Check(ctx, req)
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		if strings.Contains(resp.String(), f.read) {
			t.Errorf("the answer echoes the credential: %v", resp)
		}
		return resp
	}
	bearer := "Bearer " + f.read

	t.Run("allowed", func(t *testing.T) {
		resp := check(t, checkRequest("GET", "/orders/1?x=1", bearer, "x-keygate-credential-id", "forged"))
		ok := resp.GetOkResponse()
		if codes.Code(resp.GetStatus().GetCode()) != codes.OK || ok == nil {
			t.Fatalf("got %v, want OK", resp)
		}
		set := map[string]string{}
		for _, h := range ok.GetHeaders() {
			set[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
		}
		if set["x-keygate-user"] != "reader" || set["x-keygate-scopes"] != "read" {
			t.Errorf("headers set %v, want x-keygate-user reader and x-keygate-scopes read", set)
		}
		removed := strings.Join(ok.GetHeadersToRemove(), ",")
		if !strings.Contains(removed, "authorization") || !strings.Contains(removed, "x-keygate-credential-id") {
			t.Errorf("headers_to_remove %q, want authorization and the client's x-keygate-credential-id", removed)
		}
	})
	t.Run("header_map with raw values", func(t *testing.T) {
		// Envoy with encode_raw_headers sends header_map, not headers.
		raw := func(req *authv3.CheckRequest) *authv3.CheckRequest {
			hr := req.GetAttributes().GetRequest().GetHttp()
			hm := &corev3.HeaderMap{}
			for k, v := range hr.GetHeaders() {
				hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: k, RawValue: []byte(v)})
			}
			hr.Headers, hr.HeaderMap = nil, hm
			return req
		}
		resp := check(t, raw(checkRequest("GET", "/orders/1", bearer, "x-keygate-credential-id", "forged")))
		if resp.GetOkResponse() == nil {
			t.Fatalf("a credential in header_map: got %v, want OK", resp)
		}
		if removed := strings.Join(resp.GetOkResponse().GetHeadersToRemove(), ","); !strings.Contains(removed, "x-keygate-credential-id") {
			t.Errorf("headers_to_remove %q, want the client's x-keygate-credential-id", removed)
		}
		if d := check(t, raw(checkRequest("DELETE", "/orders/1", bearer))).GetDeniedResponse(); d.GetStatus().GetCode() != 403 {
			t.Errorf("read-only DELETE in header_map: %v, want 403", d)
		}
	})
	for _, tt := range []struct {
		name   string
		req    *authv3.CheckRequest
		status int
		code   codes.Code
		body   string
	}{
		{"no credential", checkRequest("GET", "/orders/1", ""), 401, codes.Unauthenticated, `"error":"unauthorized"`},
		{"read-only DELETE", checkRequest("DELETE", "/orders/1", bearer), 403, codes.PermissionDenied, `"error":"insufficient_scope"`},
		{"another API set", checkRequest("GET", "/billing/1", bearer), 403, codes.PermissionDenied, `"error":"insufficient_scope"`},
		{"unknown path", checkRequest("GET", "/nowhere", bearer), 404, codes.PermissionDenied, `"error":"not_found"`},
		{"no http attributes", &authv3.CheckRequest{}, 400, codes.InvalidArgument, `"error":"invalid_request"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := check(t, tt.req)
			d := resp.GetDeniedResponse()
			if codes.Code(resp.GetStatus().GetCode()) != tt.code || int(d.GetStatus().GetCode()) != tt.status {
				t.Fatalf("got %v, want %s with HTTP %d", resp, tt.code, tt.status)
			}
			if !strings.Contains(d.GetBody(), tt.body) {
				t.Errorf("body %q, want %s", d.GetBody(), tt.body)
			}
			if tt.status == 401 && !hasHeader(d.GetHeaders(), "www-authenticate", "Bearer") {
				t.Errorf("401 without a Bearer challenge: %v", d.GetHeaders())
			}
		})
	}
	t.Run("rate limited", func(t *testing.T) {
		check(t, checkRequest("GET", "/limited/1", bearer))
		resp := check(t, checkRequest("GET", "/limited/1", bearer))
		d := resp.GetDeniedResponse()
		if d.GetStatus().GetCode() != 429 || !hasHeader(d.GetHeaders(), "retry-after", "") {
			t.Errorf("got %v, want 429 with retry-after", resp)
		}
	})
	t.Run("untrusted peer", func(t *testing.T) {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
		other, err := grpc.NewClient(f.g.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }))
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		resp, err := authv3.NewAuthorizationClient(other).Check(t.Context(), checkRequest("GET", "/orders/1", bearer))
		if err != nil || resp.GetDeniedResponse().GetStatus().GetCode() != 400 {
			t.Errorf("a check from 127.0.0.2: %v %v, want a 400 denial", resp, err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Nanosecond)
		defer cancel()
		<-ctx.Done()
		if _, err := client.Check(ctx, checkRequest("GET", "/orders/1", bearer)); status.Code(err) != codes.DeadlineExceeded {
			t.Errorf("an expired deadline: %v, want DeadlineExceeded", err)
		}
	})
	t.Run("store down", func(t *testing.T) {
		f.redis.Stop()
		resp := check(t, checkRequest("GET", "/orders/1", "Bearer "+f.fresh))
		d := resp.GetDeniedResponse()
		if codes.Code(resp.GetStatus().GetCode()) != codes.Unavailable || d.GetStatus().GetCode() != 503 || !hasHeader(d.GetHeaders(), "retry-after", "") {
			t.Errorf("with Redis stopped: %v, want 503 with retry-after", resp)
		}
	})
}

// hasHeader reports whether headers hold name with a value starting with
// prefix.
func hasHeader(headers []*corev3.HeaderValueOption, name, prefix string) bool {
	for _, h := range headers {
		if h.GetHeader().GetKey() == name && strings.HasPrefix(h.GetHeader().GetValue(), prefix) {
			return true
		}
	}
	return false
}
