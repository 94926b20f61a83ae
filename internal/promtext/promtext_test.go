package promtext

import (
	"bytes"
	"math"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parse reads s's exposition with Prometheus's own text parser, the
// independent judge of the format.
func parse(t *testing.T, s *Set) map[string]*dto.MetricFamily {
	t.Helper()
	var buf bytes.Buffer
	n, err := s.WriteTo(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteTo = %d, %v (wrote %d bytes)", n, err, buf.Len())
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(&buf)
	if err != nil {
		t.Fatalf("Prometheus's parser rejects the exposition: %v\n%s", err, buf.String())
	}
	return fams
}

func label(m *dto.Metric, name string) (string, bool) {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue(), true
		}
	}
	return "", false
}

// TestCountersParse: counters, with and without labels, with label values
// that need escaping (quote, backslash, line feed; a tab and a non-ASCII
// letter stay as they are), come back from the parser with their values.
func TestCountersParse(t *testing.T) {
	s := NewSet()
	s.Counter("a_total").Inc()
	odd := "q\"b\\c\n\tü"
	c := s.Counter("b_total", "kind", odd, "x", "1")
	c.Inc()
	c.Inc()
	s.Counter("b_total", "kind", "plain", "x", "2").Set(42)
	if s.Counter("b_total", "kind", odd, "x", "1") != c {
		t.Fatal("the same name and labels gave another counter")
	}
	fams := parse(t, s)
	if f := fams["a_total"]; f == nil || f.GetType() != dto.MetricType_COUNTER || f.GetMetric()[0].GetCounter().GetValue() != 1 {
		t.Fatalf("a_total = %v", f)
	}
	f := fams["b_total"]
	if f == nil || len(f.GetMetric()) != 2 {
		t.Fatalf("b_total = %v", f)
	}
	got := map[string]float64{}
	for _, m := range f.GetMetric() {
		k, _ := label(m, "kind")
		got[k] = m.GetCounter().GetValue()
	}
	if got[odd] != 2 || got["plain"] != 42 {
		t.Errorf("b_total by kind = %v, want %q: 2 and plain: 42", got, odd)
	}
}

// TestHistogramParse: buckets are cumulative, a bound is inclusive (an
// observation equal to it counts in it), values above every bound count
// only in +Inf, and sum and count add up.
func TestHistogramParse(t *testing.T) {
	s := NewSet()
	h := s.Histogram("lat_seconds", []float64{0.001, 0.01, 0.1}, "op", "get")
	for _, v := range []float64{0.0005, 0.001, 0.005, 0.05, 0.5, 2} {
		h.Observe(v)
	}
	s.Histogram("lat_seconds", []float64{0.001, 0.01, 0.1}, "op", "put") // empty
	fams := parse(t, s)
	f := fams["lat_seconds"]
	if f == nil || f.GetType() != dto.MetricType_HISTOGRAM || len(f.GetMetric()) != 2 {
		t.Fatalf("lat_seconds = %v", f)
	}
	for _, m := range f.GetMetric() {
		op, _ := label(m, "op")
		hist := m.GetHistogram()
		want := map[float64]uint64{0.001: 2, 0.01: 3, 0.1: 4}
		wantCount, wantSum := uint64(6), 0.0005+0.001+0.005+0.05+0.5+2
		if op == "put" {
			want = map[float64]uint64{0.001: 0, 0.01: 0, 0.1: 0}
			wantCount, wantSum = 0, 0
		}
		for _, b := range hist.GetBucket() {
			if math.IsInf(b.GetUpperBound(), 1) {
				continue // the parser folds +Inf into the count
			}
			if b.GetCumulativeCount() != want[b.GetUpperBound()] {
				t.Errorf("%s: bucket le=%g = %d, want %d", op, b.GetUpperBound(), b.GetCumulativeCount(), want[b.GetUpperBound()])
			}
		}
		if hist.GetSampleCount() != wantCount || math.Abs(hist.GetSampleSum()-wantSum) > 1e-12 {
			t.Errorf("%s: count %d sum %g, want %d and %g", op, hist.GetSampleCount(), hist.GetSampleSum(), wantCount, wantSum)
		}
	}
}

// TestTypeClash: one name cannot be both a counter and a histogram.
func TestTypeClash(t *testing.T) {
	s := NewSet()
	s.Counter("x_total")
	defer func() {
		if recover() == nil {
			t.Error("a histogram under a counter's name did not panic")
		}
	}()
	s.Histogram("x_total", []float64{1})
}

// TestMisuse: unsorted or infinite bucket bounds and an odd label list are
// programming errors, refused loudly rather than written wrong.
func TestMisuse(t *testing.T) {
	for name, f := range map[string]func(s *Set){
		"unsorted bounds": func(s *Set) { s.Histogram("a_seconds", []float64{1, 0.5}) },
		"+Inf bound":      func(s *Set) { s.Histogram("b_seconds", []float64{1, math.Inf(1)}) },
		"odd labels":      func(s *Set) { s.Counter("c_total", "kind") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f(NewSet())
		}()
	}
}

// TestConcurrent: updates from many goroutines during scrapes lose nothing
// (run with -race).
func TestConcurrent(t *testing.T) {
	s := NewSet()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				s.Counter("n_total", "g", "all").Inc()
				s.Histogram("h_seconds", []float64{0.5}).Observe(1)
				if i%100 == 0 {
					var buf bytes.Buffer
					_, _ = s.WriteTo(&buf)
				}
			}
		}()
	}
	wg.Wait()
	fams := parse(t, s)
	if v := fams["n_total"].GetMetric()[0].GetCounter().GetValue(); v != 4000 {
		t.Errorf("n_total = %v, want 4000", v)
	}
	if c := fams["h_seconds"].GetMetric()[0].GetHistogram().GetSampleCount(); c != 4000 {
		t.Errorf("h_seconds count = %d, want 4000", c)
	}
}
