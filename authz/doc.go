// Package authz is keygate's credential model: reading the Authorization
// header, the token format, keyed digests, verification with an in-process
// cache, API sets and scopes, the three-strikes void, and issuing.
//
// It knows nothing about HTTP routing: proxy calls it through its
// Authenticator interface.
package authz
