package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/httpapi"
)

// mercureConfig is how `ssehub serve` configures the Mercure front door.
// Its flags carry the names of Mercure's own directives (publisher_jwt,
// subscriber_jwt, anonymous, subscriptions, publish_origins, cookie_name),
// and the environment variables of Mercure's image are read as aliases.
type mercureConfig struct {
	Enabled        bool
	PublisherKey   string
	PublisherAlg   string
	SubscriberKey  string
	SubscriberAlg  string
	Anonymous      bool
	Subscriptions  bool
	PublishOrigins listFlag
	CookieName     string
}

func (c *mercureConfig) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.Enabled, "mercure", true, "serve the Mercure protocol at /.well-known/mercure")
	fs.StringVar(&c.PublisherKey, "mercure-publisher-jwt-key", "", "key of Mercure publisher tokens, as Mercure's publisher_jwt (default: --jwt-key)")
	fs.StringVar(&c.PublisherAlg, "mercure-publisher-jwt-alg", "HS256", "algorithm of --mercure-publisher-jwt-key")
	fs.StringVar(&c.SubscriberKey, "mercure-subscriber-jwt-key", "", "key of Mercure subscriber tokens, as Mercure's subscriber_jwt (default: --jwt-key)")
	fs.StringVar(&c.SubscriberAlg, "mercure-subscriber-jwt-alg", "HS256", "algorithm of --mercure-subscriber-jwt-key")
	fs.BoolVar(&c.Anonymous, "mercure-anonymous", true, "let Mercure subscribers without a token receive public updates")
	fs.BoolVar(&c.Subscriptions, "mercure-subscriptions", false, "publish subscription events and serve the subscriptions API")
	fs.Var(&c.PublishOrigins, "mercure-publish-origins", "origins allowed to publish with the mercureAuthorization cookie, comma-separated (* for any)")
	fs.StringVar(&c.CookieName, "mercure-cookie-name", "mercureAuthorization", "cookie holding Mercure tokens")
}

// mercureEnvAliases maps the environment variables of Mercure's image to
// the flags they set, read when the flag's own SSEHUB_ twin is unset.
var mercureEnvAliases = map[string]string{
	"MERCURE_PUBLISHER_JWT_KEY":  "mercure-publisher-jwt-key",
	"MERCURE_PUBLISHER_JWT_ALG":  "mercure-publisher-jwt-alg",
	"MERCURE_SUBSCRIBER_JWT_KEY": "mercure-subscriber-jwt-key",
	"MERCURE_SUBSCRIBER_JWT_ALG": "mercure-subscriber-jwt-alg",
}

// options returns the Mercure door's options, nil when it is off.
func (c *mercureConfig) options() (*httpapi.MercureOptions, error) {
	if !c.Enabled {
		return nil, nil
	}
	opts := &httpapi.MercureOptions{
		Anonymous:      c.Anonymous,
		Subscriptions:  c.Subscriptions,
		PublishOrigins: c.PublishOrigins,
		CookieName:     c.CookieName,
	}
	var err error
	if opts.Publisher, err = mercureVerifier("publisher", c.PublisherKey, c.PublisherAlg); err != nil {
		return nil, err
	}
	if opts.Subscriber, err = mercureVerifier("subscriber", c.SubscriberKey, c.SubscriberAlg); err != nil {
		return nil, err
	}
	return opts, nil
}

// mercureVerifier returns the verifier of one role's key, nil (the hub's
// --jwt-key) when none is given.
func mercureVerifier(role, key, alg string) (httpapi.TokenVerifier, error) {
	if key == "" {
		return nil, nil
	}
	switch alg {
	case "", "HS256", "HS384", "HS512":
		return auth.NewVerifier([]byte(key)), nil
	}
	return nil, fmt.Errorf("--mercure-%s-jwt-alg %q: %w", role, alg, errors.New("only HMAC keys (HS256, HS384, HS512) are supported yet"))
}

// mercureDirectives maps the directives of Mercure's Caddyfile that have
// an equivalent to the flags they set; value turns the directive's
// arguments into the flag's value.
var mercureDirectives = map[string]struct {
	flags []string
	value func(args []string) []string
}{
	"anonymous":       {[]string{"mercure-anonymous"}, func([]string) []string { return []string{"true"} }},
	"subscriptions":   {[]string{"mercure-subscriptions"}, func([]string) []string { return []string{"true"} }},
	"cors_origins":    {[]string{"cors-origins"}, joinArgs},
	"publish_origins": {[]string{"mercure-publish-origins"}, joinArgs},
	"cookie_name":     {[]string{"mercure-cookie-name"}, joinArgs},
	"heartbeat":       {[]string{"heartbeat"}, joinArgs},
	"publisher_jwt":   {[]string{"mercure-publisher-jwt-key", "mercure-publisher-jwt-alg"}, identity},
	"subscriber_jwt":  {[]string{"mercure-subscriber-jwt-key", "mercure-subscriber-jwt-alg"}, identity},
}

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
	aliased := withEnvAliases(getenv, mercureEnvAliases)
	return func(name string) string {
		if v := aliased(name); v != "" {
			return v
		}
		return twins[name]
	}, ignored
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
