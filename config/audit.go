package config

// Audit sends audit lines to a sink of their own. See docs/operations.md.
type Audit struct {
	// File receives every audit line (a log entry with an "audit" field:
	// changes, voids, revocations) as JSON, one per line, appended, in
	// addition to the main log, so that they can be shipped apart from
	// access logs. keygate creates it with mode 0600 if it does not exist.
	// Default none: audit lines are only in the main log. Read at start:
	// a change needs a restart.
	File string `yaml:"file"`
}
