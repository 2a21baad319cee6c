package main

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc"
)

// checker allows a check that carries the Authorization header want.
type checker struct {
	authv3.UnimplementedAuthorizationServer
	want string
}

func (c checker) Check(_ context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	hr := req.GetAttributes().GetRequest().GetHttp()
	if hr.GetHeaders()["authorization"] == c.want && hr.GetPath() == "/bench/item" && hr.GetMethod() == http.MethodGet {
		return &authv3.CheckResponse{HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}}}, nil
	}
	return &authv3.CheckResponse{HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
		Status: &typev3.HttpStatus{Code: typev3.StatusCode_Unauthorized}}}}, nil
}

// TestGRPCRun: with a grpc:// URL the run asks an ext_authz service over
// a real connection, and a decision's HTTP status is what -expect checks.
func TestGRPCRun(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	authv3.RegisterAuthorizationServer(srv, checker{want: "Bearer right"})
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)

	u, err := checkURL("grpc://" + ln.Addr().String() + "/bench/item")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		token   string
		wantBad bool
	}{{"Bearer right", false}, {"Bearer wrong", true}} {
		c := config{url: u, rate: 200, duration: 200 * time.Millisecond, conns: 4, timeout: 5 * time.Second,
			expect: http.StatusOK, header: http.Header{"Authorization": {tt.token}}}
		r := run(c)
		if r.count == 0 || r.errors != 0 {
			t.Fatalf("%s: count %d, errors %d (%v), want answers and no errors", tt.token, r.count, r.errors, r.firstErr)
		}
		if bad := r.badStatus == r.count; bad != tt.wantBad || (!tt.wantBad && r.badStatus != 0) {
			t.Errorf("%s: %d of %d with another status than 200, want all: %t", tt.token, r.badStatus, r.count, tt.wantBad)
		}
	}
	if _, err := checkURL("grpc://example.com:9191/x"); err == nil {
		t.Error("a grpc URL off loopback was accepted")
	}
}
