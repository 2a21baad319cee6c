package main

import (
	"context"
	"log"
	"net"
	"net/http"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// grpcSender asks the ext_authz v3 service at c.url's host to check
// GET c.url's path with c.header, the request Envoy sends for each request
// it receives, over one HTTP/2 connection as Envoy keeps one per upstream
// host. The status is the HTTP status of the decision: 200 for OK, the
// denial's status otherwise. The function returned closes the connection.
func grpcSender(c config) (sender, func()) {
	dialer := &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second, Control: loopbackOnly}
	conn, err := grpc.NewClient(c.url.Host, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return dialer.DialContext(ctx, "tcp", addr) }))
	if err != nil {
		log.Fatalf("loadgen: %v", err)
	}
	client := authv3.NewAuthorizationClient(conn)
	path := c.url.RequestURI()
	headers := map[string]string{":method": http.MethodGet, ":path": path, ":authority": c.url.Host}
	for name, values := range c.header {
		headers[strings.ToLower(name)] = strings.Join(values, ",")
	}
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 40000}}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: http.MethodGet, Path: path, Host: c.url.Host, Scheme: "http", Protocol: "HTTP/1.1", Headers: headers,
		}},
	}}
	return func(ctx context.Context) (int, error) {
		ctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		resp, err := client.Check(ctx, req)
		if err != nil {
			return 0, err
		}
		if resp.GetOkResponse() != nil {
			return http.StatusOK, nil
		}
		return int(resp.GetDeniedResponse().GetStatus().GetCode()), nil
	}, func() { conn.Close() }
}
