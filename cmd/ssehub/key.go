package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"
)

// keyFile is the name of the generated token key in the data folder.
const keyFile = "jwt.key"

// dataFolder returns the folder of a file: store, "" for stores that keep
// no files here.
func dataFolder(store string) string {
	kind, arg, _ := strings.Cut(store, ":")
	if kind != "file" {
		return ""
	}
	return arg
}

// findKey returns the token key the hub with this --jwt-key and --store
// uses: the key itself when given, else the one the hub keeps in its data
// folder. It is how `ssehub token` and `ssehub publish` sign what the hub
// accepts, from the same flags, variables or configuration file.
func findKey(jwtKey, store string) ([]byte, error) {
	// The hub trims a key given as a value (auth.ParseKey), as one read
	// from a file or a secret store often ends with a line end: so do we.
	if k := strings.TrimSpace(jwtKey); k != "" {
		return []byte(k), nil
	}
	dir := dataFolder(store)
	if dir == "" {
		return nil, fmt.Errorf("the --store %q keeps no key: give the hub's --jwt-key", store)
	}
	b, err := os.ReadFile(filepath.Join(dir, keyFile))
	if err != nil {
		return nil, fmt.Errorf("no --jwt-key given and none kept in %s (start the hub once, or give --store or --config as it has them): %w", dir, err)
	}
	return []byte(strings.TrimSpace(string(b))), nil
}

// isTerminal says whether w is a terminal (not a pipe, a file or a journal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// announceKey tells, without the key, where a generated key is: what the
// hub prints goes to a journal or a file when it is not a terminal, and a
// key or a token there is readable by whoever reads the logs.
func (m *Main) announceKey(path string) {
	if path == "" {
		m.Logger.Warn("generated a token key that lives only as long as this process (memory store) and is not shown; give --jwt-key to publish")
		return
	}
	m.Logger.Info("generated a token key and kept it in the data folder; make a publisher token with the command below (or with the same --config)",
		"path", path, "command", "ssehub token --store "+m.Config.Store)
}
