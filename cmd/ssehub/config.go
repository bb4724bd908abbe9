package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/store/pebble"
)

// serveFlagSet returns the flags of `ssehub serve`, which are the keys a
// configuration file may hold.
func serveFlagSet() *flag.FlagSet {
	var cfg Config
	fs := newFlagSet("serve", io.Discard)
	cfg.register(fs)
	return fs
}

// applyFile sets fs's flags from the configuration file at path. keys,
// when not nil, says which keys the command takes from the file.
func applyFile(fs *flag.FlagSet, path string, keys *fileKeys, sources map[string]source) error {
	text, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("configuration file: %w", err)
	}
	entries, err := parseConfigFile(string(text))
	if err != nil {
		return fmt.Errorf("configuration file %s: %w", path, err)
	}
	known := fs
	if keys != nil {
		known = keys.known
	}
	for _, e := range entries {
		if err := checkKey(known, e); err != nil {
			return fmt.Errorf("configuration file %s: %w", path, err)
		}
		f := fs.Lookup(e.Key)
		if f == nil || keys != nil && !slices.Contains(keys.shared, e.Key) {
			continue // the hub's, not this command's
		}
		if err := setFromFile(f, e); err != nil {
			return fmt.Errorf("configuration file %s: %w", path, err)
		}
		sources[e.Key] = source{kind: "file", where: fmt.Sprintf("%s:%d", path, e.Line)}
	}
	return nil
}

// checkKey says what is wrong with an entry whose key is not a flag of
// known, or that cannot be given in a file, or is a list for a flag that is not.
func checkKey(known *flag.FlagSet, e fileEntry) error {
	f := known.Lookup(e.Key)
	switch {
	case e.Key == "config":
		return &fileError{Line: e.Line, Key: e.Key, Msg: "a configuration file cannot name another"}
	case f == nil:
		msg := "unknown key"
		if alt := strings.ReplaceAll(e.Key, "_", "-"); known.Lookup(alt) != nil {
			msg += fmt.Sprintf(" (did you mean %s?)", alt)
		}
		return &fileError{Line: e.Line, Key: e.Key, Msg: msg + "; `ssehub serve -h` lists the keys"}
	case e.List && !isList(f):
		return &fileError{Line: e.Line, Key: e.Key, Msg: "takes one value, not a list"}
	}
	return nil
}

// setFromFile sets f from an entry: a list replaces what f held.
func setFromFile(f *flag.Flag, e fileEntry) error {
	resetList(f)
	for _, v := range e.Values {
		if err := f.Value.Set(v); err != nil {
			return &fileError{Line: e.Line, Key: e.Key, Msg: fmt.Sprintf("invalid value %q: %v", v, err)}
		}
	}
	return nil
}

// validate checks what serve would refuse at start before opening anything,
// so that `ssehub config check` and `ssehub serve` agree.
func (c *Config) validate() error {
	if err := c.Limits.check(); err != nil {
		return err
	}
	if err := c.checkSigns(); err != nil {
		return err
	}
	if _, err := parseLogLevel(c.LogLevel); err != nil {
		return err
	}
	if err := checkLogFormat(c.LogFormat); err != nil {
		return err
	}
	if err := checkStore(c.Store); err != nil {
		return err
	}
	kind, arg, _ := strings.Cut(c.Store, ":")
	dataDir := ""
	switch kind {
	case "file":
		if arg == "" {
			return fmt.Errorf("--store %q: file: needs a folder, as in file:./ssehub-data", c.Store)
		}
		if _, err := pebble.ParseSyncPolicy(c.Sync); err != nil {
			return fmt.Errorf("--sync: %w", err)
		}
		dataDir = arg
	}
	for _, s := range []KeySource{c.Auth.Shared, c.Auth.Publisher, c.Auth.Subscriber} {
		if err := s.check(); err != nil {
			return err
		}
	}
	tc := c.TransportConfig // check settles --pprof into a copy
	return tc.check(dataDir)
}

// checkSigns refuses a negative count or duration where none means
// anything (--heartbeat's turns heartbeats off): each of these flags reads
// 0 as its default or as "no bound", and would take a negative value as
// the one or the other (--queue-size -1 as the default, --retention-age
// -1h as no bound), so a typo must not pass.
func (c *Config) checkSigns() error {
	var negative []string
	for name, v := range map[string]int64{
		"queue-size":       int64(c.QueueSize),
		"retention-events": c.RetentionEvents,
		"retry":            int64(c.Retry),
		"retention-age":    int64(c.RetentionAge),
		"shutdown-timeout": int64(c.ShutdownTimeout),
		"shutdown-retry":   int64(c.ShutdownRetry),
		"shutdown-jitter":  int64(c.ShutdownJitter),
		"write-timeout":    int64(c.WriteTimeout),
		"jwks-refresh":     int64(c.Auth.JWKSRefresh),
	} {
		if v < 0 {
			negative = append(negative, "--"+name)
		}
	}
	if len(negative) == 0 {
		return nil
	}
	slices.Sort(negative)
	return fmt.Errorf("%s must not be negative (0 selects the default, or no bound where the flag's help says so)", strings.Join(negative, ", "))
}

// configCmd runs `ssehub config check`.
func configCmd(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(stderr, "usage: ssehub config check [--config FILE] [serve flags]")
		return errUsage
	}
	var cfg Config
	fs := newFlagSet("config check", stderr)
	cfg.register(fs)
	getenv, _ = mercureEnv(getenv) // the same sources as serve
	sources, err := loadFlags(fs, args[1:], getenv, nil)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ssehub config check: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	printConfig(stdout, fs, sources)
	return nil
}

// printConfig writes the effective configuration as a configuration file,
// each value with where it came from, and secrets masked.
func printConfig(w io.Writer, fs *flag.FlagSet, sources map[string]source) {
	fmt.Fprintln(w, "# the effective configuration of ssehub serve; secrets masked")
	type row struct{ key, value, src string }
	var rows []row
	width := 0
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" {
			return
		}
		width = max(width, len(f.Name))
		rows = append(rows, row{f.Name, tomlValue(f), sources[f.Name].String()})
	})
	for _, r := range rows {
		fmt.Fprintf(w, "%-*s = %s  # %s\n", width, r.key, r.value, r.src)
	}
}

// tomlValue writes a flag's value as the file would hold it, masked as the
// admin listener's command line is.
func tomlValue(f *flag.Flag) string {
	if l, ok := f.Value.(*listFlag); ok {
		quoted := make([]string, len(*l))
		for i, v := range *l {
			quoted[i] = tomlString(maskFlagValue(f.Name, v))
		}
		return "[" + strings.Join(quoted, ", ") + "]"
	}
	if g, ok := f.Value.(flag.Getter); ok && !isSecret(f.Name) {
		switch v := g.Get().(type) {
		case bool, int, int64, uint, uint64, float64:
			return fmt.Sprint(v)
		case time.Duration:
			return tomlString(v.String())
		}
	}
	return tomlString(maskFlagValue(f.Name, f.Value.String()))
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// isSecret says whether a flag's value must not be shown: keys, tokens,
// secrets and passwords.
func isSecret(name string) bool {
	for _, w := range []string{"key", "token", "secret", "password", "passwd"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// mask hides a secret value, and the password of a URL in any value (a
// store address such as redis://:PASSWORD@host:6379).
func mask(v string, secret bool) string {
	switch {
	case v == "":
		return ""
	case secret:
		return "********"
	}
	return maskURL(v)
}

// maskURL hides the password of a URL, and the values of its query
// parameters named like a password (a sentinel_password of a store URL),
// and leaves any other text alone.
func maskURL(v string) string {
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" {
		return v
	}
	out := v
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
		out = strings.Replace(u.String(), ":xxxxx@", ":********@", 1)
	}
	for name, values := range u.Query() {
		if !strings.Contains(strings.ToLower(name), "password") {
			continue
		}
		for _, p := range values {
			if p != "" {
				out = strings.ReplaceAll(out, name+"="+url.QueryEscape(p), name+"=********")
			}
		}
	}
	return out
}

// maskArgs returns a command line as mask would show it: the value of a
// secret flag masked, whether given as --flag=value or as --flag value, the
// password of any URL hidden (a --store address), and every query value of
// a JWKS URL hidden, since a key server may take its token there under any
// name. args[0], the program, is kept.
func maskArgs(args []string) []string {
	out := slices.Clone(args)
	valueOf := "" // the flag whose value is the next argument
	for i := 1; i < len(out); i++ {
		a := out[i]
		name, value, hasValue := flagOf(a)
		switch {
		case valueOf != "":
			out[i], valueOf = maskFlagValue(valueOf, a), ""
		case name == "":
			out[i] = maskURL(a) // a command or an argument
		case hasValue:
			out[i] = strings.TrimSuffix(a, value) + maskFlagValue(name, value)
		case isSecret(name) || isJWKSURL(name):
			// Only these take the next argument as their value here: a
			// true/false flag such as --demo takes none, and the flag
			// after it must still be read as a flag.
			valueOf = name
		}
	}
	return out
}

// flagOf splits an argument of the form -name, --name, -name=value or
// --name=value, as the flag package reads it; name is empty for any other
// argument.
func flagOf(a string) (name, value string, hasValue bool) {
	if len(a) < 2 || a[0] != '-' {
		return "", "", false
	}
	name = strings.TrimPrefix(a[1:], "-")
	if name == "" || name[0] == '-' || name[0] == '=' {
		return "", "", false
	}
	name, value, hasValue = strings.Cut(name, "=")
	return name, value, hasValue
}

// maskFlagValue masks one flag's value for maskArgs.
func maskFlagValue(name, v string) string {
	if isJWKSURL(name) && v != "" {
		return auth.RedactURL(v)
	}
	return mask(v, isSecret(name))
}

// isJWKSURL says whether a flag is one of the JWKS URLs (--jwks-url,
// --publisher-jwks-url, --subscriber-jwks-url).
func isJWKSURL(name string) bool { return strings.HasSuffix(name, "jwks-url") }
