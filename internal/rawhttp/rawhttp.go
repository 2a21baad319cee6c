// Package rawhttp sends HTTP requests byte for byte, for the tests of what
// keygate does with requests that a client library would tidy or refuse to
// send (ambiguous paths, hosts, framing, override headers).
package rawhttp

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// Exchange writes raw, exactly as given, on a new connection to addr and
// returns the one response read back with its body. The exchange has a
// five-second deadline.
func Exchange(t testing.TB, addr, raw string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%q: reading the response: %v", firstLine(raw), err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func firstLine(raw string) string {
	for i := 0; i+1 < len(raw); i++ {
		if raw[i] == '\r' && raw[i+1] == '\n' {
			return raw[:i]
		}
	}
	return raw
}
