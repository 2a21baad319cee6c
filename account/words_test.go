package account

import (
	"io/fs"
	"strings"
	"testing"
)

// TestPagesPlainWords: the templates and the CSS and JavaScript the pages
// are made of (what the binary embeds and serves) name the flows — OAuth2
// client credentials, named API keys, long-lived key tokens, the ApiKey key
// and token — never the internal "seed" documents they came from.
func TestPagesPlainWords(t *testing.T) {
	for _, files := range []fs.FS{templateFiles, staticFiles} {
		n := 0
		err := fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			n++
			b, err := fs.ReadFile(files, path)
			if err != nil {
				return err
			}
			for i, line := range strings.Split(string(b), "\n") {
				if strings.Contains(strings.ToLower(line), "seed") {
					t.Errorf("%s:%d says \"seed\"; name the flow instead: %s", path, i+1, strings.TrimSpace(line))
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Error("no embedded files read; want the templates and static files")
		}
	}
}
