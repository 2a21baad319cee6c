package config

// Readiness shapes the health listener's /readyz: whether this replica can
// serve. By default it answers 200 while a config is loaded, the listeners
// are up and the gateway is not draining, whatever the store's state: a
// replica whose store is down still answers the credentials in its cache
// (auth.stale_if_error) and refuses the others with 503, and taking every
// replica out of its Service would lose those answers too. The store's
// state is reported apart: in the body ("store: ok" or "store:
// unreachable") and in keygate_store_up.
type Readiness struct {
	// RequireStore makes /readyz answer 503 while the store does not
	// answer (keygate's behaviour before this setting). Default false.
	RequireStore bool `yaml:"require_store"`
}
