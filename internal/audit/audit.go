// Package audit writes audit lines and sends them to a sink of their
// own. The credential model writes one line per change (Log), with the
// actor its front end put in the context (WithActor); a log entry with an
// "audit" field (the action, one of Actions) is written to the main log
// and, when audit.file is set, to that file too (Tee), so that audit
// lines can be shipped apart from access logs. docs/operations.md lists
// the fields and the actions.
package audit

import (
	"fmt"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/keygate/keygate/config"
)

// Key is the field that makes a log entry an audit line.
const Key = "audit"

// Tee returns log with audit lines also written to c.File, and the
// function that closes that file. Without c.File it returns log as it
// is. An error names the config field.
func Tee(log *zap.Logger, c config.Audit) (*zap.Logger, func() error, error) {
	if c.File == "" {
		return log, func() error { return nil }, nil
	}
	f, err := os.OpenFile(c.File, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("audit.file: %w", err)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "time"
	enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	enc.EncodeDuration = zapcore.SecondsDurationEncoder
	sink := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(f), zapcore.InfoLevel)
	return log.WithOptions(zap.WrapCore(func(main zapcore.Core) zapcore.Core {
		return &tee{main: main, sink: sink}
	})), f.Close, nil
}

// tee writes every entry to main as main's level says, and the entries
// with an audit field to sink as well.
type tee struct {
	main, sink zapcore.Core
}

func (t *tee) Enabled(l zapcore.Level) bool { return t.main.Enabled(l) || t.sink.Enabled(l) }

func (t *tee) With(fs []zapcore.Field) zapcore.Core {
	return &tee{main: t.main.With(fs), sink: t.sink.With(fs)}
}

func (t *tee) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if t.Enabled(e.Level) {
		return ce.AddCore(e, t)
	}
	return ce
}

func (t *tee) Write(e zapcore.Entry, fs []zapcore.Field) error {
	var err error
	if t.main.Enabled(e.Level) {
		err = t.main.Write(e, fs)
	}
	if t.sink.Enabled(e.Level) && isAudit(fs) {
		if serr := t.sink.Write(e, fs); err == nil {
			err = serr
		}
	}
	return err
}

func (t *tee) Sync() error {
	err := t.main.Sync()
	if serr := t.sink.Sync(); err == nil {
		err = serr
	}
	return err
}

func isAudit(fs []zapcore.Field) bool {
	for i := range fs {
		if fs[i].Key == Key {
			return true
		}
	}
	return false
}
