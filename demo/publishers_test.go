package demo_test

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/ssehub/ssehub/demo"
)

func TestClockSaysControllerAtTimeEveryInterval(t *testing.T) {
	s := start(t, demo.Options{Now: fixedNow, ClockInterval: 10 * time.Millisecond}, true)
	events := s.subscribe(t, "", demo.ClockTopic)
	first := next(t, events, "")
	re := regexp.MustCompile(`^Controller (\d+) at 2026-11-23T09:30:00Z$`)
	m := re.FindStringSubmatch(first.Data)
	if m == nil {
		t.Fatalf("clock said %q", first.Data)
	}
	second := next(t, events, "")
	if want := regexp.MustCompile(`^Controller ` + nextNumber(t, m[1]) + ` at `); !want.MatchString(second.Data) {
		t.Fatalf("after %q came %q", first.Data, second.Data)
	}
}

func nextNumber(t *testing.T, s string) string {
	var n int
	if err := json.Unmarshal([]byte(s), &n); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(n + 1)
	return string(b)
}

func TestStocksSnapshotThenTypedUpdates(t *testing.T) {
	s := start(t, demo.Options{StocksInterval: 5 * time.Millisecond, Rand: rand.New(rand.NewPCG(1, 2))}, true)
	var snap struct {
		Quotes      []demo.Quote
		LastEventID string
	}
	if code := s.call(t, "GET", "/demo/stocks/quotes", "", "", &snap); code != 200 || len(snap.Quotes) < 24 || snap.LastEventID == "" {
		t.Fatalf("quotes: %d, %d quotes, position %q", code, len(snap.Quotes), snap.LastEventID)
	}
	symbols := map[string]bool{}
	for _, q := range snap.Quotes {
		symbols[q.Symbol] = true
	}
	events := s.subscribe(t, snap.LastEventID, "stocks/{symbol}")
	kinds := map[string]int{}
	for range 200 {
		ev := next(t, events, "quote", "volume", "range")
		var q demo.Quote
		if err := json.Unmarshal([]byte(ev.Data), &q); err != nil || !symbols[q.Symbol] {
			t.Fatalf("%s event %s (%v)", ev.Type, ev.Data, err)
		}
		if q.Price <= 0 || q.Low > q.Price || q.High < q.Price || q.Volume <= 0 {
			t.Fatalf("inconsistent quote %+v", q)
		}
		kinds[ev.Type]++
	}
	if kinds["quote"] == 0 || kinds["volume"] == 0 {
		t.Fatalf("kinds of update seen: %v", kinds)
	}
}

// fakeProc writes a /proc with known figures.
func fakeProc(t *testing.T) string {
	dir := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "stat"), []byte("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "meminfo"), []byte("MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    250 kB\n"), 0o644))
	must(os.MkdirAll(filepath.Join(dir, "self"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "self", "statm"), []byte("100 25 10 1 0 20 0\n"), 0o644))
	return dir
}

func TestMonitorSamplesAndRaisesAlarms(t *testing.T) {
	s := start(t, demo.Options{MonitorInterval: 10 * time.Millisecond, ProcDir: fakeProc(t)}, true)
	events := s.subscribe(t, "", demo.MonitorTopic, demo.AlarmTopic)
	var sm demo.Sample
	if err := json.Unmarshal([]byte(next(t, events, "sample").Data), &sm); err != nil {
		t.Fatal(err)
	}
	if sm.Memory == nil || *sm.Memory != 75 || sm.MemTotal != 1000*1024 || sm.MemUsed != 750*1024 {
		t.Fatalf("memory figures %+v", sm)
	}
	if sm.Goroutines <= 0 || sm.Connections < 1 || sm.RSS != uint64(25*os.Getpagesize()) {
		t.Fatalf("process figures %+v", sm)
	}
	// Memory stays at 75%: a threshold below raises an alarm, removing it clears it.
	var th struct{ Thresholds map[string]float64 }
	if code := s.call(t, "POST", "/demo/monitor/thresholds", jsonType, `{"memory":50}`, &th); code != 200 || th.Thresholds["memory"] != 50 {
		t.Fatalf("set threshold: %d %+v", code, th)
	}
	if ev := next(t, events, "thresholds"); ev.Data != `{"memory":50}` {
		t.Fatalf("thresholds event %q", ev.Data)
	}
	var a demo.Alarm
	if err := json.Unmarshal([]byte(next(t, events, "alarm").Data), &a); err != nil || a.Metric != "memory" || a.State != "raised" || a.Value != 75 || a.Threshold != 50 {
		t.Fatalf("alarm %+v (%v)", a, err)
	}
	s.call(t, "POST", "/demo/monitor/thresholds", jsonType, `{"memory":null}`, nil)
	if err := json.Unmarshal([]byte(next(t, events, "alarm").Data), &a); err != nil || a.Metric != "memory" || a.State != "cleared" {
		t.Fatalf("alarm after removing the threshold %+v (%v)", a, err)
	}
	var now struct{ Thresholds map[string]float64 }
	if code := s.call(t, "GET", "/demo/monitor/thresholds", "", "", &now); code != 200 || now.Thresholds == nil || len(now.Thresholds) != 0 {
		t.Fatalf("thresholds now %+v", now)
	}
}

func TestMonitorThresholdsRejectBadInput(t *testing.T) {
	s := start(t, demo.Options{}, false)
	for _, body := range []string{`{"disk":1}`, `{"cpu":-1}`, `{"cpu":"high"}`, `[1]`, ``} {
		var e errorBody
		if code := s.call(t, "POST", "/demo/monitor/thresholds", jsonType, body, &e); code != 400 || e.Error == "" {
			t.Errorf("%s: %d %+v, want 400 with an error", body, code, e)
		}
	}
	var th struct{ Metrics []string }
	s.call(t, "GET", "/demo/monitor/thresholds", "", "", &th)
	if !slices.Contains(th.Metrics, "cpu") || !slices.Contains(th.Metrics, "eventsPerSec") {
		t.Fatalf("metrics %v", th.Metrics)
	}
}

func TestNewRequiresHubURLAndKey(t *testing.T) {
	if _, err := demo.New(demo.Options{}); err == nil {
		t.Fatal("New without a hub succeeded")
	}
}
