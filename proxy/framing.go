package proxy

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/keygate/keygate/internal/httpkit"
)

// Framing (RFC 9112 §6.3).
//
// A request with both Content-Length and Transfer-Encoding can be framed
// two ways: a load balancer in front that reads Content-Length and keygate
// that reads the chunked body (as Go's server does, after deleting
// Content-Length) disagree on where the next request starts, and a request
// the balancer never saw reaches keygate. The RFC says such a message
// "ought to be handled as an error" and the connection closed; keygate
// answers 400 and closes it.
//
// Go's server removes Content-Length before a handler sees the request, so
// the check reads the connection itself: FramingListener wraps each
// accepted connection in a framingConn whose scanner follows the request
// stream (header blocks, Content-Length bodies, chunked bodies) and notes
// the first header block that carries both fields; FramingContext (the
// http.Server's ConnContext) makes the connection reachable from its
// requests, and Handler.ServeHTTP refuses the request whose header block
// it was. Requests on one HTTP/1.x connection are served in order, so the
// n-th request served is the n-th header block scanned.
//
// The scanner sees plaintext only: it is for listeners without TLS (behind
// a load balancer or ingress that ends TLS, where this desync happens). On
// keygate's own TLS listener (and with HTTP/2, whose frames carry their
// own lengths) requests are not checked this way.

// FramingListener wraps l so that keygate can refuse requests framed by
// both Content-Length and Transfer-Encoding. The http.Server must also set
// ConnContext to FramingContext.
func FramingListener(l net.Listener) net.Listener { return framingListener{l} }

type framingListener struct{ net.Listener }

func (l framingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &framingConn{Conn: c}, nil
}

// FramingContext is the http.Server ConnContext that goes with
// FramingListener.
func FramingContext(ctx context.Context, c net.Conn) context.Context {
	if fc, ok := c.(*framingConn); ok {
		return context.WithValue(ctx, framingKey{}, fc)
	}
	return ctx
}

type framingKey struct{}

// framingConn scans what is read from the connection.
type framingConn struct {
	net.Conn
	scan   framingScanner // used only by Read, which the server never calls concurrently
	bad    atomic.Int64   // 1-based index of the first header block with both fields; 0: none
	served atomic.Int64   // requests handed to the handler
}

func (c *framingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		if b := c.scan.feed(p[:n]); b != 0 {
			c.bad.CompareAndSwap(0, b)
		}
	}
	return n, err
}

// errFraming is the answer to a request framed both ways.
var errFraming = &httpkit.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The request has both Content-Length and Transfer-Encoding."}

// RefuseAmbiguousFraming answers 400 to a request whose header block had
// both Content-Length and Transfer-Encoding, and closes the connection.
// It must be the outermost handler of a server whose listener is a
// FramingListener and whose ConnContext is FramingContext, so that it
// sees every request of a connection; elsewhere it only calls next.
func RefuseAmbiguousFraming(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ambiguousFraming(r) {
			w.Header()["Connection"] = []string{"close"}
			httpkit.WriteError(w, errFraming)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ambiguousFraming reports whether r is the request of a header block with
// both Content-Length and Transfer-Encoding. It counts r as served: call
// it once per request.
func ambiguousFraming(r *http.Request) bool {
	fc, ok := r.Context().Value(framingKey{}).(*framingConn)
	if !ok || r.ProtoMajor != 1 {
		return false
	}
	n := fc.served.Add(1)
	b := fc.bad.Load()
	return b != 0 && b <= n
}

// framingScanner follows an HTTP/1.x request stream byte by byte through
// header blocks and over bodies. It stops (scanDone) at the first header
// block with both fields, or at anything it cannot follow; Go's server
// refuses such input and closes the connection itself.
type framingScanner struct {
	state   uint8
	blocks  int64    // header blocks completed
	reqLine bool     // the current line is the request line
	name    [18]byte // the current header line's first bytes, lower case
	n       int      // bytes of the current line, CR not counted
	colon   bool     // the current line's ':' was seen
	inCL    bool     // reading a Content-Length value
	cl, te  bool
	clVal   int64
	remain  int64 // body or chunk bytes left
	size    int64 // chunk size being read
}

const (
	scanStart     = iota // before a request line: CR and LF are skipped
	scanHeader           // in the request line or a header line
	scanBody             // remain bytes of a Content-Length body
	scanChunkSize        // a chunk-size line
	scanChunkExt         // the rest of a chunk-size line
	scanChunkData        // remain bytes of chunk data
	scanChunkEnd         // the CRLF after chunk data
	scanTrailer          // trailer lines up to the empty one
	scanDone             // nothing more is scanned
)

const maxFramedLen = 1 << 62 // a length past this is not followed

// feed scans b and returns the index of a header block with both fields
// if b completed one, else 0.
func (s *framingScanner) feed(b []byte) int64 {
	for i := 0; i < len(b); i++ {
		switch s.state {
		case scanDone:
			return 0
		case scanBody, scanChunkData:
			k := int64(len(b) - i)
			if k > s.remain {
				k = s.remain
			}
			s.remain -= k
			i += int(k) - 1
			if s.remain == 0 {
				if s.state == scanBody {
					s.state = scanStart
				} else {
					s.state = scanChunkEnd
				}
			}
			continue
		}
		c := b[i]
		switch s.state {
		case scanStart:
			if c == '\r' || c == '\n' {
				continue
			}
			*s = framingScanner{state: scanHeader, blocks: s.blocks, reqLine: true}
			s.n = 1
		case scanHeader:
			if s.n == 0 && !s.reqLine && c != '\r' && c != '\n' {
				// A header line's start: when its name and ':' are in
				// b, take the name whole.
				rest := b[i:]
				if k := bytes.IndexByte(rest, ':'); k >= 0 && bytes.IndexByte(rest[:k], '\n') < 0 {
					s.headerName(rest[:k])
					s.n = k + 1
					i += k
					continue
				}
			}
			if s.reqLine || s.colon && !s.inCL {
				// The rest of the line does not matter: find its end
				// at memchr speed (n is already past 0 here, and CR
				// bytes are not counted anyway).
				j := bytes.IndexByte(b[i:], '\n')
				if j < 0 {
					return 0
				}
				i += j
				c = '\n'
			}
			if bad := s.headerByte(c); bad {
				s.state = scanDone
				return s.blocks
			}
		case scanChunkSize, scanChunkExt:
			switch {
			case c == '\n':
				if s.size == 0 {
					s.state, s.n = scanTrailer, 0
				} else {
					s.state, s.remain = scanChunkData, s.size
				}
			case c == '\r':
			case s.state == scanChunkExt:
			case c == ';' || c == ' ' || c == '\t':
				s.state = scanChunkExt
			default:
				v := unhex(c)
				if v < 0 || s.size > maxFramedLen>>4 {
					s.state = scanDone
					continue
				}
				s.size = s.size<<4 | int64(v)
			}
		case scanChunkEnd:
			if c == '\n' {
				s.state, s.size = scanChunkSize, 0
			} else if c != '\r' {
				s.state = scanDone
			}
		case scanTrailer:
			if c == '\n' {
				if s.n == 0 {
					s.state = scanStart
				}
				s.n = 0
			} else if c != '\r' {
				s.n++
			}
		}
	}
	return 0
}

// headerName takes a header line's name, up to its ':'.
func (s *framingScanner) headerName(name []byte) {
	s.colon = true
	switch {
	case len(name) == len("content-length") && asciiEqualFold(name, "content-length"):
		s.cl, s.inCL = true, true
	case len(name) == len("transfer-encoding") && asciiEqualFold(name, "transfer-encoding"):
		s.te = true
	}
}

// asciiEqualFold reports whether b is s (lower case) in any case.
func asciiEqualFold(b []byte, s string) bool {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// headerByte takes one byte of a header block and reports whether it
// ended a block with both Content-Length and Transfer-Encoding.
func (s *framingScanner) headerByte(c byte) bool {
	switch c {
	case '\r':
		return false
	case '\n':
		switch {
		case s.reqLine:
			s.reqLine = false
		case s.n == 0: // the empty line: the block is complete
			s.blocks++
			switch {
			case s.cl && s.te:
				return true
			case s.te:
				s.state, s.size = scanChunkSize, 0
			case s.clVal > 0:
				s.state, s.remain = scanBody, s.clVal
			default:
				s.state = scanStart
			}
		}
		s.n, s.colon, s.inCL = 0, false, false
		return false
	}
	if s.reqLine {
		return false
	}
	if !s.colon {
		if c == ':' {
			if s.n <= len(s.name) {
				s.headerName(s.name[:s.n])
			}
			s.colon = true
		} else if s.n < len(s.name) {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			s.name[s.n] = c
		}
	} else if s.inCL && '0' <= c && c <= '9' {
		if s.clVal > maxFramedLen/10 {
			s.state = scanDone
			return false
		}
		s.clVal = s.clVal*10 + int64(c-'0')
	}
	s.n++
	return false
}
