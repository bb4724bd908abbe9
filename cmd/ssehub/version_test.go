package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	for _, tc := range []struct {
		name string
		info *debug.BuildInfo
		want string
	}{
		{"a tagged release", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "false"}}},
			"version:  v1.2.3\ncommit:   0123456789abcdef0123456789abcdef01234567\ntime:     2026-12-01T10:00:00Z\nmodified: false\ngo:       go1.26.1 linux/arm64\n"},
		{"a build with local changes", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v0.0.0-20261201100000-0123456789ab+dirty"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}, {Key: "vcs.modified", Value: "true"}}},
			"version:  v0.0.0-20261201100000-0123456789ab+dirty\ncommit:   0123456789abcdef0123456789abcdef01234567\nmodified: true\ngo:       go1.26.1 linux/arm64\n"},
		{"go run, without VCS stamping", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "(devel)"}},
			"version:  (devel)\ncommit:   unknown\nmodified: unknown\ngo:       go1.26.1 linux/arm64\n"},
		{"no build info", nil,
			"version:  unknown\ncommit:   unknown\nmodified: unknown\ngo:       " + runtime.Version() + " linux/arm64\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := formatVersion(tc.info, "linux/arm64"); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestVersionCommandAndFlagAgree(t *testing.T) {
	var a, b, errOut bytes.Buffer
	env := func(string) string { return "" }
	if code := run(context.Background(), []string{"version"}, nil, &a, &errOut, env); code != 0 {
		t.Fatalf("ssehub version exited %d: %s", code, errOut.String())
	}
	if code := run(context.Background(), []string{"--version"}, nil, &b, &errOut, env); code != 0 {
		t.Fatalf("ssehub --version exited %d: %s", code, errOut.String())
	}
	if a.String() != b.String() || !strings.Contains(a.String(), "go:       "+runtime.Version()+" ") {
		t.Fatalf("version:\n%s--version:\n%s", a.String(), b.String())
	}
	if code := run(context.Background(), []string{"version", "extra"}, nil, &a, &errOut, env); code != 2 {
		t.Fatalf("ssehub version extra exited %d, want 2", code)
	}
}

// TestVersionOfABuiltBinary builds the binary as a user does and checks
// that `ssehub version` says what the toolchain recorded in it, as `go
// version -m` reads it back (in a git clone that includes the commit; a
// git worktree is not stamped by the go command).
func TestVersionOfABuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "ssehub")
	build := exec.Command("go", "build", "-buildvcs=auto", "-o", bin, ".")
	build.Env = append(build.Environ(), "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	meta, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]string{"commit": "unknown", "modified": "unknown"}
	for line := range strings.Lines(string(meta)) {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "mod":
			recorded["version"] = f[2]
		case len(f) == 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.revision="):
			recorded["commit"] = strings.TrimPrefix(f[1], "vcs.revision=")
		case len(f) == 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.modified="):
			recorded["modified"] = strings.TrimPrefix(f[1], "vcs.modified=")
		}
	}
	t.Logf("ssehub --version:\n%s", out)
	for key, want := range recorded {
		if !strings.Contains(string(out), key+":"+strings.Repeat(" ", 9-len(key))+want+"\n") {
			t.Errorf("%s: want %q in\n%s", key, want, out)
		}
	}
}
