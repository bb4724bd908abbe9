package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/auth"
)

// AuthConfig is who may publish and read, and from which browser pages.
type AuthConfig struct {
	// The keys of both sides, and of each side when it differs. Each
	// side takes its own source if one is given, else the shared one, else
	// the key generated and kept in the data folder.
	Shared, Publisher, Subscriber KeySource
	Algorithms                    listFlag
	Audience                      string
	Issuer                        string
	JWKSRefresh                   time.Duration
	Anonymous                     bool
	CORSOrigins                   listFlag
	PublishOrigins                listFlag
}

// KeySource is one side's keys: at most one of a key, a key file or a
// JWKS URL.
type KeySource struct {
	Key, KeyFile, JWKSURL string
	prefix                string // of the flags, for messages
}

func (s KeySource) given() bool { return s.Key != "" || s.KeyFile != "" || s.JWKSURL != "" }

func (s KeySource) check() error {
	n := 0
	for _, v := range []string{s.Key, s.KeyFile, s.JWKSURL} {
		if v != "" {
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("give only one of --%[1]sjwt-key, --%[1]sjwt-key-file and --%[1]sjwks-url", s.prefix)
	}
	return nil
}

func (c *AuthConfig) register(fs *flag.FlagSet) {
	c.Shared.prefix, c.Publisher.prefix, c.Subscriber.prefix = "", "publisher-", "subscriber-"
	for _, side := range []struct {
		src  *KeySource
		whom string
	}{{&c.Shared, "publisher and subscriber"}, {&c.Publisher, "publisher"}, {&c.Subscriber, "subscriber"}} {
		p := side.src.prefix
		fs.StringVar(&side.src.Key, p+"jwt-key", "", "key of "+side.whom+" tokens: an HMAC secret, or a PEM public key")
		fs.StringVar(&side.src.KeyFile, p+"jwt-key-file", "", "file holding the key of "+side.whom+" tokens (PEM public key or certificate, else an HMAC secret)")
		fs.StringVar(&side.src.JWKSURL, p+"jwks-url", "", "URL of the JSON Web Key Set that signs "+side.whom+" tokens")
	}
	fs.Var(&c.Algorithms, "jwt-algorithms", "signing algorithms accepted, comma-separated (default: all of "+strings.Join(auth.Algorithms(), ",")+", each only with a key of its kind)")
	fs.StringVar(&c.Audience, "jwt-audience", "", "when set, tokens must name this audience (aud)")
	fs.StringVar(&c.Issuer, "jwt-issuer", "", "when set, tokens must have this issuer (iss)")
	fs.DurationVar(&c.JWKSRefresh, "jwks-refresh", 15*time.Minute, "how often a JWKS is fetched again (also on an unknown kid, at most once a minute)")
	fs.BoolVar(&c.Anonymous, "anonymous", true, "let subscribers without a token read public topics (false: 401 without a valid token)")
	fs.Var(&c.CORSOrigins, "cors-origins", "origins whose pages may subscribe and read history, comma-separated (* for any, without credentials)")
	fs.Var(&c.PublishOrigins, "publish-origins", "origins whose pages may publish, comma-separated (* for any, without credentials; a cookie-authorised publish needs its origin listed exactly)")
}

// verifiers is what openVerifiers decided.
type verifiers struct {
	publishers, subscribers *auth.Verifier
	// publisherSecret is the HMAC secret publisher tokens are checked
	// with, if they are: the demos sign their own tokens with it.
	publisherSecret []byte
}

// openVerifiers builds each side's verifier from its key source, reading
// or generating the data folder's key if a side has none.
func (m *Main) openVerifiers(ctx context.Context) (v verifiers, err error) {
	c := m.Config.Auth
	for _, s := range []KeySource{c.Shared, c.Publisher, c.Subscriber} {
		if err := s.check(); err != nil {
			return v, err
		}
	}
	pub, sub := c.Publisher, c.Subscriber
	if !pub.given() {
		pub = c.Shared
	}
	if !sub.given() {
		sub = c.Shared
	}
	var generated []byte
	if !pub.given() || !sub.given() {
		if generated, err = m.loadKey(!pub.given()); err != nil {
			return v, err
		}
	}
	if v.publishers, v.publisherSecret, err = m.verifier(ctx, pub, generated); err != nil {
		return v, fmt.Errorf("publisher tokens: %w", err)
	}
	if v.subscribers, _, err = m.verifier(ctx, sub, generated); err != nil {
		return v, fmt.Errorf("subscriber tokens: %w", err)
	}
	return v, nil
}

// verifier returns the verifier of src (of generated when src is empty),
// and its HMAC secret if it has one.
func (m *Main) verifier(ctx context.Context, src KeySource, generated []byte) (*auth.Verifier, []byte, error) {
	c := m.Config.Auth
	opts := auth.Options{
		Algorithms:  c.Algorithms,
		JWKSURL:     src.JWKSURL,
		JWKSRefresh: c.JWKSRefresh,
		Audience:    c.Audience,
		Issuer:      c.Issuer,
		Logger:      m.Logger,
	}
	var raw []byte
	switch {
	case src.Key != "":
		raw = []byte(src.Key)
	case src.KeyFile != "":
		b, err := os.ReadFile(src.KeyFile)
		if err != nil {
			return nil, nil, err
		}
		raw = b
	case src.JWKSURL == "":
		raw = generated
	}
	var secret []byte
	if raw != nil {
		k, err := auth.ParseKey(raw)
		if err != nil {
			return nil, nil, err
		}
		opts.Keys = []auth.Key{k}
		secret, _ = k.Key.([]byte)
	}
	v, err := auth.New(ctx, opts)
	return v, secret, err
}

// loadKey returns the key kept in the data folder, else a new one, kept
// there and printed, with a ready-to-use publisher token when publishers
// use it.
func (m *Main) loadKey(forPublishers bool) ([]byte, error) {
	if sharedStore(m.Config.Store) {
		// A key generated here would be this node's alone: tokens made for
		// one node would fail on the others.
		return nil, errors.New("a shared store needs the token keys given (--jwt-key, --jwt-key-file or --jwks-url): every node of a cluster must verify tokens with the same key")
	}
	path := ""
	if m.dataDir != "" {
		path = filepath.Join(m.dataDir, keyFile)
		if b, err := os.ReadFile(path); err == nil {
			m.Logger.Info("using the token key kept in the data folder; make tokens with `ssehub token`", "path", path)
			return []byte(strings.TrimSpace(string(b))), nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	key := hex.EncodeToString(raw)
	if path != "" {
		if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("keeping the generated key: %w", err)
		}
	}
	if !m.Terminal {
		m.announceKey(path)
		return []byte(key), nil
	}
	return []byte(key), m.welcome(key, path, forPublishers)
}

// signFor makes a token for this hub's configured audience and issuer.
func (c *AuthConfig) signFor(secret []byte, publish, subscribe []string) (string, error) {
	var claims auth.Claims
	claims.Mercure.Publish, claims.Mercure.Subscribe = publish, subscribe
	if c.Audience != "" {
		claims.Audience = jwt.ClaimStrings{c.Audience}
	}
	claims.Issuer = c.Issuer
	alg := "HS256"
	if len(c.Algorithms) > 0 && !slices.Contains(c.Algorithms, alg) {
		for _, a := range c.Algorithms {
			if strings.HasPrefix(a, "HS") {
				alg = a
				break
			}
		}
	}
	return auth.SignClaims(alg, secret, "", &claims)
}

// demosUnusable says why the demos cannot run with this configuration, or
// "". Their publishers sign their own HS256 tokens with the publisher
// secret, and their pages subscribe without a token.
func (m *Main) demosUnusable(v verifiers) string {
	c := m.Config.Auth
	switch {
	case v.publisherSecret == nil:
		return "publisher tokens are not checked with an HMAC secret the demos could sign with"
	case c.Audience != "" || c.Issuer != "":
		return "--jwt-audience or --jwt-issuer is set"
	case !c.Anonymous:
		return "--anonymous=false refuses the demo pages' subscriptions"
	}
	return ""
}

// welcome prints what a first start needs: the key and, when publishers
// use it, a publisher token and a command to try.
func (m *Main) welcome(key, path string, forPublishers bool) error {
	kept := "it lives only as long as this process (memory store)"
	if path != "" {
		kept = "kept in " + path
	}
	fmt.Fprintf(m.Out, "\nssehub generated a token key (%s):\n  %s\n\n", kept, key)
	if !forPublishers {
		fmt.Fprintf(m.Out, "Subscriber tokens are checked with it: ssehub token --subscribe 'users/42'\n\n")
		return nil
	}
	token, err := m.Config.Auth.signFor([]byte(key), []string{"*"}, nil)
	if err != nil {
		return err
	}
	port := "8080"
	if _, p, err := net.SplitHostPort(m.Config.Listen); err == nil && p != "" {
		port = p
	}
	fmt.Fprintf(m.Out, `A publisher token for every topic (keep it secret):
  %s

Try it. In one terminal, subscribe:
  curl -N '%[2]s://localhost:%[3]s/events?topic=hello'
In another, publish:
  curl -H 'Authorization: Bearer %[1]s' -d '{"topic":"hello","data":"Hello, world"}' %[2]s://localhost:%[3]s/publish

`, token, m.scheme(), port)
	return nil
}
