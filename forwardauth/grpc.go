package forwardauth

import (
	"bytes"
	"context"
	"net/http"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"

	"github.com/keygate/keygate/internal/httpkit"
	"github.com/keygate/keygate/proxy"
)

// Server is the Envoy ext_authz v3 gRPC service
// (envoy.service.auth.v3.Authorization/Check), for Envoy, Envoy Gateway
// and Istio. The original request is attributes.request.http: its
// method, path (with the query), host and headers; the client address is
// the request's X-Forwarded-For with attributes.source.address after it,
// believed as a proxied request's would be. An allowed request's answer
// sets the identity headers and removes Authorization (unless the route
// has forward_authorization) and any client-sent X-Keygate-* header; a
// denial carries keygate's status, challenges, Retry-After and JSON body.
type Server struct {
	authv3.UnimplementedAuthorizationServer
	proxy *proxy.Handler
}

var _ authv3.AuthorizationServer = (*Server)(nil)

// NewServer builds the ext_authz service deciding through p. Register it
// on a grpc.Server with authv3.RegisterAuthorizationServer.
func NewServer(p *proxy.Handler) *Server { return &Server{proxy: p} }

// Check answers one ext_authz check. Every decision, refusals included,
// is a CheckResponse; an error is returned only for a request without
// attributes.request.http, which is no check at all.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	var remote string
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		remote = p.Addr.String()
	}
	hr := req.GetAttributes().GetRequest().GetHttp()
	r := &http.Request{
		Method:     hr.GetMethod(),
		Host:       hr.GetHost(),
		RequestURI: hr.GetPath(),
		Header:     make(http.Header, len(hr.GetHeaders())+1),
		RemoteAddr: remote,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Body: http.NoBody,
	}
	var clientSent []string // X-Keygate-* names as Envoy sent them
	add := func(k, v string) {
		if k == "" || k[0] == ':' {
			return // pseudo-headers: method, path and host are read above
		}
		name := http.CanonicalHeaderKey(k)
		if _, seen := r.Header[name]; !seen && len(name) > len(proxy.IdentityPrefix) &&
			strings.EqualFold(name[:len(proxy.IdentityPrefix)], proxy.IdentityPrefix) {
			clientSent = append(clientSent, k)
		}
		r.Header[name] = append(r.Header[name], v)
	}
	for k, v := range hr.GetHeaders() {
		add(k, v)
	}
	// Envoy sends header_map instead of headers when the filter has
	// encode_raw_headers set (the default of newer Envoy Gateway and
	// Istio releases): one entry per field, the value in raw_value.
	for _, h := range hr.GetHeaderMap().GetHeaders() {
		v := h.GetValue()
		if v == "" {
			v = string(h.GetRawValue())
		}
		add(h.GetKey(), v)
	}
	if src := req.GetAttributes().GetSource().GetAddress().GetSocketAddress().GetAddress(); src != "" {
		r.Header["X-Forwarded-For"] = append(r.Header["X-Forwarded-For"], src)
	}
	r = r.WithContext(ctx)
	w := &answer{header: http.Header{}}

	keepAuth := false
	switch {
	case !s.proxy.TrustedPeer(remote):
		s.proxy.Refuse(w, r, errUntrusted)
	case hr == nil || r.Method == "" || r.RequestURI == "":
		s.proxy.Refuse(w, r, httpkit.BadRequest("attributes.request.http with its method and path is required."))
	default:
		o, e := rebuild(r, r.Method, r.RequestURI, r.Host)
		if e != nil {
			s.proxy.Refuse(w, r, e)
		} else {
			keepAuth = s.proxy.Check(w, o)
		}
	}
	return w.response(keepAuth, clientSent), nil
}

// answer records what proxy.Handler wrote.
type answer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (a *answer) Header() http.Header { return a.header }

func (a *answer) WriteHeader(status int) {
	if a.status == 0 {
		a.status = status
	}
}

func (a *answer) Write(b []byte) (int, error) {
	a.WriteHeader(http.StatusOK)
	return a.body.Write(b)
}

// response is the CheckResponse for the recorded answer.
func (a *answer) response(keepAuth bool, clientSent []string) *authv3.CheckResponse {
	if a.status == http.StatusOK {
		ok := &authv3.OkHttpResponse{}
		for name, v := range a.header {
			if strings.HasPrefix(name, proxy.IdentityPrefix) && len(v) > 0 {
				ok.Headers = append(ok.Headers, header(name, v[0], corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD))
			}
		}
		for _, k := range clientSent {
			if len(a.header[http.CanonicalHeaderKey(k)]) == 0 {
				ok.HeadersToRemove = append(ok.HeadersToRemove, k)
			}
		}
		if !keepAuth {
			ok.HeadersToRemove = append(ok.HeadersToRemove, "authorization")
		}
		return &authv3.CheckResponse{
			Status:       &rpcstatus.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok},
		}
	}
	denied := &authv3.DeniedHttpResponse{
		Status: &typev3.HttpStatus{Code: typev3.StatusCode(a.status)},
		Body:   a.body.String(),
	}
	for name, v := range a.header {
		if name == "Content-Length" {
			continue // Envoy sets it for the body
		}
		for _, s := range v {
			denied.Headers = append(denied.Headers, header(name, s, corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD))
		}
	}
	code := codes.PermissionDenied
	switch a.status {
	case http.StatusUnauthorized:
		code = codes.Unauthenticated
	case http.StatusTooManyRequests:
		code = codes.ResourceExhausted
	case http.StatusServiceUnavailable:
		code = codes.Unavailable
	case http.StatusBadRequest:
		code = codes.InvalidArgument
	}
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(code)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: denied},
	}
}

func header(name, value string, action corev3.HeaderValueOption_HeaderAppendAction) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: strings.ToLower(name), Value: value},
		AppendAction: action,
	}
}
