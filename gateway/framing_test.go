package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestAmbiguousFramingRefused (issue 16.2): the public listener answers a
// request with both Content-Length and Transfer-Encoding 400 and closes
// the connection, whichever part of keygate the request is for (a proxied
// route, the self-service API, the account pages), so the request
// pipelined behind it is never served.
func TestAmbiguousFramingRefused(t *testing.T) {
	up := echoUpstream(t)
	g, _ := start(t, parse(t, fmt.Sprintf(`
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
health_listen: 127.0.0.1:0
store: {driver: embedded, embedded: {path: %q}}
self_service: {enabled: true}
account: {enabled: true, path: /me}
routes:
  - {name: orders, path_prefix: /orders, upstream: %s, auth: none}
`, t.TempDir()+"/keygate.db", up.URL)))
	for _, path := range []string{"/orders/1", "/oauth/token", "/me/signin"} {
		t.Run(path, func(t *testing.T) {
			conn, err := net.Dial("tcp", g.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			stream := "POST " + path + " HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
				"GET /orders/smuggled HTTP/1.1\r\nHost: gw.test\r\n\r\n"
			if _, err := io.WriteString(conn, stream); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("reading the first response: %v", err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !resp.Close {
				t.Errorf("first response: %d, close %v; want 400 and the connection closed", resp.StatusCode, resp.Close)
			}
			if resp, err := http.ReadResponse(br, nil); err == nil {
				t.Errorf("the pipelined request was answered %d; want the connection closed", resp.StatusCode)
			}
		})
	}
}
