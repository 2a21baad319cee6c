// Package account serves the account pages: the seed documents'
// key-management screens in the browser, on keygate's public listener
// under account.path (default /account).
//
// A person signs in with their user name and password and gets the
// Profile page with its API Keys section: OAuth clients (seeds 000, 001:
// Generate New API Access Keys, Get existing keys, new secret, delete),
// named keys with API sets (seed 002: the New API Key and Save generated
// key windows, shown once, downloadable as a .APIKEY file) and the ApiKey
// screen (seed 004: the never-changing key, Generate Token, Usage). An
// ADMIN sees the user list and each user's credentials (revoke, unvoid).
//
// Every page calls the same authz.Service functions as the self-service
// and admin APIs; no rule is implemented twice. Pages are html/template
// files embedded with embed.FS; the CSS and the little JavaScript (copy to
// clipboard, the API set lists) are embedded too and served by keygate,
// under a Content-Security-Policy without inline scripts or styles.
//
// Sessions are server-side records in the store (see session.go): an
// HttpOnly, SameSite=Strict cookie holds a random id, the store holds its
// digest with the user, a CSRF token, and the idle and absolute deadlines.
package account
