package authz

import (
	"errors"
	"testing"
)

// TestInputError: a refused field comes back as an *InputError naming
// the field and the reason apart (no front end parses the message), is
// ErrInvalidInput, and keeps the message the CLI prints.
func TestInputError(t *testing.T) {
	s := newService(t, backends["embedded"](t), authConfig(), nil)
	mustUser(t, s, "alice", []string{"orders"}, []string{"read"})
	for _, tc := range []struct {
		name        string
		spec        KeySpec
		field, text string
	}{
		{"handle", KeySpec{Handle: "no spaces"}, "handle", "invalid input: handle: required: 1 to 64 of letters, digits, _ . -"},
		{"listed twice", KeySpec{Handle: "k", Scopes: []string{"read", "read"}}, "scopes[1]", `invalid input: scopes[1]: "read" is listed twice`},
		{"not granted", KeySpec{Handle: "k", APISets: []string{"billing"}}, "apiSets", `invalid input: apiSets: "billing" is not granted to the owner`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.Accounts.CreateKey(t.Context(), "alice", tc.spec)
			var ie *InputError
			if !errors.As(err, &ie) || !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("CreateKey: %v, want an *InputError that is ErrInvalidInput", err)
			}
			if ie.Field != tc.field || err.Error() != tc.text || ie.Message() != tc.text[len("invalid input: "):] {
				t.Errorf("got field %q, message %q; want field %q, message %q", ie.Field, err.Error(), tc.field, tc.text)
			}
		})
	}
}
