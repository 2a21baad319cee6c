package audit

import "go.uber.org/zap/zapcore"

// Action is one kind of change that writes an audit line.
type Action struct {
	// Name is the value of the audit field.
	Name string
	// Target is the kind of what it changes: user, credential or client.
	Target string
	// Message is the line's message.
	Message string
	// Level is info, or warn for what keygate does to a credential that
	// looks stolen (a void, a family revocation).
	Level zapcore.Level
}

// The actions. docs/operations.md lists them, with the front ends that
// make each (a test holds the two together).
const (
	CreateUser         = "create_user"
	UpdateUser         = "update_user"
	DisableUser        = "disable_user"
	EnableUser         = "enable_user"
	SetPassword        = "set_password"
	CreateKey          = "create_key"
	DeleteKey          = "delete_key"
	Revoke             = "revoke"
	SetRateLimit       = "set_rate_limit"
	SetQuota           = "set_quota"
	CreateAPIKey       = "create_apikey"
	NewAPIKeyToken     = "new_apikey_token"
	RotateAPIKey       = "rotate_apikey"
	Unvoid             = "unvoid"
	Void               = "void"
	CreateClient       = "create_client"
	RotateClientSecret = "rotate_client_secret"
	DeleteClient       = "delete_client"
	RevokeToken        = "revoke_token"
	RevokeFamily       = "revoke_family"
)

// Actions is every action, in the order docs/operations.md lists them.
var Actions = []Action{
	{CreateUser, "user", "user created", zapcore.InfoLevel},
	{UpdateUser, "user", "user changed", zapcore.InfoLevel},
	{DisableUser, "user", "user disabled", zapcore.InfoLevel},
	{EnableUser, "user", "user enabled", zapcore.InfoLevel},
	{SetPassword, "user", "password set", zapcore.InfoLevel},
	{CreateKey, "credential", "named key created", zapcore.InfoLevel},
	{DeleteKey, "credential", "named key deleted", zapcore.InfoLevel},
	{Revoke, "credential", "credential revoked", zapcore.InfoLevel},
	{SetRateLimit, "credential", "credential rate limit changed", zapcore.InfoLevel},
	{SetQuota, "credential", "credential quota changed", zapcore.InfoLevel},
	{CreateAPIKey, "credential", "ApiKey key created", zapcore.InfoLevel},
	{NewAPIKeyToken, "credential", "ApiKey token generated", zapcore.InfoLevel},
	{RotateAPIKey, "credential", "ApiKey key rotated", zapcore.InfoLevel},
	{Unvoid, "credential", "ApiKey token unvoided", zapcore.InfoLevel},
	{Void, "credential", "credential voided after repeated wrong tokens", zapcore.WarnLevel},
	{CreateClient, "client", "oauth client created", zapcore.InfoLevel},
	{RotateClientSecret, "client", "oauth client secret rotated", zapcore.InfoLevel},
	{DeleteClient, "client", "oauth client deleted", zapcore.InfoLevel},
	{RevokeToken, "credential", "oauth token revoked by its client", zapcore.InfoLevel},
	{RevokeFamily, "credential", "a rotated refresh token was presented again: its family revoked", zapcore.WarnLevel},
}

var byName = func() map[string]Action {
	m := make(map[string]Action, len(Actions))
	for _, a := range Actions {
		m[a.Name] = a
	}
	return m
}()
