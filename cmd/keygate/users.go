package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	adminapi "github.com/keygate/keygate/api/admin"
	"github.com/keygate/keygate/authz"
)

func usersAdd(fs *flag.FlagSet) action {
	isAdmin := fs.Bool("admin", false, "give the user the ADMIN authority")
	manageKeys := fs.Bool("manage-keys", false, "give the user the MANAGE_USER_API_KEY authority (self-service API keys)")
	sets := listFlag{}
	fs.Var(&sets, "api-sets", "comma-separated API `sets` the user's credentials may use")
	scopes := listFlag{"read", "write"}
	fs.Var(&scopes, "scopes", "comma-separated `scopes` the user's credentials may carry")
	return func(ctx context.Context, s *authz.Service, args []string, stdout, _ io.Writer) error {
		u := authz.User{Name: args[0], APISets: sets, Scopes: scopes}
		if *isAdmin {
			u.Authorities = append(u.Authorities, authz.AuthorityAdmin)
		}
		if *manageKeys {
			u.Authorities = append(u.Authorities, authz.AuthorityManageUserAPIKey)
		}
		created, err := s.Accounts.CreateUser(ctx, u)
		if err != nil {
			return err
		}
		authorities := ""
		if len(created.Authorities) > 0 {
			authorities = "; authorities: " + names(created.Authorities)
		}
		fmt.Fprintf(stdout, "user %s created (api sets: %s; scopes: %s%s)\n", created.Name, names(created.APISets), names(created.Scopes), authorities)
		return nil
	}
}

func usersList(fs *flag.FlagSet) action {
	output := newOutputFlag(fs)
	return func(ctx context.Context, s *authz.Service, _ []string, stdout, _ io.Writer) error {
		users, err := s.Accounts.ListUsers(ctx)
		if err != nil {
			return err
		}
		return writeList(stdout, *output, users, adminapi.ViewUser,
			"NAME\tAUTHORITIES\tAPI SETS\tSCOPES\tDISABLED", func(u *authz.User) []string {
				return []string{u.Name, column(u.Authorities), column(u.APISets), column(u.Scopes), yesNo(u.Disabled)}
			})
	}
}

// usersDisable returns the setup of "users disable" (disable true) or
// "users enable".
func usersDisable(disable bool) func(*flag.FlagSet) action {
	return func(*flag.FlagSet) action {
		return func(ctx context.Context, s *authz.Service, args []string, stdout, _ io.Writer) error {
			if _, err := s.Accounts.UpdateUser(ctx, args[0], func(u *authz.User) error {
				u.Disabled = disable
				return nil
			}); err != nil {
				return err
			}
			word := "enabled"
			if disable {
				word = "disabled"
			}
			fmt.Fprintf(stdout, "user %s %s\n", args[0], word)
			return nil
		}
	}
}

// usersPassword sets a user's password, given as the line read from
// standard input after the name.
func usersPassword(*flag.FlagSet) action {
	return func(ctx context.Context, s *authz.Service, args []string, stdout, _ io.Writer) error {
		if err := s.Passwords.SetPassword(ctx, args[0], args[1]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password of %s set\n", args[0])
		return nil
	}
}

// apikeyToken and apikeyRotate print a user's new ApiKey pair on stdout
// (the token, or the key and the token, are new), and on stderr what
// the new pair replaced.
var (
	apikeyToken  = apikeyIssue((*authz.Accounts).NewAPIKeyToken, "a new ApiKey token for %s; earlier tokens no longer work")
	apikeyRotate = apikeyIssue((*authz.Accounts).RotateAPIKey, "a new ApiKey key and token for %s; the old pair no longer works")
)

// apikeyIssue returns the setup of a command that makes a user's ApiKey
// pair with issue and prints it, with note (naming the user) on stderr.
func apikeyIssue(issue func(*authz.Accounts, context.Context, string) (string, string, error), note string) func(*flag.FlagSet) action {
	return func(*flag.FlagSet) action {
		return func(ctx context.Context, s *authz.Service, args []string, stdout, stderr io.Writer) error {
			key, token, err := issue(s.Accounts, ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "ApiKey %s:%s\n", key, token)
			fmt.Fprintf(stderr, "keygate: "+note+". Send the line above as the Authorization header. The token is shown only once.\n", args[0])
			return nil
		}
	}
}

func apikeyUnvoid(*flag.FlagSet) action {
	return func(ctx context.Context, s *authz.Service, args []string, stdout, _ io.Writer) error {
		if err := s.Accounts.Unvoid(ctx, args[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "the ApiKey token of %s works again\n", args[0])
		return nil
	}
}

// column prints a list in a table cell: "a,b", or "-".
func column(l []string) string {
	if len(l) == 0 {
		return "-"
	}
	return strings.Join(l, ",")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
