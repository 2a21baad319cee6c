package account

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/keygate/keygate/authz"
	"github.com/keygate/keygate/internal/httpkit"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// pageNames are the templates in templates/, each rendered inside
// layout.html.
var pageNames = []string{"signin", "profile", "newkey", "savekey", "apikey", "client", "users", "user", "password", "error", "continue"}

// pages are the parsed templates, one set per page.
type pages struct {
	set map[string]*template.Template
}

var funcs = template.FuncMap{
	"join":      strings.Join,
	"secretSet": secretSet,
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
}

func parsePages() (*pages, error) {
	p := &pages{set: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/icons.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("account: parsing %s: %w", name, err)
		}
		p.set[name] = t
	}
	return p, nil
}

// view is what every page's template gets.
type view struct {
	// Title is the page's heading and <title>.
	Title string
	// Base is account.path: links are built from it.
	Base string
	// User is the signed-in user; nil on the sign-in and some error pages.
	User *authz.User
	// CSRF is the token every form carries.
	CSRF string
	// Admin: the user holds the ADMIN authority (the Users link).
	Admin bool
	// NoPasswords: account.oidc.only, so there is no Password page.
	NoPasswords bool
	// Error is a problem to show above the page's content.
	Error string
	// Page is the page's own data.
	Page any
}

// render writes a page. It is rendered to a buffer first, so a template
// error is a clean 500 and never half a page.
func (h *Handler) render(w http.ResponseWriter, status int, name string, v view) {
	v.Base = h.base
	v.NoPasswords = h.oidc != nil && h.oidc.cfg.Only
	var buf bytes.Buffer
	if err := h.pages.set[name].Execute(&buf, v); err != nil {
		h.log.Error("rendering an account page", zap.String("page", name), zap.Error(err))
		http.Error(w, "Something went wrong inside keygate.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// pageError is a failure with a status and a sentence for the person.
type pageError struct {
	status int
	msg    string
}

func (e *pageError) Error() string { return e.msg }

var (
	errCSRF = &pageError{http.StatusForbidden,
		"This form has expired or did not come from this page. Go back, reload the page and try again."}
	errNotAdmin = &pageError{http.StatusForbidden, "This page is for administrators (the ADMIN authority)."}
	errNotFound = &pageError{http.StatusNotFound, "There is no such page."}
)

// pageSentences are the pages' words for the answers of httpkit's table
// (by status); another status is said in the table's words.
var pageSentences = map[int]string{
	http.StatusNotFound:            "There is no such user, key or client (it may have been deleted).",
	http.StatusForbidden:           "This is not allowed for this account.",
	http.StatusServiceUnavailable:  "The credential store cannot be reached; try again shortly.",
	http.StatusInternalServerError: "Something went wrong inside keygate.",
}

// fail renders the error page for err: a pageError as it says, authz's
// outcomes as httpkit's table answers them (an input error's message names
// the field), the store's trouble as 503 with Retry-After, anything else
// as 500 with the cause logged (never shown).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, v *visit, err error) {
	var status int
	var msg string
	if pe := (*pageError)(nil); errors.As(err, &pe) {
		status, msg = pe.status, pe.msg
	} else {
		e := httpkit.FromAuthz(err)
		status, msg = e.Status, e.Description
		if s, ok := pageSentences[status]; ok {
			msg = s
		}
		switch {
		case status == http.StatusServiceUnavailable:
			w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
			h.log.Warn("account page: store unavailable", zap.String("path", r.URL.Path), zap.Error(err))
		case status >= 500:
			h.log.Error("account page failed", zap.String("path", r.URL.Path), zap.Error(err))
		}
	}
	pv := view{Title: http.StatusText(status), Error: msg}
	if v != nil {
		pv.User, pv.CSRF, pv.Admin = v.user, v.s.CSRF, v.user.Has(authz.AuthorityAdmin)
	}
	h.render(w, status, "error", pv)
}

// static serves the embedded CSS and JavaScript.
func (h *Handler) static() http.Handler {
	sub, _ := fs.Sub(staticFiles, "static")
	files := http.StripPrefix(h.base+"/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Del("Pragma")
		files.ServeHTTP(w, r)
	})
}
