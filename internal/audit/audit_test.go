package audit

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/keygate/keygate/config"
)

// TestTee: audit lines reach the file whatever the main log's level;
// other lines never do; the main log keeps its level.
func TestTee(t *testing.T) {
	file := filepath.Join(t.TempDir(), "audit.log")
	core, main := observer.New(zapcore.WarnLevel)
	log, closeFile, err := Tee(zap.New(core), config.Audit{File: file})
	if err != nil {
		t.Fatal(err)
	}
	named := log.Named("adminapi").With(zap.String("request_id", "r1"))
	named.Info("request", zap.String("route", "orders"))
	named.Info("credential revoked", zap.String(Key, "revoke"), zap.String("credential_id", "c1"))
	named.Warn("credential voided after repeated wrong tokens", zap.String(Key, "void"), zap.String("credential_id", "c2"))
	if err := closeFile(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	if len(lines) != 2 || !strings.Contains(string(lines[0]), `"audit":"revoke"`) || !strings.Contains(string(lines[1]), `"audit":"void"`) ||
		!strings.Contains(string(lines[0]), `"request_id":"r1"`) || !strings.Contains(string(lines[0]), `"logger":"adminapi"`) {
		t.Errorf("audit file:\n%s\nwant the revoke and void lines, with the logger's name and fields", data)
	}
	if got := main.All(); len(got) != 1 || got[0].Message != "credential voided after repeated wrong tokens" {
		t.Errorf("main log (warn) has %v, want only the void line", got)
	}

	if _, _, err := Tee(zap.NewNop(), config.Audit{File: filepath.Join(t.TempDir(), "missing", "audit.log")}); err == nil || !strings.HasPrefix(err.Error(), "audit.file: ") {
		t.Errorf("a file in a missing directory: %v, want an error naming audit.file", err)
	}
}
