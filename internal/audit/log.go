package audit

import (
	"context"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// One audit line per change: the credential model (authz) writes it when
// a change succeeds, whichever front end asked for it, so that the admin
// API, the self-service API, the account pages and the CLI are covered
// alike; the front ends only say who the actor is (WithActor). A refused
// or failed request changes nothing and writes nothing. An audit line
// never holds a secret: ids, names and the shape of a change only.

// Actor is who made a change, as a front end tells the credential model.
type Actor struct {
	// Name is the user's name; AdminToken for the bootstrap admin token;
	// "cli" for a keygate command; "system" for keygate itself (a void
	// after wrong tokens). Empty is "system".
	Name string
	// Auth is how they authenticated: "password", "session" (the account
	// pages), "admin_token", "client_secret" (an OAuth client), "cli",
	// "system", or the kind of the credential they presented
	// ("key_token", "access_token", "apikey").
	Auth string
	// CredentialID is the credential they presented, if any.
	CredentialID string
	// ClientID is the OAuth client that made the request (the token and
	// revocation endpoints).
	ClientID string
	// Via is the front end: "admin_api", "self_service", "account",
	// "cli", or "system".
	Via string
	// Client is the address the request came from, if any.
	Client string
	// RequestID is the request's X-Request-Id (the JSON APIs).
	RequestID string
	// OSUser is the operating system user who ran a keygate command.
	OSUser string
}

// AdminToken names the bootstrap admin token as an actor: not a possible
// user name, so the two are never confused.
const AdminToken = "<admin token>"

// System is keygate itself as the actor.
var System = Actor{Name: "system", Auth: "system", Via: "system"}

type actorKey struct{}

// WithActor returns ctx carrying a, the actor of the changes made with it.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom is the actor ctx carries; System when none.
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return System
}

// Target is what a change was made to.
type Target struct {
	// Kind is "user", "credential" or "client".
	Kind string
	// ID is the user's name, the credential's id or the client's id.
	ID string
	// Owner is the user the credential or client belongs to (for a user,
	// the user).
	Owner string
}

// User, Credential and Client are the targets of those kinds.
func User(name string) Target            { return Target{Kind: "user", ID: name, Owner: name} }
func Credential(id, owner string) Target { return Target{Kind: "credential", ID: id, Owner: owner} }
func Client(id, owner string) Target     { return Target{Kind: "client", ID: id, Owner: owner} }

// Log writes the audit line of action (one of Actions) on target by the
// actor ctx carries, with fields saying more (never a secret), to log.
func Log(ctx context.Context, log *zap.Logger, action string, target Target, fields ...zap.Field) {
	spec, ok := byName[action]
	if !ok {
		spec = Action{Name: action, Message: action, Level: zapcore.InfoLevel}
	}
	ce := log.Check(spec.Level, spec.Message)
	if ce == nil {
		return
	}
	a := ActorFrom(ctx)
	if a.Name == "" {
		a.Name = System.Name
	}
	fs := make([]zap.Field, 0, 14+len(fields))
	fs = append(fs, zap.String(Key, action), zap.String("actor", a.Name))
	fs = appendNonEmpty(fs, "actor_auth", a.Auth)
	fs = appendNonEmpty(fs, "actor_credential_id", a.CredentialID)
	fs = appendNonEmpty(fs, "actor_client_id", a.ClientID)
	fs = appendNonEmpty(fs, "via", a.Via)
	fs = appendNonEmpty(fs, "client", a.Client)
	fs = appendNonEmpty(fs, "request_id", a.RequestID)
	fs = appendNonEmpty(fs, "os_user", a.OSUser)
	fs = append(fs, zap.String("target_kind", target.Kind), zap.String("target", target.ID))
	fs = appendNonEmpty(fs, "user", target.Owner)
	fs = append(fs, fields...)
	ce.Write(fs...)
}

func appendNonEmpty(fs []zap.Field, key, v string) []zap.Field {
	if v == "" {
		return fs
	}
	return append(fs, zap.String(key, v))
}
