package gateway

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/keygate/keygate/config"
	"github.com/keygate/keygate/store"
	"github.com/keygate/keygate/store/embedded"
	"github.com/keygate/keygate/store/redis"
)

// OpenStore opens the store the config selects. Its error names the config
// field to look at.
func OpenStore(ctx context.Context, c config.Store, log *zap.Logger, reg prometheus.Registerer) (store.Store, error) {
	switch c.Driver {
	case config.DriverEmbedded:
		s, err := embedded.Open(ctx, c.Embedded, log.Named("store"))
		if err != nil {
			return nil, fmt.Errorf("store.embedded.path: %w", err)
		}
		return s, nil
	case config.DriverRedis:
		s, err := redis.New(ctx, c.Redis, log.Named("store"), reg)
		if err != nil {
			return nil, fmt.Errorf("store.redis: %w", err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("store.driver: unknown driver %q", c.Driver)
}
