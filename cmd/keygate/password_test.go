package main

import (
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"testing/iotest"
)

// keygateIn runs the binary with args and stdin as its standard input.
func keygateIn(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	return runCmd(t, cmd)
}

// TestUsersPassword sets a password with `keygate users password`, read
// from standard input, and signs in with it to the admin API of a real
// `keygate serve`.
func TestUsersPassword(t *testing.T) {
	_, path := servedConfig(t, "http://127.0.0.1:1", ordersRoute, "")
	mustKeygate(t, "users", "add", "root", "--admin", "-config", path)
	const password = "correct horse battery staple"

	for _, tc := range []struct {
		name, stdin string
		args        []string
		code        int
		stderr      string
	}{
		{"empty input", "", nil, exitError, "keygate users password: the new password: standard input holds no line, or an empty one"},
		{"empty line", "\n" + password + "\n", nil, exitError, "standard input holds no line, or an empty one"},
		{"too short", "short\n", nil, exitError, "keygate users password: invalid input: password: must be 8 to 256 bytes"},
		{"too long", strings.Repeat("x", 5000) + "\n", nil, exitError, "longer than 4096 bytes"},
		{"unknown user", password + "\n", []string{"nobody"}, exitError, `keygate users password: user not found: "nobody"`},
		{"password as an argument", "", []string{"root", password}, exitConfig, "keygate users password: unexpected argument: the new password is read from standard input, never taken as an argument"},
		{"no name", password + "\n", []string{}, exitConfig, "keygate users password: missing NAME"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if args == nil {
				args = []string{"root"}
			}
			stdout, stderr, code := keygateIn(t, tc.stdin, append([]string{"users", "password", "-config", path}, args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) || stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, nothing on stdout and %q", code, stdout, stderr, tc.code, tc.stderr)
			}
			if strings.Contains(stderr, password) {
				t.Errorf("stderr shows the password: %q", stderr)
			}
		})
	}

	// One line, with a Windows line end; what follows it is not read.
	stdout, stderr, code := keygateIn(t, password+"\r\nthe rest\n", "users", "password", "root", "-config", path)
	if code != exitOK || stdout != "password of root set\n" || strings.Contains(stdout+stderr, password) {
		t.Fatalf("users password: exit %d, stdout %q, stderr %q; want exit 0 and \"password of root set\"", code, stdout, stderr)
	}

	// The password signs root in to the admin API of a running keygate.
	p := startServe(t, path)
	url := "http://" + p.adminAddr + "/admin/users"
	for _, tc := range []struct {
		password string
		want     int
	}{{password, http.StatusOK}, {password + "\r", http.StatusUnauthorized}, {"the rest", http.StatusUnauthorized}} {
		req, _ := http.NewRequest("GET", url, nil)
		req.SetBasicAuth("root", tc.password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET /admin/users as root with password %q: %d, want %d", tc.password, resp.StatusCode, tc.want)
		}
	}
}

func TestReadLine(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"pw\n", "pw", true},
		{"pw", "pw", true},
		{"pw\r\n", "pw", true},
		{"pw\nmore\n", "pw", true},
		{" pw \n", " pw ", true},
		{"", "", false},
		{"\n", "", false},
		{"\r\n", "", false},
		{strings.Repeat("x", maxLine), strings.Repeat("x", maxLine), true},
		{strings.Repeat("x", maxLine+1) + "\n", "", false},
	} {
		got, err := readLine(strings.NewReader(tc.in))
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("readLine(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	if _, err := readLine(iotest.ErrReader(errors.New("boom"))); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("readLine of a failing reader: %v", err)
	}
}
