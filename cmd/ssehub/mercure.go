package main

import (
	"cmp"
	"flag"
	"strings"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/httpapi"
)

// mercureConfig is how `ssehub serve` configures the Mercure front door.
// Keys, anonymous subscribers and origins are the hub's own settings
// (AuthConfig), shared by both doors; Mercure's names for them are read
// from the environment of Mercure's image (mercureEnv).
type mercureConfig struct {
	Enabled       bool
	Subscriptions bool
	CookieName    string
}

func (c *mercureConfig) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.Enabled, "mercure", true, "serve the Mercure protocol at /.well-known/mercure")
	fs.BoolVar(&c.Subscriptions, "mercure-subscriptions", false, "publish Mercure subscription events and serve the subscriptions API")
	fs.StringVar(&c.CookieName, "mercure-cookie-name", auth.CookieName, "cookie holding Mercure tokens")
}

// mercureEnvAliases maps the environment variables of Mercure's image to
// the flags they set, read when the flag's own SSEHUB_ twin is unset.
var mercureEnvAliases = map[string]string{
	"MERCURE_PUBLISHER_JWT_KEY":  "publisher-jwt-key",
	"MERCURE_SUBSCRIBER_JWT_KEY": "subscriber-jwt-key",
}

// options returns the Mercure door's options, nil when it is off.
func (c *mercureConfig) options() (*httpapi.MercureOptions, error) {
	if !c.Enabled {
		return nil, nil
	}
	return &httpapi.MercureOptions{Subscriptions: c.Subscriptions, CookieName: c.CookieName}, nil
}

// mercureDirectives maps the directives of Mercure's Caddyfile that have
// an equivalent to the flags they set; value turns the directive's
// arguments into the flag's value.
var mercureDirectives = map[string]struct {
	flags []string
	value func(args []string) []string
}{
	"anonymous":       {[]string{"anonymous"}, func([]string) []string { return []string{"true"} }},
	"subscriptions":   {[]string{"mercure-subscriptions"}, func([]string) []string { return []string{"true"} }},
	"cors_origins":    {[]string{"cors-origins"}, joinArgs},
	"publish_origins": {[]string{"publish-origins"}, joinArgs},
	"cookie_name":     {[]string{"mercure-cookie-name"}, joinArgs},
	"heartbeat":       {[]string{"heartbeat"}, joinArgs},
	"publisher_jwt":   {[]string{"publisher-jwt-key", mercurePublisherAlg}, identity},
	"subscriber_jwt":  {[]string{"subscriber-jwt-key", mercureSubscriberAlg}, identity},
}

// Each side's algorithm, as Mercure names one per key: read into
// --jwt-algorithms (see mercureAlgorithms), not a flag of its own.
const (
	mercurePublisherAlg  = "mercure publisher alg"
	mercureSubscriberAlg = "mercure subscriber alg"
)

func joinArgs(args []string) []string { return []string{strings.Join(args, ",")} }
func identity(args []string) []string { return args }

// parseMercureDirectives reads MERCURE_EXTRA_DIRECTIVES, the directives
// Mercure's image adds to its Caddyfile, into the SSEHUB_ twins of the
// flags they map to. Directives without an equivalent (transport, ui, …,
// with their blocks) are returned as ignored, for the caller to log.
func parseMercureDirectives(text string) (twins map[string]string, ignored []string) {
	twins = make(map[string]string)
	depth := 0
	for _, line := range strings.Split(text, "\n") {
		words := strings.Fields(line)
		if len(words) == 0 || strings.HasPrefix(words[0], "#") {
			continue
		}
		opens := strings.Count(line, "{") - strings.Count(line, "}")
		if depth > 0 {
			depth += opens
			continue
		}
		if words[len(words)-1] == "{" {
			depth += opens
			ignored = append(ignored, words[0])
			continue
		}
		d, ok := mercureDirectives[words[0]]
		if !ok {
			ignored = append(ignored, words[0])
			continue
		}
		for i, v := range d.value(words[1:]) {
			if i < len(d.flags) && v != "" {
				twins[envName(d.flags[i])] = v
			}
		}
	}
	return twins, ignored
}

// mercureEnv returns getenv that also answers a flag's SSEHUB_ twin, when
// it is unset, from the environment of Mercure's image: its variables
// (MERCURE_PUBLISHER_JWT_KEY, …), then its MERCURE_EXTRA_DIRECTIVES.
func mercureEnv(getenv func(string) string) (func(string) string, []string) {
	twins, ignored := parseMercureDirectives(getenv("MERCURE_EXTRA_DIRECTIVES"))
	pub, sub := getenv("MERCURE_PUBLISHER_JWT_ALG"), getenv("MERCURE_SUBSCRIBER_JWT_ALG")
	if pub == "" {
		pub = twins[envName(mercurePublisherAlg)]
	}
	if sub == "" {
		sub = twins[envName(mercureSubscriberAlg)]
	}
	if algs := mercureAlgorithms(pub, sub); algs != "" {
		twins[envName("jwt-algorithms")] = algs
	}
	aliased := withEnvAliases(getenv, mercureEnvAliases)
	return func(name string) string {
		if v := aliased(name); v != "" {
			return v
		}
		return twins[name]
	}, ignored
}

// mercureAlgorithms is the allow-list that accepts what Mercure would with
// these algorithms of its two keys: each side's, HS256 where one is unset
// (Mercure's default). Empty when neither is given: the hub's default list.
func mercureAlgorithms(pub, sub string) string {
	if pub == "" && sub == "" {
		return ""
	}
	algs := []string{cmp.Or(pub, "HS256")}
	if s := cmp.Or(sub, "HS256"); s != algs[0] {
		algs = append(algs, s)
	}
	return strings.Join(algs, ",")
}

// withEnvAliases returns getenv that also answers a flag's SSEHUB_ twin
// from its alias, when the twin itself is unset.
func withEnvAliases(getenv func(string) string, aliases map[string]string) func(string) string {
	byTwin := make(map[string]string, len(aliases))
	for alias, flagName := range aliases {
		byTwin[envName(flagName)] = alias
	}
	return func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		if alias, ok := byTwin[name]; ok {
			return getenv(alias)
		}
		return ""
	}
}
