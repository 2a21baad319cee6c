package testkit

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// The account pages' tests in several packages drive the pages as a
// browser does: forms posted with the CSRF token of the last page seen.

// SendForm sends method url with form as its urlencoded body (none when
// form is nil) and returns the answer's status, header and body; it fails
// the test when there is no answer.
func SendForm(t testing.TB, c *http.Client, method, url string, form url.Values) (int, http.Header, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, url, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(raw)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// CSRF is the CSRF token of the form in page, or last when it has none.
func CSRF(page, last string) string {
	if m := csrfField.FindStringSubmatch(page); m != nil {
		return m[1]
	}
	return last
}

// WithCSRF is form (a new one when nil) with csrf as its token, unless it
// sets one of its own.
func WithCSRF(form url.Values, csrf string) url.Values {
	if form == nil {
		form = url.Values{}
	}
	if form.Get("csrf") == "" {
		form.Set("csrf", csrf)
	}
	return form
}
