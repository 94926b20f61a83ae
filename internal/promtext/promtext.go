// Package promtext keeps counters and histograms and writes them in the
// Prometheus text exposition format (version 0.0.4), for the online CA's
// /metrics (package enroll).
//
// It replaced github.com/VictoriaMetrics/metrics, and client_golang before
// it, for one reason: every scca command links the online CA, and both
// libraries did work at package initialisation that every command paid for
// (VictoriaMetrics read cgroup and pressure files and compiled a regular
// expression: about 1.3 ms and 200 page faults of each process, `scca
// issue` included). What scca exposes is a small subset of the format —
// counters and histograms with fixed buckets, with labels — and the tests
// check the output with Prometheus's own parser (prometheus/common/expfmt).
package promtext

import (
	"bufio"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Set holds metric families; it is safe for concurrent use.
type Set struct {
	mu       sync.Mutex
	families map[string]*family
}

type family struct {
	name   string
	typ    string // "counter" or "histogram"
	series map[string]any
}

// NewSet returns an empty set.
func NewSet() *Set { return &Set{families: map[string]*family{}} }

// Counter returns the counter name{labels}, creating it at zero; labels
// are name/value pairs, in the order they are to be written. It panics if
// name is already a histogram (a programming error).
func (s *Set) Counter(name string, labels ...string) *Counter {
	v := s.get(name, "counter", labels, func() any { return &Counter{} })
	return v.(*Counter)
}

// Histogram returns the histogram name{labels} with the given upper bucket
// bounds (finite and strictly ascending; +Inf is implied), creating it
// empty. It panics on bad bounds (a programming error).
func (s *Set) Histogram(name string, bounds []float64, labels ...string) *Histogram {
	v := s.get(name, "histogram", labels, func() any {
		for i, b := range bounds {
			if math.IsNaN(b) || math.IsInf(b, 0) || (i > 0 && b <= bounds[i-1]) {
				panic("promtext: " + name + ": bucket bounds must be finite and strictly ascending")
			}
		}
		return &Histogram{bounds: append([]float64(nil), bounds...), counts: make([]uint64, len(bounds))}
	})
	return v.(*Histogram)
}

func (s *Set) get(name, typ string, labels []string, create func() any) any {
	if len(labels)%2 != 0 {
		panic("promtext: " + name + ": labels come in name/value pairs")
	}
	key := labelString(labels)
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.families[name]
	if f == nil {
		f = &family{name: name, typ: typ, series: map[string]any{}}
		s.families[name] = f
	}
	if f.typ != typ {
		panic("promtext: " + name + " is a " + f.typ + ", not a " + typ)
	}
	v := f.series[key]
	if v == nil {
		v = create()
		f.series[key] = v
	}
	return v
}

// WriteTo writes every family, sorted by name and then by labels, each
// with its # TYPE line.
func (s *Set) WriteTo(w io.Writer) (int64, error) {
	s.mu.Lock()
	names := make([]string, 0, len(s.families))
	for n := range s.families {
		names = append(names, n)
	}
	sort.Strings(names)
	type entry struct {
		labels string
		v      any
	}
	out := make([][]entry, len(names))
	for i, n := range names {
		for l, v := range s.families[n].series {
			out[i] = append(out[i], entry{l, v})
		}
		sort.Slice(out[i], func(a, b int) bool { return out[i][a].labels < out[i][b].labels })
	}
	types := make([]string, len(names))
	for i, n := range names {
		types[i] = s.families[n].typ
	}
	s.mu.Unlock()

	cw := &countingWriter{w: w}
	b := bufio.NewWriter(cw)
	for i, n := range names {
		b.WriteString("# TYPE " + n + " " + types[i] + "\n")
		for _, e := range out[i] {
			switch v := e.v.(type) {
			case *Counter:
				b.WriteString(n + braced(e.labels) + " " + strconv.FormatUint(v.Get(), 10) + "\n")
			case *Histogram:
				v.write(b, n, e.labels)
			}
		}
	}
	err := b.Flush()
	return cw.n, err
}

// Counter is a monotonic count (Set exists for a count read from
// elsewhere, which never goes back).
type Counter struct{ v atomic.Uint64 }

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Set sets the count.
func (c *Counter) Set(n uint64) { c.v.Store(n) }

// Get returns the count.
func (c *Counter) Get() uint64 { return c.v.Load() }

// Histogram counts observations into cumulative buckets.
type Histogram struct {
	bounds []float64
	mu     sync.Mutex
	counts []uint64 // per bucket, not cumulative; the rest is +Inf
	inf    uint64
	sum    float64
	count  uint64
}

// Observe records v.
func (h *Histogram) Observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v) // first bound >= v: le is inclusive
	h.mu.Lock()
	defer h.mu.Unlock()
	if i < len(h.counts) {
		h.counts[i]++
	} else {
		h.inf++
	}
	h.sum += v
	h.count++
}

// ObserveSince records the seconds elapsed since start.
func (h *Histogram) ObserveSince(start time.Time) { h.Observe(time.Since(start).Seconds()) }

func (h *Histogram) write(b *bufio.Writer, name, labels string) {
	h.mu.Lock()
	counts := append([]uint64(nil), h.counts...)
	inf, sum, count := h.inf, h.sum, h.count
	h.mu.Unlock()
	sep := ""
	if labels != "" {
		sep = ","
	}
	var cum uint64
	for i, le := range h.bounds {
		cum += counts[i]
		b.WriteString(name + "_bucket{" + labels + sep + `le="` + formatFloat(le) + `"} ` + strconv.FormatUint(cum, 10) + "\n")
	}
	b.WriteString(name + "_bucket{" + labels + sep + `le="+Inf"} ` + strconv.FormatUint(cum+inf, 10) + "\n")
	b.WriteString(name + "_sum" + braced(labels) + " " + formatFloat(sum) + "\n")
	b.WriteString(name + "_count" + braced(labels) + " " + strconv.FormatUint(count, 10) + "\n")
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// labelEscaper escapes a label value as the text format wants: backslash,
// double quote and line feed, and nothing else.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// labelString renders pairs as a="x",b="y" (without braces).
func labelString(pairs []string) string {
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(pairs[i])
		b.WriteString(`="`)
		b.WriteString(labelEscaper.Replace(pairs[i+1]))
		b.WriteByte('"')
	}
	return b.String()
}

func braced(labels string) string {
	if labels == "" {
		return ""
	}
	return "{" + labels + "}"
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
