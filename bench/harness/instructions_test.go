package main

import (
	"strings"
	"testing"
)

func TestInstructionsTables(t *testing.T) {
	ir := map[string]int64{"bare": 100000, "keygate": 150000, "keygate-bearer": 180000, "nginx": 25000}
	spreads := map[string]float64{"bare": 0.1, "keygate": 0.25, "keygate-bearer": 0.7, "nginx": 0}
	got := instructionsTables([]string{"bare", "keygate", "keygate-bearer", "nginx"}, ir, spreads)
	want := `| target | instructions/request | spread % | vs bare | vs keygate |
|---|---:|---:|---:|---:|
| bare | 100000 | 0.1 | 1.000 | 0.667 |
| keygate | 150000 | 0.2 | 1.500 | 1.000 |
| keygate-bearer | 180000 | 0.7 | 1.800 | 1.200 |
| nginx | 25000 | 0.0 | 0.250 | 0.167 |

| step | added instructions/request |
|---|---:|
| keygate → keygate-bearer | 30000 |
`
	if got != want {
		t.Errorf("instructionsTables =\n%s\nwant\n%s", got, want)
	}
	// Without bare the first target is the baseline, and a keygate
	// baseline has no second ratio column.
	got = instructionsTables([]string{"keygate", "keygate-bearer"}, ir, spreads)
	if !strings.HasPrefix(got, "| target | instructions/request | spread % | vs keygate |\n|---|---:|---:|---:|\n") {
		t.Errorf("instructionsTables without bare =\n%s", got)
	}
}
