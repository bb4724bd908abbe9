package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// newFlagSet returns a flag set that prints its errors to stderr.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ssehub "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags fills unset flags from their SSEHUB_* environment twins, then
// parses args, so the command line wins over the environment.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		if v := getenv(name); v != "" && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("environment %s=%q: %v", name, v, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
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
