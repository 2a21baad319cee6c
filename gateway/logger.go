package gateway

import (
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/keygate/keygate/config"
)

// NewLogger builds the process logger from the log section: JSON (default)
// or console, at a level that Reload can change.
func NewLogger(c config.Log) (*zap.Logger, zap.AtomicLevel, error) {
	level, err := zap.ParseAtomicLevel(c.Level)
	if err != nil {
		return nil, level, fmt.Errorf("log.level: %w", err)
	}
	var zc zap.Config
	if c.Format == "console" {
		zc = zap.NewDevelopmentConfig()
		zc.Development = false
	} else {
		zc = zap.NewProductionConfig()
		zc.EncoderConfig.TimeKey = "time"
		zc.EncoderConfig.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		zc.EncoderConfig.EncodeDuration = zapcore.SecondsDurationEncoder
	}
	zc.Level = level
	zc.Sampling = nil // an access log must not drop lines
	zc.DisableStacktrace = true
	log, err := zc.Build()
	if err != nil {
		return nil, level, fmt.Errorf("building logger: %w", err)
	}
	return log, level, nil
}
