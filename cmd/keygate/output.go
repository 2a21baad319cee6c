package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
)

// outputFlag is the -o flag of the list commands: "text" (a table, the
// default) or "json" (an array, for scripts).
type outputFlag string

func (o *outputFlag) String() string { return string(*o) }

func (o *outputFlag) Set(v string) error {
	switch v {
	case "text", "json":
		*o = outputFlag(v)
		return nil
	}
	return fmt.Errorf("must be text or json, not %q", v)
}

func newOutputFlag(fs *flag.FlagSet) *outputFlag {
	o := outputFlag("text")
	fs.Var(&o, "o", "output `format`: text (a table) or json (an array)")
	return &o
}

// writeJSON writes v as indented JSON and a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
