package authz

import "errors"

// invalidError is ErrInvalid (errors.Is) that remembers which check
// failed, for logs: one fixed value per result, so refusing allocates
// nothing.
type invalidError struct{ res result }

func (e *invalidError) Error() string { return ErrInvalid.Error() }
func (e *invalidError) Unwrap() error { return ErrInvalid }

var invalidErrors = func() (errs [numResults]*invalidError) {
	for i := range errs {
		errs[i] = &invalidError{res: result(i)}
	}
	return errs
}()

// refused is ErrInvalid for the result r.
func refused(r result) error { return invalidErrors[r] }

// Reason names why Verify or Authenticate refused, for logs, in the words
// of keygate_auth_decisions_total's result label: missing, malformed,
// unknown, bad_token, expired, revoked, voided, scope_denied, store_error,
// key_blocked. An ErrInvalid whose check is not known (a password
// sign-in's) is "invalid"; nil is ""; anything else is "error". It never
// allocates.
func Reason(err error) string {
	for e := err; e != nil; {
		switch t := e.(type) {
		case *invalidError:
			return resultNames[t.res]
		case *ScopeError:
			return resultNames[resultScopeDenied]
		case *KeyBlockedError:
			return resultNames[resultKeyBlocked]
		}
		switch e {
		case ErrNoCredential:
			return resultNames[resultMissing]
		case ErrMalformed:
			return resultNames[resultMalformed]
		case ErrUnavailable:
			return resultNames[resultStoreError]
		case ErrKeyBlocked:
			return resultNames[resultKeyBlocked]
		case ErrInvalid:
			return "invalid"
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrUnavailable): // joined with the store's error
		return resultNames[resultStoreError]
	case errors.Is(err, ErrInvalid):
		return "invalid"
	}
	return "error"
}
