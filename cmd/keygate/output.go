package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
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

// writeList writes a list command's items as -o says: for "json" an array
// of view(item), for "text" a table of header and one row(item) each,
// columns separated by tabs.
func writeList[T, V any](w io.Writer, o outputFlag, items []T, view func(*T) V, header string, row func(*T) []string) error {
	if o == "json" {
		views := make([]V, 0, len(items))
		for i := range items {
			views = append(views, view(&items[i]))
		}
		return writeJSON(w, views)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for i := range items {
		fmt.Fprintln(tw, strings.Join(row(&items[i]), "\t"))
	}
	return tw.Flush()
}
