// Package authz is keygate's credential model: reading the Authorization
// header, the token format, keyed digests, verification with an in-process
// cache, API sets and scopes, the three-strikes void, and issuing and
// managing every kind of credential — users and their passwords, named
// keys, the ApiKey key and token, OAuth2 clients and their tokens, and
// credentials made by credentials.
//
// # Parts
//
// [New] builds a [Service]: four parts on one store, sharing one keyring
// (the digest keys, auth.digest_keys) and one set of repositories.
//
//   - [Verifier] is the request path: [Verifier.Verify] checks a request's
//     credential for a route's API set and scope, [Verifier.Authenticate]
//     identifies the caller of the self-service API. It keeps the cache of
//     verification records, records wrong ApiKey tokens (strikes) after
//     the answer and voids the token at auth.lockout_threshold, and
//     listens for the invalidations other replicas publish (invalidate.go).
//     A cached credential verifies without a store round trip or an
//     allocation.
//   - [Accounts] keeps users (issue.go), named keys and their retrievable
//     tokens (issue.go, keytoken.go), the ApiKey pair (apikey.go),
//     per-credential limits (ratelimit.go) and credentials made by
//     credentials (derive.go).
//   - [Passwords] sets users' passwords and signs users in with them,
//     within the limits on failures and on hashes at once (password.go).
//   - [OAuth] keeps OAuth2 clients and runs the client-credentials and
//     refresh grants, revocation and introspection (oauth.go).
//
// Accounts, Passwords and OAuth change what the Verifier caches: every change is
// published on the store's events, and every replica's Verifier drops or
// marks its entry. Consumers hold the part they need, or declare an
// interface of the methods they call (proxy's Authenticator is the
// Verifier's Verify).
//
// # Storage
//
// Everything lives in the store (store.Store), through typed repositories
// (repo.go): one per kind of record, which say once how a record is keyed,
// encoded, indexed and given a TTL, and which write every change with
// compare-and-set, retried on a concurrent write. A secret is never
// stored: a credential has a verification record under the keyed digest
// of its secret ("dig/<key id>/<hex>", read by Verify) and a management
// record ("cred/<id>", listed per owner, client, family and parent).
// Failure counts and strikes are the store's counters.
//
// # Errors
//
// Expected outcomes are sentinels checked with errors.Is ([ErrNoCredential],
// [ErrInvalid], [ErrUnavailable], [ErrNotFound], [ErrForbidden], the OAuth2
// errors, ...); [*ScopeError], [*KeyBlockedError] and [*RetryError] carry
// what the answer needs. A refused field of a request is an [*InputError]
// naming the field and the reason; front ends take both with errors.As
// and never parse a message.
//
// It knows nothing about HTTP: the front ends (the proxy, the self-service
// and admin APIs, the account pages) call it.
package authz
