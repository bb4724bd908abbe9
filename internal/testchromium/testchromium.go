// Package testchromium finds the Chromium that the browser tests drive and
// gives it a temporary folder of its own.
//
// When Chromium is missing, the test is skipped with a loud message, or
// fails when the environment variable CI is set, because CI must run the
// browser tests (.ci/run installs Debian's chromium).
package testchromium

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Path returns the Chromium to run: $CHROMIUM, else chromium on the PATH,
// else Debian's /usr/bin/chromium.
func Path(t testing.TB) string {
	t.Helper()
	path := os.Getenv("CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
		if p, err := exec.LookPath("chromium"); err == nil {
			path = p
		}
	}
	if _, err := os.Stat(path); err != nil {
		msg := fmt.Sprintf("\n\n*** BROWSER TEST NOT RUN: no Chromium at %s (apt-get install chromium, or set $CHROMIUM) ***\n", path)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}

// Temp returns a folder for Chromium's TMPDIR, removed when the test ends.
// Chromium keeps its singleton socket in a folder of its own under TMPDIR,
// which it cannot remove when it is killed, so under /tmp every test would
// leave one behind. The path is short rather than under t.TempDir(): a
// Unix socket's path must fit in 108 bytes, and test names are long.
func Temp(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "chromium")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
