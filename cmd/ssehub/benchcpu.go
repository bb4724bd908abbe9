package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of the CPU times in /proc/PID/stat (USER_HZ, which
// Linux fixes at 100 on every architecture Go runs on there).
const clockTick = 10 * time.Millisecond

// cpuTime is what a process has run on the processors so far.
type cpuTime struct{ user, system time.Duration }

func (t cpuTime) total() time.Duration { return t.user + t.system }

func (t cpuTime) sub(u cpuTime) cpuTime { return cpuTime{t.user - u.user, t.system - u.system} }

// processCPU returns the user and system time of a process and all its
// threads, living and ended (Linux).
func processCPU(pid int) (cpuTime, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return cpuTime{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// utime and stime are fields 14 and 15, the 12th and 13th after it.
	i := strings.LastIndexByte(string(data), ')')
	fields := strings.Fields(string(data[i+1:]))
	if i < 0 || len(fields) < 13 {
		return cpuTime{}, fmt.Errorf("reading the CPU time of %d: unexpected /proc/%d/stat", pid, pid)
	}
	var ticks [2]int64
	for k, f := range fields[11:13] {
		if ticks[k], err = strconv.ParseInt(f, 10, 64); err != nil {
			return cpuTime{}, fmt.Errorf("reading the CPU time of %d: %w", pid, err)
		}
	}
	return cpuTime{time.Duration(ticks[0]) * clockTick, time.Duration(ticks[1]) * clockTick}, nil
}

// printCPU says what the hub spent on the run, per delivery and per event
// published: the figure the delivery target is set in (#11), which depends
// less on what else the machine runs than rates and latencies do. The load
// tool's own CPU per delivery is printed beside it: over loopback the
// kernel's work for a delivery is shared between writer and reader, and
// how it is shared depends on whether the reader must be woken.
func printCPU(w io.Writer, used, tool cpuTime, delivered, published int64) {
	fmt.Fprintf(w, "hub CPU          %v (user %v, system %v)\n", used.total(), used.user, used.system)
	if delivered > 0 {
		fmt.Fprintf(w, "hub CPU/delivery %.2f µs\n", float64(used.total().Nanoseconds())/1e3/float64(delivered))
		fmt.Fprintf(w, "tool CPU/deliv.  %.2f µs (this load tool's, reading)\n", float64(tool.total().Nanoseconds())/1e3/float64(delivered))
	}
	if published > 0 {
		fmt.Fprintf(w, "hub CPU/event    %.1f µs (per event published)\n", float64(used.total().Nanoseconds())/1e3/float64(published))
	}
}
