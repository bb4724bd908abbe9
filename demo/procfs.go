package demo

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// cpuTimes are the busy and total jiffies of the host's CPUs, from the
// first line of /proc/stat.
type cpuTimes struct{ busy, total uint64 }

func readCPU(procDir string) (cpuTimes, error) {
	raw, err := os.ReadFile(filepath.Join(procDir, "stat"))
	if err != nil {
		return cpuTimes{}, err
	}
	line, _, _ := bytes.Cut(raw, []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) < 5 || fields[0] != "cpu" {
		return cpuTimes{}, errors.New("unexpected first line in /proc/stat")
	}
	var t cpuTimes
	for i, f := range fields[1:] {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return cpuTimes{}, fmt.Errorf("/proc/stat: %w", err)
		}
		// user nice system idle iowait irq softirq steal guest guest_nice;
		// guest time is already counted in user and nice.
		if i >= 8 {
			break
		}
		t.total += n
		if i != 3 && i != 4 { // idle and iowait are not busy
			t.busy += n
		}
	}
	return t, nil
}

// cpuPercent is the share of busy time between two readings.
func cpuPercent(prev, cur cpuTimes) float64 {
	if cur.total <= prev.total || cur.busy < prev.busy {
		return 0
	}
	return 100 * float64(cur.busy-prev.busy) / float64(cur.total-prev.total)
}

// memInfo is the host's memory in bytes, from /proc/meminfo.
type memInfo struct{ total, available uint64 }

func readMem(procDir string) (memInfo, error) {
	f, err := os.Open(filepath.Join(procDir, "meminfo"))
	if err != nil {
		return memInfo{}, err
	}
	defer f.Close()
	var m memInfo
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *uint64
		switch key {
		case "MemTotal":
			dst = &m.total
		case "MemAvailable":
			dst = &m.available
		default:
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return memInfo{}, fmt.Errorf("/proc/meminfo %s: %w", key, err)
		}
		*dst = kb * 1024
	}
	if err := sc.Err(); err != nil {
		return memInfo{}, err
	}
	if m.total == 0 {
		return memInfo{}, errors.New("/proc/meminfo has no MemTotal")
	}
	return m, nil
}

// readRSS returns the resident memory of this process in bytes, from
// /proc/self/statm (pages) and the page size.
func readRSS(procDir string) (uint64, error) {
	raw, err := os.ReadFile(filepath.Join(procDir, "self", "statm"))
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(raw))
	if len(fields) < 2 {
		return 0, errors.New("unexpected /proc/self/statm")
	}
	pages, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/self/statm: %w", err)
	}
	return pages * uint64(os.Getpagesize()), nil
}
