package authz

import (
	"cmp"
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/keygate/keygate/internal/audit"
)

// RateLimit is a credential's or a user's own rate limit. Where a route's
// or API set's rate_limit counts requests per credential, a credential's
// RateLimit (else its owner's) replaces the configured rate, per and
// burst for that credential; where it counts per user, the user's does.
// Limits counted per route or address are not affected.
type RateLimit struct {
	Rate int `json:"rate"`
	// Per is a duration such as "1s" or "1m".
	Per string `json:"per"`
	// Burst defaults to Rate.
	Burst int `json:"burst,omitempty"`
}

// Rate is a RateLimit as the request path uses it.
type Rate struct {
	Rate  int
	Per   time.Duration
	Burst int
}

// check refuses, naming field, a limit that cannot be applied.
func (l *RateLimit) check(field string) error {
	if l == nil {
		return nil
	}
	if l.Rate < 1 || l.Rate > 1_000_000_000 {
		return invalid(field+".rate", "must be 1 to 1000000000 requests per %s.per", field)
	}
	per, err := time.ParseDuration(l.Per)
	if err != nil || per < time.Millisecond || per > 366*24*time.Hour {
		return invalid(field+".per", "%q must be a duration from 1ms to 8784h such as 1s or 1m", l.Per)
	}
	if l.Burst < 0 || l.Burst > 1_000_000_000 {
		return invalid(field+".burst", "must be 0 (the rate) to 1000000000")
	}
	return nil
}

// rate parses a checked limit; nil stays nil.
func (l *RateLimit) rate() *Rate {
	if l == nil {
		return nil
	}
	per, _ := time.ParseDuration(l.Per)
	return &Rate{Rate: l.Rate, Per: per, Burst: cmp.Or(l.Burst, l.Rate)}
}

// SetCredentialRateLimit gives a credential its own rate limit (nil: the
// configured one again). Every replica applies it from its next request
// with the credential.
func (s *Accounts) SetCredentialRateLimit(ctx context.Context, id string, l *RateLimit) (*Credential, error) {
	if err := l.check("rateLimit"); err != nil {
		return nil, err
	}
	fields := []zap.Field{zap.Bool("removed", true)}
	if l != nil {
		fields = []zap.Field{zap.Int("rate", l.Rate), zap.String("per", l.Per), zap.Int("burst", l.Burst)}
	}
	return s.setLimits(ctx, id, func(c *Credential) { c.RateLimit = l }, func(r *secretRecord) { r.RateLimit = l }, audit.SetRateLimit, fields...)
}

// setLimits changes a credential's own limits in its management record
// (cred) and, while the credential can still verify, in its verification
// record (secret), tells every replica, and records action with fields
// in the audit log.
func (s *Accounts) setLimits(ctx context.Context, id string, cred func(*Credential), secret func(*secretRecord), action string, fields ...zap.Field) (*Credential, error) {
	c, err := s.db.creds.update(ctx, id, func(c *Credential) error { cred(c); return nil })
	if err != nil {
		return nil, err
	}
	if c.Status == StatusActive || c.Status == StatusVoided {
		if _, err := s.db.secrets.update(ctx, c.Digest, func(r *secretRecord) error { secret(r); return nil }); err != nil {
			return nil, err
		}
	}
	s.publish(ctx, "d:"+c.Digest)
	s.audit(ctx, action, audit.Credential(c.ID, c.Owner), fields...)
	return c, nil
}

// Quota is a credential's own request quota: it replaces the number of
// requests of every route and API-set quota that counts the credential
// (their period stays as configured).
type Quota struct {
	Requests int64 `json:"requests"`
}

func (q *Quota) check(field string) error {
	if q != nil && (q.Requests < 0 || q.Requests > 1<<53) {
		return invalid(field+".requests", "must be 0 to 9007199254740992")
	}
	return nil
}

// SetCredentialQuota gives a credential its own quota (nil: the
// configured ones again); every replica applies it from the credential's
// next request.
func (s *Accounts) SetCredentialQuota(ctx context.Context, id string, q *Quota) (*Credential, error) {
	if err := q.check("quota"); err != nil {
		return nil, err
	}
	field := zap.Bool("removed", true)
	if q != nil {
		field = zap.Int64("requests", q.Requests)
	}
	return s.setLimits(ctx, id, func(c *Credential) { c.Quota = q }, func(r *secretRecord) { r.Quota = q }, audit.SetQuota, field)
}

// ErrKeyBlocked: an ApiKey key had too many wrong tokens lately
// (auth.key_failure_limit); its requests are refused, right token or not,
// until Wait has passed. Verify returns it as a *KeyBlockedError.
var ErrKeyBlocked = errors.New("authz: too many wrong tokens for this key")

// KeyBlockedError is ErrKeyBlocked with how long the key stays blocked.
type KeyBlockedError struct{ Wait time.Duration }

func (e *KeyBlockedError) Error() string        { return ErrKeyBlocked.Error() }
func (e *KeyBlockedError) Is(target error) bool { return target == ErrKeyBlocked }
