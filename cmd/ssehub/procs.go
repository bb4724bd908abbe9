package main

import (
	"runtime"
	"strings"
)

// defaultProcs is the runtime's own choice of GOMAXPROCS (the CPUs this
// process may use, within its cgroup's limit), read before serve changes it.
var defaultProcs = runtime.GOMAXPROCS(0)

// storeProcs returns how many Ps the hub should run with on store under the
// sync policy, given the GOMAXPROCS variable: one more than the runtime's
// default for the file store under --sync always, else the default.
//
// Under --sync always every group commit waits in fdatasync, a blocking
// system call that keeps its P for as long as the disk takes. Go hands that
// P to other goroutines only once sysmon notices, and nobody polls the
// network meanwhile, so on one CPU (a container limited to one, or taskset)
// the hub read no publish requests while it synced: commits carried two or
// three events, not the twenty that were waiting, and 32 publishers got
// 5,500/s at p99 86 ms. With one P more they got 14,300/s at p99 7.5 ms (see
// docs/benchmarks.md). The memory store and --sync batch do no such wait
// per commit; there the extra P only costs switches (memory: 18,600/s
// against 21,300/s), so they keep the default.
//
// A GOMAXPROCS set in the environment is the operator's choice and wins.
func storeProcs(store, sync, env string) int {
	if env != "" {
		return runtime.GOMAXPROCS(0)
	}
	kind, _, _ := strings.Cut(store, ":")
	if kind == "file" && sync == "always" {
		return defaultProcs + 1
	}
	return defaultProcs
}

// benchProcs returns how many Ps the load tool runs with, given the
// GOMAXPROCS variable. In a reconnect storm, its epoll readers (one per CPU
// for the live streams, as many for the resumers) each wait in epoll_wait,
// a blocking system call that keeps its P, and then read without pause
// while the resumers' backlogs pour in; with one P per CPU, the publisher
// waited behind them. On a tool pinned to one core, the storm's publish p99
// measured 159-281 ms, of which the hub's own figure
// (ssehub_publish_duration_seconds) held at most 25 ms. So in a storm every
// reader gets a P of its own and two more are left for the publisher and
// the rest, and the operating system shares the cores among the threads: a
// publisher that wakes then runs soon (publish p99 51-86 ms, live p99
// 127-366 ms against 204-355 ms, alternated). Without a storm the extra Ps
// cost the readers more switches than they save (10,000 x 10/s: p99
// 237-278 ms against 154-246 ms), so the tool keeps the default. A
// GOMAXPROCS set in the environment wins. (With --storm-process child, the
// default, the resumers' readers run in the child, which gives each its
// own P and one more; the tool keeps these Ps as they were measured.)
func benchProcs(c benchConfig, env string) int {
	if env != "" {
		return runtime.GOMAXPROCS(0)
	}
	if c.Reader != "epoll" || c.Resumers == 0 {
		return defaultProcs
	}
	return 2*defaultProcs + 2
}
