// Package selfservice is keygate's self-service credential API: the HTTP
// face of the seed documents' flows, served on the public listener beside
// the proxied routes (the gateway sends it every request under
// config.SelfServicePaths).
//
//	POST   /connect/register/createClientId        an OAuth2 client (seed 001's response shape)
//	GET    /connect/register/clients               the caller's clients, without secrets
//	GET    /connect/register/clients/{clientId}    one of them (its secret only where retrievable)
//	POST   /connect/register/clients/{clientId}/secret   a new secret ("Generate new keys")
//	DELETE /connect/register/clients/{clientId}    the client and every token it obtained
//	POST   /oauth/token                            RFC 6749 §4.4 and §6
//	POST   /oauth/revoke                           RFC 7009
//	POST   /oauth/introspect                       RFC 7662
//	GET    /user                                   the caller (seed 003's validation step)
//	GET    /user/keys, POST /user/keys             named API keys (seeds 002, 003)
//	GET    /user/keys/{handle}, DELETE /user/keys/{handle}   (the token only where retrievable)
//	GET    /user/apikey, POST /user/apikey/token   the ApiKey pair (seed 004)
//	GET    /openapi.json                           the OpenAPI 3 document of all of the above
//
// Every rule about credentials lives in authz; this package authenticates
// the caller, decodes and checks input, calls authz and writes answers,
// with the conventions it shares with the admin API (api/admin) in
// internal/httpkit.
// See docs/selfservice.md for the flows walked through with curl.
package selfservice
