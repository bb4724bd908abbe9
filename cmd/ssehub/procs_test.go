package main

import (
	"bufio"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestFileStoreRunsOneMorePUnderSyncAlways runs the binary, as an operator
// does, and reads the runtime's GOMAXPROCS from /metrics: one more than the
// default for the file store under --sync always, the default otherwise, and
// whatever the GOMAXPROCS variable says when it is set.
func TestFileStoreRunsOneMorePUnderSyncAlways(t *testing.T) {
	bin := buildHub(t)
	if os.Getenv("GOMAXPROCS") != "" {
		t.Skip("GOMAXPROCS is set for the tests, so the runtime's default is unknown here")
	}
	cpus := defaultProcs
	for _, c := range []struct {
		name  string
		store []string
		env   []string
		want  int
	}{
		{"file, sync always", []string{"--store", "file:" + t.TempDir()}, nil, cpus + 1},
		{"file, sync batch", []string{"--store", "file:" + t.TempDir(), "--sync", "batch"}, nil, cpus},
		{"memory", []string{"--store", "memory:"}, nil, cpus},
		{"file, GOMAXPROCS set", []string{"--store", "file:" + t.TempDir()}, []string{"GOMAXPROCS=1"}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr, admin := freeAddr(t), freeAddr(t)
			args := append([]string{"serve", "--listen", addr, "--admin-listen", admin,
				"--jwt-key", testKey, "--demo=false", "--log-level", "warn"}, c.store...)
			runHub(t, bin, c.env, args...)
			readiness(t, "http://"+addr)
			if got := gomaxprocsOf(t, "http://"+admin+"/metrics"); got != c.want {
				t.Errorf("GOMAXPROCS %d, want %d (%d CPUs)", got, c.want, cpus)
			}
		})
	}
}

// gomaxprocsOf reads go_sched_gomaxprocs_threads from a /metrics page.
func gomaxprocsOf(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_sched_gomaxprocs_threads "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("go_sched_gomaxprocs_threads %q: %v", v, err)
			}
			return n
		}
	}
	t.Fatalf("no go_sched_gomaxprocs_threads in %s (%v)", url, sc.Err())
	return 0
}

// TestBenchGivesEveryReaderAP: in a storm, the load tool runs one P per
// epoll reader and two more, so its publisher never waits behind its
// readers; otherwise the runtime's default.
func TestBenchGivesEveryReaderAP(t *testing.T) {
	cpus := defaultProcs
	for _, c := range []struct {
		name string
		cfg  benchConfig
		want int
	}{
		{"epoll", benchConfig{Reader: "epoll"}, cpus},
		{"epoll with a storm", benchConfig{Reader: "epoll", Resumers: 10}, 2*cpus + 2},
		{"goroutine readers", benchConfig{Reader: "goroutine", Resumers: 10}, cpus},
	} {
		if got := benchProcs(c.cfg, ""); got != c.want {
			t.Errorf("%s: %d Ps, want %d", c.name, got, c.want)
		}
	}
	if got, want := benchProcs(benchConfig{Reader: "epoll", Resumers: 10}, "3"), runtime.GOMAXPROCS(0); got != want {
		t.Errorf("with GOMAXPROCS set: %d Ps, want the runtime's %d", got, want)
	}
}
