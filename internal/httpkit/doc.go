// Package httpapi holds what keygate's JSON APIs over credentials (the
// self-service API on the public listener, the admin API on the admin
// listener) do alike: one error type and the one function that writes it,
// strict JSON decoding, plain request paths, request ids, the client
// address, and signing a user in by password or by a credential of their
// own.
//
// Each API keeps its own routes, rules and documents; this package holds
// only the conventions they share, so that both answer the same input the
// same way.
package httpkit
