// Package admin is keygate's admin API: the HTTP handlers with which an
// operator manages users and their credentials, served on the admin
// listener (admin_listen) under /admin/.
//
//	GET    /admin/users                            every user
//	POST   /admin/users                            create a user (and set their password)
//	GET    /admin/users/{name}                     one user
//	PATCH  /admin/users/{name}                     disable or enable; set API sets, scopes, authorities
//	PUT    /admin/users/{name}/password            set the user's password
//	GET    /admin/users/{name}/credentials         the user's credentials and OAuth clients, never a secret
//	POST   /admin/users/{name}/apikey/unvoid       make a voided ApiKey token work again
//	DELETE /admin/credentials/{id}                 revoke any credential
//	GET    /admin/openapi.json                     the OpenAPI 3 document of all of the above
//
// A caller is an administrator by the bootstrap admin token
// (KEYGATE_ADMIN_TOKEN, sent as "Authorization: Bearer <token>") or as a
// user holding the ADMIN authority, signed in with their password (HTTP
// Basic) or a named key of theirs made for administration (authz's
// Credential.Admin); any other credential of theirs is refused. Nobody
// grants API sets, scopes or authorities they do not hold (the bootstrap
// token holds everything). Without a token and without an ADMIN user,
// nobody is: the API fails closed.
//
// Every change writes an audit log line naming the action, the actor and
// what was changed, never a secret. The rules about credentials live in
// authz; this package authenticates the administrator, decodes and checks
// input, calls authz and writes answers, with the error conventions of the
// self-service API (see internal/httpkit). See docs/admin.md.
package admin
