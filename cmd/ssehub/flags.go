package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// newFlagSet returns a flag set that prints its errors to stderr.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ssehub "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags fills fs from its sources, each over the one before: the
// defaults, the configuration file (when fs has a --config flag, from it or
// SSEHUB_CONFIG), the SSEHUB_* environment twins, then args. Every key of
// the file must be one of fs's flags.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	_, err := loadFlags(fs, args, getenv, nil)
	return err
}

// refuseArgs refuses the words left after fs's flags, for a command that
// takes none. The flag package stops at the first word that is not a
// flag: `--demo false` sets --demo and leaves "false" and every flag after
// it unread, which must not pass silently.
func refuseArgs(fs *flag.FlagSet) error {
	if fs.NArg() == 0 {
		return nil
	}
	hint := ""
	if a := fs.Arg(0); a == "true" || a == "false" {
		hint = fmt.Sprintf(" (a true/false flag takes its value after =, as --flag=%s)", a)
	}
	fmt.Fprintf(fs.Output(), "%s: unexpected argument %q%s\n", fs.Name(), fs.Arg(0), hint)
	return errUsage
}

// parseClientFlags is parseFlags for a command that shares the hub's
// configuration file: the file is checked against serve's flags, and only
// the shared keys are taken from it (a file's retry is the hub's, not the
// retry of `ssehub publish`). It returns where each flag's value came from.
func parseClientFlags(fs *flag.FlagSet, args []string, getenv func(string) string, shared ...string) (map[string]source, error) {
	return loadFlags(fs, args, getenv, &fileKeys{known: serveFlagSet(), shared: shared})
}

// fileKeys says which keys of the configuration file a command reads when
// they are not simply its own flags.
type fileKeys struct {
	known  *flag.FlagSet // every key a file may hold
	shared []string      // the keys this command takes from it
}

// source is where a flag's value came from.
type source struct {
	kind  string // "default", "file", "env" or "flag"
	where string // file:LINE, or the variable's name
}

func (s source) String() string {
	switch s.kind {
	case "file":
		return "file " + s.where
	case "env":
		return "env " + s.where
	}
	return s.kind
}

// loadFlags is parseFlags that also says where each flag's value came from.
//
// A later source replaces an earlier one, list flags included: a list in
// the environment replaces the file's, and a list on the command line the
// environment's, while a flag repeated on the command line accumulates.
// The command line is parsed first, so that --config is known and its
// errors come first, and its values are applied again at the end, over
// what the file and the environment set.
func loadFlags(fs *flag.FlagSet, args []string, getenv func(string) string, keys *fileKeys) (map[string]source, error) {
	given, err := parseCommandLine(fs, args)
	if err != nil {
		return nil, err
	}
	sources := map[string]source{}
	fs.VisitAll(func(f *flag.Flag) { sources[f.Name] = source{kind: "default"} })
	if path, from := configPath(fs, given, getenv); path != "" {
		if err := applyFile(fs, path, keys, sources); err != nil {
			return nil, fmt.Errorf("%s: %w", from, err)
		}
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		v := getenv(name)
		if v == "" || envErr != nil {
			return
		}
		resetList(f)
		if err := f.Value.Set(v); err != nil {
			envErr = fmt.Errorf("environment %s=%q: %v", name, v, err)
			return
		}
		sources[f.Name] = source{kind: "env", where: name}
	})
	if envErr != nil {
		return nil, envErr
	}
	reset := map[string]bool{}
	for _, g := range given {
		f := fs.Lookup(g.name)
		if !reset[g.name] {
			resetList(f)
			reset[g.name] = true
		}
		if err := f.Value.Set(g.value); err != nil {
			return nil, err // cannot happen: the same value was accepted before
		}
		sources[g.name] = source{kind: "flag"}
	}
	return sources, nil
}

// given is one flag as the command line gave it.
type given struct{ name, value string }

// parseCommandLine parses args into fs, with the flag package's own errors
// and help, and returns each flag given, in order.
func parseCommandLine(fs *flag.FlagSet, args []string) ([]given, error) {
	var got []given
	var wrapped []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		f.Value = &recorder{Value: f.Value, name: f.Name, got: &got}
		wrapped = append(wrapped, f)
	})
	unwrap := func() {
		for _, f := range wrapped {
			if r, ok := f.Value.(*recorder); ok {
				f.Value = r.Value
			}
		}
	}
	// The usage text names each flag's type from its Value: print it from
	// the flags themselves.
	usage := fs.Usage
	fs.Usage = func() {
		unwrap()
		if usage != nil {
			usage()
			return
		}
		fmt.Fprintf(fs.Output(), "Usage of %s:\n", fs.Name())
		fs.PrintDefaults()
	}
	err := fs.Parse(args)
	unwrap()
	fs.Usage = usage
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, errUsage
	}
	return got, nil
}

// recorder notes the values the command line gives a flag.
type recorder struct {
	flag.Value
	name string
	got  *[]given
}

func (r *recorder) Set(s string) error {
	if err := r.Value.Set(s); err != nil {
		return err
	}
	*r.got = append(*r.got, given{r.name, s})
	return nil
}

func (r *recorder) String() string {
	if r == nil || r.Value == nil { // the flag package's zero-value probe
		return ""
	}
	return r.Value.String()
}

// IsBoolFlag keeps --demo meaning --demo=true through the recorder.
func (r *recorder) IsBoolFlag() bool {
	b, ok := r.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// configPath is the configuration file to read, and what named it: the
// last --config given, else SSEHUB_CONFIG; none when fs has no --config.
func configPath(fs *flag.FlagSet, given []given, getenv func(string) string) (path, from string) {
	if fs.Lookup("config") == nil {
		return "", ""
	}
	for _, g := range slices.Backward(given) {
		if g.name == "config" {
			return g.value, "--config"
		}
	}
	name := envName("config")
	return getenv(name), name
}

// resetList empties a list flag, so that the next source replaces it.
func resetList(f *flag.Flag) {
	if l, ok := f.Value.(interface{ Reset() }); ok {
		l.Reset()
	}
}

// isList says whether a flag takes a list of values.
func isList(f *flag.Flag) bool {
	_, ok := f.Value.(interface{ Reset() })
	return ok
}

// envName returns a flag's environment twin: jwt-key → SSEHUB_JWT_KEY.
func envName(flagName string) string {
	return "SSEHUB_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// listFlag is a flag that may be repeated or given as a comma-separated list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// Reset empties the list; a new slice, so one handed out before is kept.
func (l *listFlag) Reset() { *l = nil }

// sizeFlag is a byte count written as 1048576, 512KiB, 64MiB or 1GiB.
type sizeFlag int64

func (s *sizeFlag) String() string { return strconv.FormatInt(int64(*s), 10) }

func (s *sizeFlag) Set(v string) error {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSuffix(v, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return errors.New("want a byte count such as 1048576, 512KiB, 64MiB or 1GiB")
	}
	*s = sizeFlag(n * mult)
	return nil
}

// prefixFlag is a comma-separated list of addresses and CIDR prefixes
// (127.0.0.1, 10.0.0.0/8, ::1), or "none". Given, it replaces the default.
type prefixFlag struct {
	prefixes []netip.Prefix
	given    bool
}

func (p *prefixFlag) String() string {
	if p == nil || len(p.prefixes) == 0 {
		return "none"
	}
	s := make([]string, len(p.prefixes))
	for i, x := range p.prefixes {
		s[i] = x.String()
	}
	return strings.Join(s, ",")
}

// Reset empties the list, so that the next source replaces what a lower
// one set (the default included) rather than adding to it.
func (p *prefixFlag) Reset() { p.prefixes, p.given = []netip.Prefix{}, true }

func (p *prefixFlag) Set(v string) error {
	if !p.given {
		p.prefixes, p.given = []netip.Prefix{}, true
	}
	if strings.TrimSpace(v) == "none" {
		return nil
	}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if ip, err := netip.ParseAddr(s); err == nil {
			s = netip.PrefixFrom(ip, ip.BitLen()).String()
		}
		x, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("want addresses or prefixes such as 127.0.0.1, 10.0.0.0/8 or ::1, or none: %v", err)
		}
		p.prefixes = append(p.prefixes, x.Masked())
	}
	return nil
}
