package redis

import "testing"

func TestEvictionValue(t *testing.T) {
	lru, no, hidden := policy{name: "allkeys-lru"}, policy{name: "noeviction"}, policy{}
	for _, tc := range []struct {
		name  string
		nodes map[string]policy
		want  float64
	}{
		{"none read yet", nil, -1},
		{"noeviction", map[string]policy{"a": no}, 0},
		{"every master noeviction", map[string]policy{"a": no, "b": no}, 0},
		{"volatile policies evict", map[string]policy{"a": {name: "volatile-ttl"}}, 1},
		{"one master evicts", map[string]policy{"a": no, "b": lru, "c": hidden}, 1},
		{"one master hidden", map[string]policy{"a": no, "b": hidden}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := evictionValue(tc.nodes); got != tc.want {
				t.Errorf("evictionValue(%v): got %v, want %v", tc.nodes, got, tc.want)
			}
		})
	}
}
