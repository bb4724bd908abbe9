package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// versionCmd prints what the binary was built from. Everything comes from
// the build info the Go toolchain records: since Go 1.24 `go build` in a
// git checkout sets the module version from the tag (or a pseudo-version)
// and stamps the commit, so no linker flags are needed and `go install
// …@v1.2.3` reports v1.2.3.
func versionCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", stderr)
	if err := parseFlags(fs, args, func(string) string { return "" }); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ssehub version takes no arguments\n")
		return errUsage
	}
	info, _ := debug.ReadBuildInfo()
	_, err := io.WriteString(stdout, formatVersion(info, runtime.GOOS+"/"+runtime.GOARCH))
	return err
}

// formatVersion renders the build info as "key: value" lines, one per
// fact, so a script can grep for the line it wants. A build without VCS
// stamping (go run, go test, -buildvcs=false) says "unknown".
func formatVersion(info *debug.BuildInfo, platform string) string {
	version, goVersion := "unknown", runtime.Version()
	commit, modified, when := "unknown", "unknown", ""
	if info != nil {
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		if info.GoVersion != "" {
			goVersion = info.GoVersion
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value
			case "vcs.time":
				when = s.Value
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "version:  %s\n", version)
	fmt.Fprintf(&b, "commit:   %s\n", commit)
	if when != "" {
		fmt.Fprintf(&b, "time:     %s\n", when)
	}
	fmt.Fprintf(&b, "modified: %s\n", modified)
	fmt.Fprintf(&b, "go:       %s %s\n", goVersion, platform)
	return b.String()
}
