// Package httpkit holds what every keygate front end (the proxied request
// path, the self-service API, the admin API, the account pages) does
// alike, so that all answer the same input the same way:
//
//   - one error type, Error, and the one function that writes it,
//     WriteError (allocation-light: the proxy's refusals go through it);
//   - the one table from authz errors to answers (status, WWW-Authenticate
//     challenge, body): Answer, FromAuthz, SignInError;
//   - request ids, the raw request path and the plain-path rule, the
//     client address, Retry-After, the status recorder of the access log;
//   - strict JSON decoding and the JSON answers of the APIs;
//   - signing a user in by password or by a credential of their own
//     (Authenticate);
//   - the endpoint framework of the JSON APIs (API, Route, Spec): a route
//     table per API, and one place that takes a request through its id,
//     the path check, authentication, the write-scope rule, the handler,
//     its error and the access log.
//
// Each front end keeps its own routes, rules and documents.
package httpkit
