package proxy

import (
	"net/http"

	"github.com/keygate/keygate/internal/httpkit"
)

// The errors the proxy itself answers with (written by httpkit.WriteError;
// the answers to credentials come from httpkit's table, see authenticate).
var (
	errBadRequestPath   = &httpkit.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The request path is not allowed."}
	errBadHost          = &httpkit.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The Host header is not a valid host name or IP address with an optional port."}
	errNotFound         = &httpkit.Error{Status: http.StatusNotFound, Code: "not_found", Description: "No route matches the request."}
	errMethodNotAllowed = &httpkit.Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Description: "The route does not serve this method."}
	errMethodRefused    = &httpkit.Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Description: "keygate never proxies TRACE or CONNECT."}
	errBadOverride      = &httpkit.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The method override header must hold one method the route serves."}
	errTooLarge         = &httpkit.Error{Status: http.StatusRequestEntityTooLarge, Code: "request_too_large", Description: "The request body is too large."}
	errBadGateway       = &httpkit.Error{Status: http.StatusBadGateway, Code: "bad_gateway", Description: "The upstream could not be reached."}
	errTimeout          = &httpkit.Error{Status: http.StatusGatewayTimeout, Code: "gateway_timeout", Description: "The upstream did not answer in time."}
)
