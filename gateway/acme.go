package gateway

import (
	"errors"

	"github.com/keygate/keygate/config"
)

func (g *Gateway) buildACME(cfg *config.Config, publicPort, httpPort int) (*publicTLS, error) {
	return nil, errors.New("todo")
}
