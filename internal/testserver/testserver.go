// Package testserver starts disposable Redis and NATS servers for tests:
// Debian's redis-server and nats-server (or the nats-server that
// SSEHUB_TEST_NATS_SERVER names), each on a free loopback port with its
// data in a temporary folder, stopped when the test ends.
//
// When a server binary is missing, the test is skipped with a loud message,
// or fails when the environment variable CI is set, because CI must run the
// cluster tests (.ci/run installs both servers).
package testserver

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// startBound limits how long a server may take to accept connections.
const startBound = 15 * time.Second

// Server is one running server process. Stop, Kill and Start may be called
// in any order; the test's cleanup stops whatever still runs.
type Server struct {
	t    testing.TB
	name string
	args []string
	// Addr is host:port; it stays the same across restarts.
	Addr string
	// Dir is the server's data folder; it survives restarts.
	Dir string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// need finds a binary or skips (fails under CI) without it.
func need(t testing.TB, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("\n\n*** %s is not installed: SKIPPING the tests that need a real server. "+
		"Install it with: apt-get install %s ***\n", name, pkg)
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "CI is set, so this is a failure: CI must run these tests.")
	}
	t.Skip(msg)
	return ""
}

// freePort returns a loopback port nothing listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// RedisOptions configure a Redis server.
type RedisOptions struct {
	// AppendFsync, when set ("always", "everysec", "no"), turns the AOF on
	// with that policy. Empty keeps Redis in memory only.
	AppendFsync string
}

// Redis starts redis-server and returns it once it accepts connections.
func Redis(t testing.TB, opts RedisOptions) *Server {
	t.Helper()
	bin := need(t, "redis-server", "redis-server")
	port := freePort(t)
	dir := t.TempDir()
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--protected-mode", "no", "--loglevel", "warning", "--logfile", filepath.Join(dir, "redis.log")}
	if opts.AppendFsync != "" {
		args = append(args, "--appendonly", "yes", "--appendfsync", opts.AppendFsync)
	} else {
		args = append(args, "--appendonly", "no")
	}
	s := &Server{t: t, name: bin, args: args, Addr: "127.0.0.1:" + strconv.Itoa(port), Dir: dir}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// URL is the server's address as a redis:// or nats:// URL.
func (s *Server) URL() string {
	if strings.Contains(s.name, "nats") {
		return "nats://" + s.Addr
	}
	return "redis://" + s.Addr
}

// NATSServerEnv names the environment variable that, when set, is the
// path of the nats-server binary the tests start instead of the one on
// PATH: .ci/run sets it to run the NATS tests again on a current release,
// Debian's package being 2.9.
const NATSServerEnv = "SSEHUB_TEST_NATS_SERVER"

// NATS starts nats-server with JetStream on file storage in its folder.
func NATS(t testing.TB) *Server {
	t.Helper()
	bin := os.Getenv(NATSServerEnv)
	if bin == "" {
		bin = need(t, "nats-server", "nats-server")
	} else if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s=%s: %v", NATSServerEnv, bin, err)
	}
	port := freePort(t)
	dir := t.TempDir()
	// Events may be up to 1 MiB of data plus ids and topics: above NATS's
	// default max_payload of 1 MiB.
	conf := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(conf, []byte("max_payload: 8MB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-c", conf, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", dir}
	s := &Server{t: t, name: bin, args: args, Addr: "127.0.0.1:" + strconv.Itoa(port), Dir: dir}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Version is what the server's binary says of its version with
// --version, such as "v2.9.10" for nats-server.
func (s *Server) Version() string {
	s.t.Helper()
	out, err := exec.Command(s.name, "--version").Output()
	if err != nil {
		s.t.Fatalf("%s --version: %v", s.name, err)
	}
	fields := strings.Fields(string(out))
	for _, f := range fields {
		if strings.HasPrefix(f, "v") && strings.Contains(f, ".") {
			return f
		}
	}
	s.t.Fatalf("%s --version: no version in %q", s.name, out)
	return ""
}

// Start starts the server (again, on the same port and folder) and waits
// until it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	cmd := exec.Command(s.name, s.args...)
	out, err := os.Create(filepath.Join(s.Dir, "stdout.log"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting %s: %v", s.name, err)
	}
	s.cmd = cmd
	if err := s.awaitReady(); err != nil {
		s.t.Fatalf("%s on %s: %v\n%s", s.name, s.Addr, err, s.logTail())
	}
}

// awaitReady dials until the server answers a ping, within startBound.
func (s *Server) awaitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), startBound)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = s.ping(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %v", startBound, last)
		case <-tick.C:
		}
	}
}

// ping speaks just enough of each protocol to know the server serves:
// Redis answers PING with +PONG (only once it loaded its AOF), NATS sends
// its INFO line on connect and answers PING with PONG.
func (s *Server) ping(ctx context.Context) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	r := bufio.NewReader(c)
	if strings.Contains(s.name, "nats") {
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "INFO") {
			return fmt.Errorf("no INFO: %q %v", line, err)
		}
		if _, err := c.Write([]byte("CONNECT {\"verbose\":false}\r\nPING\r\n")); err != nil {
			return err
		}
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "PONG") {
			return fmt.Errorf("no PONG: %q %v", line, err)
		}
		return nil
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	if line, err := r.ReadString('\n'); err != nil || line != "+PONG\r\n" {
		return fmt.Errorf("no PONG: %q %v", line, err)
	}
	return nil
}

func (s *Server) logTail() string {
	for _, f := range []string{"redis.log", "stdout.log"} {
		if b, err := os.ReadFile(filepath.Join(s.Dir, f)); err == nil && len(b) > 0 {
			return string(b[max(0, len(b)-2000):])
		}
	}
	return ""
}

// Stop stops the server gracefully (SIGTERM: Redis syncs its AOF) and waits
// for it to exit.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

// Kill stops the server with SIGKILL, as a crash would.
func (s *Server) Kill() { s.signal(os.Kill) }

// Pid is the server's process id, 0 when stopped.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

func (s *Server) signal(sig os.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	if sigCont != nil {
		_ = s.cmd.Process.Signal(sigCont) // a paused server must be able to exit
	}
	_ = s.cmd.Process.Signal(sig)
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Pause freezes the server (SIGSTOP): its connections stay open but nothing
// answers, as when a network partition drops packets silently. It returns
// once every thread of the server has stopped: the signal alone returns
// before that, and a request sent at once could still be answered (seen
// with nats-server acknowledging a publish).
func (s *Server) Pause() {
	s.t.Helper()
	if sigStop == nil {
		s.t.Fatalf("pausing %s: this platform cannot stop a process (no SIGSTOP)", s.name)
	}
	s.send(sigStop)
	if pid := s.Pid(); pid != 0 {
		if err := awaitStopped(pid); err != nil {
			s.t.Fatalf("pausing %s: %v", s.name, err)
		}
	}
}

// awaitStopped waits, within startBound, until every thread of the process
// is in the stopped state ("T" in /proc/PID/task/TID/stat). Where /proc is
// missing it returns at once: the signal is all it can do.
func awaitStopped(pid int) error {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	if _, err := os.Stat(dir); err != nil {
		return nil
	}
	deadline := time.Now().Add(startBound)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if stopped(dir) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("its threads are not all stopped after %v", startBound)
		}
		<-tick.C
	}
}

func stopped(taskDir string) bool {
	tasks, err := os.ReadDir(taskDir)
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join(taskDir, task.Name(), "stat"))
		if err != nil {
			return false
		}
		// pid (comm) STATE …: comm may hold spaces, so read after the last ')'.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
			return false
		}
	}
	return true
}

// Resume undoes Pause (SIGCONT).
func (s *Server) Resume() {
	if sigCont != nil {
		s.send(sigCont)
	}
}

func (s *Server) send(sig os.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(sig)
	}
}

// Cluster is a Redis Cluster of servers started by RedisCluster.
type Cluster struct {
	Nodes []*Server
}

// URL is the cluster's store URL, naming every node as a seed.
func (c *Cluster) URL() string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return "redis+cluster://" + strings.Join(addrs, ",")
}

// RedisCluster starts n redis-server processes in cluster mode (n ≥ 3,
// primaries only, the slots split between them), joins them with
// redis-cli --cluster create, and returns once every node reports the
// cluster ok.
func RedisCluster(t testing.TB, n int, opts RedisOptions) *Cluster {
	t.Helper()
	cli := need(t, "redis-cli", "redis-tools")
	c := &Cluster{}
	for range n {
		s := Redis(t, opts)
		s.Stop()
		s.args = append(s.args, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(s.Dir, "nodes.conf"),
			"--cluster-node-timeout", "5000")
		s.Start()
		c.Nodes = append(c.Nodes, s)
	}
	args := []string{"--cluster", "create"}
	for _, s := range c.Nodes {
		args = append(args, s.Addr)
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), startBound)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for _, s := range c.Nodes {
		host, port, _ := net.SplitHostPort(s.Addr)
		for {
			out, err := exec.CommandContext(ctx, cli, "-h", host, "-p", port, "cluster", "info").Output()
			if err == nil && strings.Contains(string(out), "cluster_state:ok") {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("the cluster is not ok after %v: node %s says %q", startBound, s.Addr, out)
			case <-tick.C:
			}
		}
	}
	return c
}

// Replica starts a redis-server that replicates primary (REPLICAOF) and
// returns once its link to primary is up.
func Replica(t testing.TB, primary *Server, opts RedisOptions) *Server {
	t.Helper()
	s := Redis(t, opts)
	s.Stop()
	host, port, _ := net.SplitHostPort(primary.Addr)
	s.args = append(s.args, "--replicaof", host, port)
	s.Start()
	rdb := goredis.NewClient(&goredis.Options{Addr: s.Addr})
	defer rdb.Close()
	Await(t, "the replica's link to its primary", func(ctx context.Context) bool {
		info, err := rdb.Info(ctx, "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	return s
}

// AwaitReplicasKnown waits until sentinel knows n replicas of master: it
// learns of them from the primary's INFO, and fails over only to one it
// knows.
func AwaitReplicasKnown(t testing.TB, sentinel *Server, master string, n int) {
	t.Helper()
	sc := goredis.NewSentinelClient(&goredis.Options{Addr: sentinel.Addr})
	defer sc.Close()
	Await(t, fmt.Sprintf("the sentinel to know %d replicas", n), func(ctx context.Context) bool {
		replicas, err := sc.Replicas(ctx, master).Result()
		return err == nil && len(replicas) == n
	})
}

// AwaitPromoted waits until sentinel names replica as master's primary.
func AwaitPromoted(t testing.TB, sentinel *Server, master string, replica *Server) {
	t.Helper()
	sc := goredis.NewSentinelClient(&goredis.Options{Addr: sentinel.Addr})
	defer sc.Close()
	Await(t, "the sentinel to promote the replica", func(ctx context.Context) bool {
		addr, err := sc.GetMasterAddrByName(ctx, master).Result()
		return err == nil && len(addr) == 2 && net.JoinHostPort(addr[0], addr[1]) == replica.Addr
	})
}

// failoverBound bounds the waits of a failover: the sentinel takes a
// primary for down after 1 s, then elects and reconfigures the replica.
const failoverBound = 60 * time.Second

// Await polls cond until it holds, failing the test after 60 s: what a
// failover may take.
func Await(t testing.TB, what string, cond func(ctx context.Context) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), failoverBound)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond(ctx) {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: not after %v", what, failoverBound)
		case <-tick.C:
		}
	}
}

// Sentinel starts a Redis Sentinel (redis-server in sentinel mode) that
// watches primary under the name master, with a quorum of one. It takes
// a primary for down after 1 s without an answer, so a test's failover
// starts within about a second of the primary's death.
func Sentinel(t testing.TB, primary *Server, master string) *Server {
	t.Helper()
	bin := need(t, "redis-server", "redis-server")
	port := freePort(t)
	dir := t.TempDir()
	host, pport, _ := net.SplitHostPort(primary.Addr)
	conf := filepath.Join(dir, "sentinel.conf") // sentinel rewrites it: it must be its own
	text := fmt.Sprintf("port %d\nbind 127.0.0.1\nprotected-mode no\ndir %s\nlogfile %s\nsentinel monitor %s %s %s 1\n"+
		"sentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 10000\n",
		port, dir, filepath.Join(dir, "redis.log"), master, host, pport, master, master)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, name: bin, args: []string{conf, "--sentinel"}, Addr: "127.0.0.1:" + strconv.Itoa(port), Dir: dir}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}
