package main

import (
	"errors"
	"flag"
	"fmt"

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
