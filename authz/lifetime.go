package authz

import "time"

// MaxLifetime is the longest any credential may be made to live: 100
// years (876000h). A longer expiry is refused, naming the field, rather
// than stored: far beyond it a lifetime no longer fits in a
// time.Duration, and the store's expiry would wrap around.
const MaxLifetime = 100 * 365 * 24 * time.Hour

// checkExpiry refuses an expiry time that is not in the future, or more
// than MaxLifetime after now. The zero time (never expires) is allowed.
func checkExpiry(field string, expires, now time.Time) error {
	if expires.IsZero() {
		return nil
	}
	if !expires.After(now) {
		return invalid(field, "must be in the future")
	}
	if expires.Sub(now) > MaxLifetime {
		return invalid(field, "must be at most 100 years from now")
	}
	return nil
}

// checkLifetime refuses a lifetime that is not positive or longer than
// MaxLifetime.
func checkLifetime(field string, d time.Duration) error {
	if d <= 0 || d > MaxLifetime {
		return invalid(field, "must be positive and at most 100 years (876000h)")
	}
	return nil
}
