package proxy

import (
	"sync"
	"time"
)

// upstreamErrorLogEvery is how often, at most, an "upstream error" line is
// written per route and kind; the lines held back meanwhile are counted in
// the next one (suppressed). Every error is still counted in
// keygate_upstream_errors_total and has its access line.
const upstreamErrorLogEvery = 10 * time.Second

// lineLimiter lets one log line per key through per interval, and counts
// the others. Its keys come from small fixed sets (route names, error
// kinds), so its map stays small.
type lineLimiter struct {
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	keys map[[2]string]*lineState
}

type lineState struct {
	last       time.Time
	suppressed int
}

func newLineLimiter(every time.Duration, now func() time.Time) *lineLimiter {
	return &lineLimiter{every: every, now: now, keys: map[[2]string]*lineState{}}
}

// allow reports whether a line for (route, kind) may be written now and,
// if so, how many were held back since the last one written.
func (l *lineLimiter) allow(route, kind string) (ok bool, suppressed int) {
	now := l.now()
	k := [2]string{route, kind}
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.keys[k]
	if st == nil {
		l.keys[k] = &lineState{last: now}
		return true, 0
	}
	if now.Sub(st.last) < l.every {
		st.suppressed++
		return false, 0
	}
	suppressed, st.suppressed, st.last = st.suppressed, 0, now
	return true, suppressed
}
