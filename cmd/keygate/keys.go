package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	adminapi "github.com/keygate/keygate/api/admin"
	"github.com/keygate/keygate/authz"
)

func keysCreate(fs *flag.FlagSet) action {
	var spec authz.KeySpec
	fs.StringVar(&spec.Handle, "handle", "", "the key's `handle` (required; unique per user)")
	fs.StringVar(&spec.Alias, "alias", "", "the key's `alias`")
	fs.StringVar(&spec.Description, "description", "", "what the key is for")
	sets, scopes := listFlag{}, listFlag{}
	fs.Var(&sets, "api-sets", "comma-separated API `sets` (default: all of the user's)")
	fs.Var(&scopes, "scopes", "comma-separated `scopes` (default: all of the user's)")
	expires := fs.Duration("expires", 0, "lifetime of the token, e.g. 720h, at most 876000h (default: until the key is deleted)")
	fs.BoolVar(&spec.Admin, "admin", false, "make a key the admin API accepts (the user must hold ADMIN)")
	return func(ctx context.Context, s *authz.Service, args []string, stdout, stderr io.Writer) error {
		spec.APISets, spec.Scopes = sets, scopes
		if *expires != 0 {
			if *expires < 0 || *expires > authz.MaxLifetime {
				return &authz.InputError{Field: "--expires", Reason: "must be a positive duration of at most 876000h (100 years), such as 720h"}
			}
			spec.Expires = time.Now().Add(*expires)
		}
		token, cred, err := s.Accounts.CreateKey(ctx, args[0], spec)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, token)
		kind := "key"
		if cred.Admin {
			kind = "admin key"
		}
		fmt.Fprintf(stderr, "keygate: "+kind+" %q of %s created (credential %s; api sets: %s; scopes: %s). Send the token above as \"Authorization: Bearer TOKEN\". It is shown only once: keygate keeps only its digest.\n",
			cred.Handle, cred.Owner, cred.ID, names(cred.APISets), names(cred.Scopes))
		return nil
	}
}

func keysList(fs *flag.FlagSet) action {
	output := newOutputFlag(fs)
	return func(ctx context.Context, s *authz.Service, args []string, stdout, _ io.Writer) error {
		if _, err := s.Accounts.GetUser(ctx, args[0]); err != nil {
			return err
		}
		creds, err := s.Accounts.Credentials(ctx, args[0])
		if err != nil {
			return err
		}
		return writeList(stdout, *output, creds, adminapi.ViewCredential,
			"ID\tKIND\tHANDLE\tSTATUS\tAPI SETS\tSCOPES\tCREATED\tEXPIRES", func(c *authz.Credential) []string {
				expires := "never"
				if !c.Expires.IsZero() {
					expires = c.Expires.UTC().Format(time.RFC3339)
				}
				handle := c.Handle
				if handle == "" {
					handle = "-"
				}
				return []string{c.ID, string(c.Kind), handle, string(c.Status),
					column(c.APISets), column(c.Scopes), c.Created.UTC().Format(time.RFC3339), expires}
			})
	}
}

func keysDelete(*flag.FlagSet) action {
	return func(ctx context.Context, s *authz.Service, args []string, stdout, _ io.Writer) error {
		if err := s.Accounts.DeleteKey(ctx, args[0], args[1]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "key %q of %s deleted\n", args[1], args[0])
		return nil
	}
}

func keysRevoke(*flag.FlagSet) action {
	return func(ctx context.Context, s *authz.Service, args []string, stdout, _ io.Writer) error {
		if err := s.Accounts.Revoke(ctx, args[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "credential %s revoked\n", args[0])
		return nil
	}
}
