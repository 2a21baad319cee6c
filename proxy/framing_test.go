package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestFramingScanner(t *testing.T) {
	const (
		get     = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
		both    = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
		chunked = "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1b\r\nContent-Length: 5\r\n\r\nxxxxxx\r\n0\r\nX-Trailer: 1\r\n\r\n"
		length  = "POST /a HTTP/1.1\r\nhost: h\r\ncontent-length: 51\r\n\r\nGET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + "xxxxx"
	)
	for _, tc := range []struct {
		name   string
		stream string
		bad    int64
	}{
		{"a GET", get, 0},
		{"both fields", both, 1},
		{"both, lower case, other order", "POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 0\r\n\r\n", 1},
		{"both, the second of three", get + both + get, 2},
		{"a chunked body that looks like headers", chunked + both, 2},
		{"a Content-Length body that looks like headers", length + get + both, 3},
		{"leading blank lines", "\r\n\r\n" + get + "\r\n" + both, 2},
		{"Content-Length-Extra is not Content-Length", "POST / HTTP/1.1\r\nContent-Length-Extra: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + get, 0},
		{"X-Transfer-Encoding is not Transfer-Encoding", "POST / HTTP/1.1\r\nX-Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n" + get, 0},
		{"bare LF line ends", "POST / HTTP/1.1\nContent-Length: 1\nTransfer-Encoding: chunked\n\n0\n\n", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Fed whole, and fed one byte at a time: the result must not
			// depend on how reads split the stream.
			for _, step := range []int{len(tc.stream), 1, 7} {
				var s framingScanner
				var bad int64
				for i := 0; i < len(tc.stream); i += step {
					if b := s.feed([]byte(tc.stream[i:min(i+step, len(tc.stream))])); b != 0 && bad == 0 {
						bad = b
					}
				}
				if bad != tc.bad {
					t.Errorf("in reads of %d bytes: block %d flagged, want %d", step, bad, tc.bad)
				}
			}
		})
	}
}

// FuzzFramingScanner: how reads split a stream never changes which header
// block is flagged.
func FuzzFramingScanner(f *testing.F) {
	f.Add("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", uint8(1))
	f.Add("GET / HTTP/1.1\r\nHost: h\r\n\r\nPOST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", uint8(5))
	f.Add("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n", uint8(2))
	f.Fuzz(func(t *testing.T, stream string, step uint8) {
		var whole framingScanner
		want := whole.feed([]byte(stream))
		var split framingScanner
		var got int64
		n := int(step%16) + 1
		for i := 0; i < len(stream); i += n {
			if b := split.feed([]byte(stream[i:min(i+n, len(stream))])); b != 0 && got == 0 {
				got = b
			}
		}
		if got != want {
			t.Fatalf("in reads of %d bytes block %d is flagged, whole %d", n, got, want)
		}
	})
}

// newFramingGateway is newGateway with the public listener set up as
// gateway.Listen sets it up: FramingListener, FramingContext and
// RefuseAmbiguousFraming outermost.
func newFramingGateway(t *testing.T, yaml string) *httptest.Server {
	t.Helper()
	gw := newGateway(t, yaml, Options{})
	srv := httptest.NewUnstartedServer(RefuseAmbiguousFraming(gw.h))
	srv.Listener = FramingListener(srv.Listener)
	srv.Config.ConnContext = FramingContext
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// TestAmbiguousFraming (issue 16.2): a request with both Content-Length and
// Transfer-Encoding is answered 400 and its connection closed, so a
// request pipelined behind it (which a front load balancer that framed by
// Content-Length never saw as a request) is never served.
func TestAmbiguousFraming(t *testing.T) {
	up := newUpstream(t, "up")
	srv := newFramingGateway(t, fmt.Sprintf("routes:\n  - {name: pub, path_prefix: /, upstream: %s, auth: none}\n", up.URL))
	addr := srv.Listener.Addr().String()

	for _, tc := range []struct {
		name   string
		stream string
		want   []int // statuses, in order, before the connection closes
	}{
		{"both fields, then a smuggled request", "POST /pub HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: gw.test\r\n\r\n", []int{400}},
		{"Transfer-Encoding first", "POST /pub HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: gw.test\r\n\r\n", []int{400}},
		{"the second request has both", "GET /first HTTP/1.1\r\nHost: gw.test\r\n\r\nPOST /pub HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: gw.test\r\n\r\n", []int{200, 400}},
		{"chunked only: both served", "POST /pub HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\nGET /second HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n", []int{200, 200}},
		{"a body that reads like both: served", "POST /pub HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 49\r\n\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nGET /second HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n", []int{200, 200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := up.hits.Load()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(conn, tc.stream); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			var got []int
			for {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					break // the connection was closed
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				got = append(got, resp.StatusCode)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("statuses %v before the connection closed, want %v", got, tc.want)
			}
			proxied := 0
			for _, s := range tc.want {
				if s == 200 {
					proxied++
				}
			}
			if n := up.hits.Load() - before; n != int64(proxied) {
				t.Errorf("the upstream was reached %d times, want %d", n, proxied)
			}
		})
	}
}

// BenchmarkFramingScanner is what the public listener adds to a typical
// request: its header block scanned byte by byte, its body skipped.
func BenchmarkFramingScanner(b *testing.B) {
	req := []byte("POST /api/v1/items/42 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: Go-http-client/1.1\r\n" +
		"Authorization: Bearer kg_at_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ\r\nContent-Type: application/json\r\n" +
		"Accept: application/json\r\nX-Request-Id: abc-123\r\nContent-Length: 16\r\n\r\n{\"name\":\"item\"}\n")
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	var s framingScanner
	for b.Loop() {
		if s.feed(req) != 0 {
			b.Fatal("flagged")
		}
	}
}
