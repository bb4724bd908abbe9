package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// With --storm-process child (the default), a storm's resumers are opened
// and read by a process of their own: `ssehub bench-resumers`, started by
// the load tool. Clients that come back after a deploy are other machines;
// in one process, the storm's thousand connects at once and its readers'
// 5 million events queued in the tool's own scheduler ahead of its
// publisher and its live readers, so the tool measured itself. (Measured:
// at the storm's start the tool's publish took 35-116 ms while a separate
// process publishing beside it never waited more than 19 ms, and the hub's
// own publish histogram held every publish under 25 ms.) Two processes get
// their share of the core from the operating system instead, as separate
// clients would. `--storm-process same` keeps everything in one process.
//
// The child speaks lines. On its standard output: "opening NANOS" when it
// starts opening (unix nanoseconds), "opened NANOS FAILED" once every
// stream is open or failed (how long that took), and, after the load tool
// wrote "want N DEADLINE" to its standard input (every resumer should get N
// events, waited for until DEADLINE, unix nanoseconds), one line per
// resumer: "r GOT CAUGHTUP" (CAUGHTUP: when it had its backlog, unix
// nanoseconds, 0 for never) or "x" for one that failed to open, then
// "done". Then it closes its streams and exits.

// benchChildEnv marks a process started as a storm's child, so a test
// binary standing in for ssehub knows to run it (see TestMain).
const benchChildEnv = "SSEHUB_BENCH_CHILD"

// stormChild is the load tool's side of the child process.
type stormChild struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	done chan struct{} // closed when the child exited (what went wrong, it said on stderr)
}

// startChild starts the child, waits until every resumer is open, and
// records the storm's start and how long the opening took.
func (st *storm) startChild(ctx context.Context, resumeAfter string, stderr io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("storm: finding this program to run its resumers: %w", err)
	}
	c := st.c
	urls := cmp.Or(strings.Join(c.URLs, ","), c.URL)
	args := []string{"bench-resumers", "--url", urls, "--topic", c.Topic,
		"--resumers", strconv.Itoa(c.Resumers), "--resume-behind", strconv.Itoa(c.ResumeBehind),
		"--first", strconv.Itoa(c.Subscribers), "--reader", c.Reader, "--last-event-id", resumeAfter}
	if len(c.Sources) > 0 {
		args = append(args, "--source-addrs", c.Sources.String())
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(os.Environ(), benchChildEnv+"=1")
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("storm: starting its resumers' process: %w", err)
	}
	ch := &stormChild{cmd: cmd, in: in, out: bufio.NewScanner(out), done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(ch.done)
	}()
	fail := func(err error) error {
		in.Close()
		cmd.Process.Kill()
		<-ch.done
		return fmt.Errorf("storm: its resumers' process: %w", err)
	}
	f, err := ch.line("opening", 2)
	if err != nil {
		return fail(err)
	}
	at, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return fail(err)
	}
	if f, err = ch.line("opened", 3); err != nil {
		return fail(err)
	}
	took, err1 := strconv.ParseInt(f[1], 10, 64)
	failed, err2 := strconv.ParseInt(f[2], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return fail(err)
	}
	st.at = time.Unix(0, at)
	st.connected = time.Duration(took)
	st.failed.Store(failed)
	st.child = ch
	return nil
}

// line reads the child's next line, which must start with word and have n
// fields.
func (ch *stormChild) line(word string, n int) ([]string, error) {
	if !ch.out.Scan() {
		return nil, cmp.Or(ch.out.Err(), fmt.Errorf("ended before %q", word))
	}
	f := strings.Fields(ch.out.Text())
	if len(f) != n || f[0] != word {
		return nil, fmt.Errorf("said %q, not %q", ch.out.Text(), word)
	}
	return f, nil
}

// wait asks the child to wait until every resumer has want events (or the
// deadline), and takes what each received as st.resumers. A child that
// fails leaves those it did not report as not caught up, missing all.
func (ch *stormChild) wait(st *storm, want int64, deadline time.Time) {
	defer func() {
		ch.in.Close()
		select {
		case <-ch.done:
		case <-time.After(10 * time.Second):
			ch.cmd.Process.Kill()
			<-ch.done
		}
	}()
	st.resumers = unreported(st.c.Resumers)
	if _, err := fmt.Fprintf(ch.in, "want %d %d\n", want, deadline.UnixNano()); err != nil {
		return
	}
	for i := range st.resumers {
		if !ch.out.Scan() {
			return
		}
		f := strings.Fields(ch.out.Text())
		if len(f) == 1 && f[0] == "x" {
			st.resumers[i] = nil // failed to open, counted in st.failed
			continue
		}
		if len(f) != 3 || f[0] != "r" {
			return
		}
		got, err1 := strconv.ParseInt(f[1], 10, 64)
		caught, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return
		}
		st.resumers[i].got.Store(got)
		st.resumers[i].caughtUp.Store(caught)
	}
	ch.line("done", 1)
}

// unreported returns n resumers that received nothing: what the load tool
// counts for those its child did not report.
func unreported(n int) []*benchSubscriber {
	out := make([]*benchSubscriber, n)
	for i := range out {
		out[i] = &benchSubscriber{resumer: true}
	}
	return out
}

// benchResumersCmd is the child: `ssehub bench-resumers`, run by the load
// tool, not by hand.
func benchResumersCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	c := benchConfig{Protocol: "ssehub"}
	var first int
	fs := newFlagSet("bench-resumers", stderr)
	fs.StringVar(&c.URL, "url", "", "the hubs' base URLs, URL,URL,…")
	fs.StringVar(&c.Topic, "topic", "bench", "the topic to subscribe to")
	fs.IntVar(&c.Resumers, "resumers", 0, "streams to open")
	fs.IntVar(&c.ResumeBehind, "resume-behind", 0, "the backlog each stream resumes")
	fs.IntVar(&first, "first", 0, "the run's index of the first stream (for the spread over hubs and addresses)")
	fs.StringVar(&c.Reader, "reader", defaultBenchReader, "epoll or goroutine")
	fs.StringVar(&c.lastEventID, "last-event-id", "", "the id to resume after")
	fs.Var(&c.Sources, "source-addrs", "local addresses to spread connections over")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if c.URL == "" || c.Resumers < 1 || c.ResumeBehind < 1 || c.lastEventID == "" {
		fmt.Fprintln(stderr, "ssehub bench-resumers: run by ssehub bench for a storm; needs --url, --resumers, --resume-behind and --last-event-id")
		return errUsage
	}
	c.URLs = strings.Split(c.URL, ",")
	c.URL = c.URLs[0]
	c.Subscribers = first
	if getenv("GOMAXPROCS") == "" {
		// Every reader waits in epoll_wait on a P of its own; one more
		// opens the streams.
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(defaultProcs + 1))
	}
	// The readers stop with ctx: it is canceled before they are waited
	// for, on every return (a load tool gone before it asked counts too).
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	at := time.Now()
	fmt.Fprintf(stdout, "opening %d\n", at.UnixNano())
	resumers, failed, err := openResumers(ctx, c, c.lastEventID, &wg)
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range resumers {
			if s != nil {
				s.close()
			}
		}
	}()
	fmt.Fprintf(stdout, "opened %d %d\n", time.Since(at).Nanoseconds(), failed)
	var want, deadline int64
	if _, err := fmt.Fscanf(stdin, "want %d %d\n", &want, &deadline); err != nil {
		return fmt.Errorf("reading what to wait for: %w", err)
	}
	waitForResumers(resumers, want, time.Unix(0, deadline))
	w := bufio.NewWriter(stdout)
	for _, s := range resumers {
		if s == nil {
			fmt.Fprintln(w, "x")
			continue
		}
		fmt.Fprintf(w, "r %d %d\n", s.got.Load(), s.caughtUp.Load())
	}
	fmt.Fprintln(w, "done")
	return w.Flush()
}
