package demo

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCPUPercentFromTwoReadings(t *testing.T) {
	dir := t.TempDir()
	write := func(line string) cpuTimes {
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(line+"\nintr 1 2 3\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := readCPU(dir)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// user nice system idle iowait irq softirq steal guest guest_nice
	a := write("cpu  100 0 50 800 50 0 0 0 30 0")
	b := write("cpu  160 0 70 900 70 0 0 0 90 0")
	if a.total != 1000 || a.busy != 150 {
		t.Fatalf("first reading %+v", a)
	}
	if got := cpuPercent(a, b); got != 40 { // 80 busy of 200
		t.Fatalf("cpu = %v, want 40", got)
	}
	if got := cpuPercent(b, b); got != 0 {
		t.Fatalf("cpu without elapsed time = %v", got)
	}
}

func TestProcReadersFailClearly(t *testing.T) {
	dir := t.TempDir()
	if _, err := readCPU(dir); err == nil {
		t.Error("readCPU without /proc/stat succeeded")
	}
	os.WriteFile(filepath.Join(dir, "stat"), []byte("intr 1\n"), 0o644)
	if _, err := readCPU(dir); err == nil {
		t.Error("readCPU of a bad file succeeded")
	}
	os.WriteFile(filepath.Join(dir, "meminfo"), []byte("MemFree: 1 kB\n"), 0o644)
	if _, err := readMem(dir); err == nil {
		t.Error("readMem without MemTotal succeeded")
	}
}

func TestRealProcIsReadable(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("no /proc here")
	}
	if _, err := readCPU("/proc"); err != nil {
		t.Fatal(err)
	}
	if m, err := readMem("/proc"); err != nil || m.total == 0 || m.available > m.total {
		t.Fatalf("%+v %v", m, err)
	}
	if rss, err := readRSS("/proc"); err != nil || rss == 0 {
		t.Fatalf("rss %d %v", rss, err)
	}
}
