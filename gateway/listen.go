package gateway

import (
	"errors"
	"net"

	"github.com/keygate/keygate/config"
)

// ListenError is a listener that could not be bound, named by the config
// field that holds its address: "health_listen: listen tcp
// 127.0.0.1:9091: bind: address already in use".
type ListenError struct {
	// Field is the config field path: listen, admin_listen,
	// health_listen, tls.http_listen or forward_auth.grpc_listen.
	Field string
	// Err is net.Listen's error.
	Err error
}

func (e *ListenError) Error() string { return e.Field + ": " + e.Err.Error() }

func (e *ListenError) Unwrap() error { return e.Err }

// Listeners are a config's listeners, bound (Bind) and not yet served.
type Listeners struct {
	public, admin, health net.Listener
	http                  net.Listener // tls.http_listen; nil without one
	grpc                  net.Listener // forward_auth.grpc_listen; nil without one
}

// Bind binds every listener the config names: listen, admin_listen,
// health_listen, tls.http_listen and forward_auth.grpc_listen (when
// forward_auth is on). cmd/keygate calls it before New, so that a port
// that is taken stops the start before any store is opened or created.
// The first that cannot be bound is a *ListenError; those bound before
// it are closed again.
func Bind(cfg *config.Config) (_ *Listeners, err error) {
	ls := &Listeners{}
	defer func() {
		if err != nil {
			ls.Close()
		}
	}()
	listen := func(field, addr string) (net.Listener, error) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, &ListenError{Field: field, Err: err}
		}
		return l, nil
	}
	if ls.public, err = listen("listen", cfg.Listen); err != nil {
		return nil, err
	}
	if ls.admin, err = listen("admin_listen", cfg.AdminListen); err != nil {
		return nil, err
	}
	if ls.health, err = listen("health_listen", cfg.HealthListen); err != nil {
		return nil, err
	}
	if cfg.TLS.HTTPListen != "" {
		if ls.http, err = listen("tls.http_listen", cfg.TLS.HTTPListen); err != nil {
			return nil, err
		}
	}
	if a := cfg.ForwardAuth.GRPCListen; a != "" && cfg.ForwardAuth.On() {
		if ls.grpc, err = listen("forward_auth.grpc_listen", a); err != nil {
			return nil, err
		}
	}
	return ls, nil
}

// Close closes the listeners; closing one whose server has shut it down
// already is harmless.
func (ls *Listeners) Close() error {
	var errs []error
	for _, l := range []net.Listener{ls.public, ls.admin, ls.health, ls.http, ls.grpc} {
		if l != nil {
			if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
