package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/publisher"
)

// TestKill9LosesNoAcknowledgedEvent publishes continuously from several
// publishers, kills the hub process with SIGKILL at a random moment,
// restarts it on the same data folder and replays the whole log: under every
// --sync policy, every acknowledged event must come back exactly once, each
// publisher's in the order it published them. (The policies differ only on
// power loss, which a test cannot cause.)
func TestKill9LosesNoAcknowledgedEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a real hub process")
	}
	bin := filepath.Join(t.TempDir(), "ssehub")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, policy := range []string{"always", "batch", "none"} {
		t.Run("sync="+policy, func(t *testing.T) { kill9AndReplay(t, bin, policy) })
	}
}

// kill9AndReplay is one run of TestKill9LosesNoAcknowledgedEvent.
func kill9AndReplay(t *testing.T, bin, policy string) {
	data := t.TempDir()
	addr := freeAddr(t)
	base := "http://" + addr

	proc := startProcess(t, bin, addr, data, "--sync", policy)
	before, _ := readiness(t, base)
	const publishers = 4
	acked := make([][]int, publishers)
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := publisher.New(base, crashToken, &http.Client{Timeout: 5 * time.Second})
			for n := 0; ; n++ {
				ev := publisher.Event{Topic: "crash", Data: fmt.Sprintf("%d:%d", p, n)}
				if _, err := client.Publish(context.Background(), ev); err != nil {
					return // the hub is gone
				}
				acked[p] = append(acked[p], n)
			}
		}()
	}
	time.AfterFunc(time.Duration(300+rand.IntN(700))*time.Millisecond, func() {
		proc.Process.Signal(os.Kill)
	})
	wg.Wait()
	proc.Wait()
	total := 0
	for _, a := range acked {
		total += len(a)
	}
	if total == 0 {
		t.Fatal("nothing was acknowledged before the kill")
	}

	startProcess(t, bin, addr, data, "--sync", policy)
	epoch, last := readiness(t, base)
	if epoch != before {
		// Same machine, same boot: nothing acknowledged can be lost, so
		// clients must keep resuming where they were.
		t.Errorf("epoch after kill -9 = %q, want it kept: %q", epoch, before)
	}
	seen := make([][]int, publishers)
	if last > 0 {
		s := openStream(t, base+"/events?topic=crash", hub.FormatID(epoch, 0))
		for {
			ev := s.next(t)
			var p, n int
			if _, err := fmt.Sscanf(ev.Data, "%d:%d", &p, &n); err != nil {
				t.Fatalf("unexpected event %+v", ev)
			}
			seen[p] = append(seen[p], n)
			if ev.ID == hub.FormatID(epoch, last) {
				break
			}
		}
	}
	lost := 0
	for p := range publishers {
		// In order, exactly once: 0, 1, 2, … with at most one more than
		// acknowledged (appended, but killed before the answer was sent).
		for i, n := range seen[p] {
			if n != i {
				t.Fatalf("publisher %d: event %d has number %d: gap, duplicate or reorder in %v", p, i, n, seen[p])
			}
		}
		lost += max(0, len(acked[p])-len(seen[p]))
		if len(seen[p]) < len(acked[p]) || len(seen[p]) > len(acked[p])+1 {
			t.Errorf("publisher %d: %d acknowledged, %d replayed", p, len(acked[p]), len(seen[p]))
		}
	}
	t.Logf("--sync %s: %d events acknowledged before SIGKILL, %d of them lost", policy, total, lost)
}

// crashToken is a publisher token for testKey.
var crashToken = func() string {
	tok, err := signForTest()
	if err != nil {
		panic(err)
	}
	return tok
}()

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProcess starts the hub binary and waits until it is ready.
func startProcess(t *testing.T, bin, addr, data string, flags ...string) *exec.Cmd {
	t.Helper()
	args := append([]string{"serve", "--listen", addr, "--store", "file:" + data,
		"--jwt-key", testKey, "--demo=false", "--log-level", "warn"}, flags...)
	cmd := runHub(t, bin, nil, args...)
	readiness(t, "http://"+addr)
	return cmd
}

// runHub starts the hub binary with args, and env added to this process's
// environment; the test's cleanup kills it. Its log goes to the test's
// standard error.
func runHub(t *testing.T, bin string, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// readiness waits (bounded) for /readyz and returns the log's epoch and
// last seq.
func readiness(t testing.TB, base string) (string, uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			var r struct {
				Epoch   string
				LastSeq uint64
			}
			err = json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			if err == nil && resp.StatusCode == http.StatusOK {
				return r.Epoch, r.LastSeq
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("hub at %s not ready after 20s: %v", base, err)
		}
		waitCtx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		<-waitCtx.Done()
		cancel()
	}
}
