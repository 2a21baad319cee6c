package httpkit

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/store"
)

// TestAnswer holds the one table from authz errors to answers, for the
// APIs and for the proxy: the status, code, challenge and Retry-After
// each front end gives, and the last resort of each (500 for the APIs,
// 503 for the proxy: a credential that cannot be checked never passes).
func TestAnswer(t *testing.T) {
	internal := errors.New("disk on fire")
	for _, tc := range []struct {
		name       string
		err        error
		front      Front
		status     int
		code       string
		challenge  []string
		retryAfter int
	}{
		{"no credential, API", authz.ErrNoCredential, ForAPI, 401, "unauthorized", ChallengeUser, 0},
		{"no credential, proxy", authz.ErrNoCredential, ForProxy, 401, "unauthorized", ChallengeCredential, 0},
		{"malformed, API", fmt.Errorf("x: %w", authz.ErrMalformed), ForAPI, 400, "invalid_request", challengeUserBad, 0},
		{"malformed, proxy", authz.ErrMalformed, ForProxy, 400, "invalid_request", challengeCredBad, 0},
		{"invalid, API", authz.ErrInvalid, ForAPI, 401, "invalid_token", ChallengeUserInvalid, 0},
		{"invalid, proxy", authz.ErrInvalid, ForProxy, 401, "invalid_token", challengeCredInvalid, 0},
		{"key blocked 1.5s, API", &authz.KeyBlockedError{Wait: 1500 * time.Millisecond}, ForAPI, 429, "too_many_requests", nil, 2},
		{"key blocked 1.5s, proxy", &authz.KeyBlockedError{Wait: 1500 * time.Millisecond}, ForProxy, 429, "too_many_requests", nil, 2},
		{"key blocked without a wait", authz.ErrKeyBlocked, ForProxy, 429, "too_many_requests", nil, 1},
		{"input, API", &authz.InputError{Field: "handle", Reason: "required"}, ForAPI, 400, "invalid_request", nil, 0},
		{"input, proxy", &authz.InputError{Field: "handle", Reason: "required"}, ForProxy, 503, "temporarily_unavailable", nil, 1},
		{"handle taken", authz.ErrHandleTaken, ForAPI, 409, "conflict", nil, 0},
		{"user exists", authz.ErrUserExists, ForAPI, 409, "conflict", nil, 0},
		{"not found", authz.ErrNotFound, ForAPI, 404, "not_found", nil, 0},
		{"user not found", authz.ErrUserNotFound, ForAPI, 404, "not_found", nil, 0},
		{"forbidden", authz.ErrForbidden, ForAPI, 403, "forbidden", nil, 0},
		{"store down, API", fmt.Errorf("get: %w", store.ErrUnavailable), ForAPI, 503, "temporarily_unavailable", nil, 1},
		{"store down, proxy", fmt.Errorf("get: %w", store.ErrUnavailable), ForProxy, 503, "temporarily_unavailable", nil, 1},
		{"unknown, API", internal, ForAPI, 500, "server_error", nil, 0},
		{"unknown, proxy", internal, ForProxy, 503, "temporarily_unavailable", nil, 1},
		{"an answer as it is", ErrBadPath, ForProxy, 400, "invalid_request", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := Answer(tc.err, tc.front)
			if e.Status != tc.status || e.Code != tc.code || !slices.Equal(e.Challenge, tc.challenge) || e.RetryAfter != tc.retryAfter {
				t.Errorf("Answer(%v) = %d %s %q Retry-After %d, want %d %s %q Retry-After %d",
					tc.err, e.Status, e.Code, e.Challenge, e.RetryAfter, tc.status, tc.code, tc.challenge, tc.retryAfter)
			}
			if e.Status >= 500 && !errors.Is(e, tc.err) {
				t.Errorf("Answer(%v) lost the cause for the log: %v", tc.err, e.Cause)
			}
		})
	}
	if d := FromAuthz(&authz.InputError{Field: "handle", Reason: "required"}).Description; d != "handle: required" {
		t.Errorf("input error described as %q, want the message naming the field", d)
	}
	if Answer(internal, ForAPI).Description == internal.Error() || Answer(internal, ForProxy).Description == internal.Error() {
		t.Error("an internal cause reached the client's description")
	}
}

// TestWriteErrorJSON: the error body is what encoding/json writes for
// {"error", "error_description"} (the APIs wrote it with json.Marshal),
// whatever the description holds: quotes, HTML, control characters,
// invalid UTF-8, line separators.
func TestWriteErrorJSON(t *testing.T) {
	for _, d := range []string{
		"", "plain", `unknown field "naem"`, `a\b`, "<script>&amp;</script>", "tab\tnew\nline\r\b\f\x00\x1f",
		"héllo wörld", "bad \xff utf-8 \xc3", "line\u2028para\u2029", "emoji 🔑",
	} {
		rec := httptest.NewRecorder()
		WriteError(rec, &Error{Status: 400, Code: "invalid_request", Description: d, Challenge: []string{"Bearer"}, RetryAfter: 3})
		want, _ := json.Marshal(struct {
			Error       string `json:"error"`
			Description string `json:"error_description,omitempty"`
		}{"invalid_request", d})
		want = append(want, '\n')
		if got := rec.Body.String(); got != string(want) {
			t.Errorf("description %q: body %s, want %s", d, got, want)
		}
		h := rec.Result().Header
		for k, v := range map[string]string{
			"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache",
			"X-Content-Type-Options": "nosniff", "Www-Authenticate": "Bearer", "Retry-After": "3",
			"Content-Length": fmt.Sprint(len(want)),
		} {
			if h.Get(k) != v {
				t.Errorf("description %q: %s %q, want %q", d, k, h.Get(k), v)
			}
		}
		if rec.Code != http.StatusBadRequest {
			t.Errorf("status %d, want 400", rec.Code)
		}
	}
}
