package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/auth"
	"github.com/ssehub/ssehub/publisher"
)

// tokenCmd prints a token signed with the hub's key, or with a given
// private key for hubs that check tokens with its public half.
func tokenCmd(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("token", stderr)
	var hk hubKeyFlags
	hk.register(fs)
	keyFile := fs.String("key-file", "", "file holding the signing key: a PEM private key (RSA, ECDSA, Ed25519) or an HMAC secret")
	data := fs.String("data", "", "deprecated: the hub's data folder, the same as --store file:DIR")
	alg := fs.String("alg", "", "signing algorithm (default HS256 for a secret, RS256, ES256/384/512 or EdDSA to fit a private key)")
	kid := fs.String("kid", "", "key id (kid) to put in the token's header")
	audience := fs.String("audience", "", "audience (aud) of the token (default: the hub's --jwt-audience)")
	issuer := fs.String("issuer", "", "issuer (iss) of the token (default: the hub's --jwt-issuer)")
	var publish, subscribe listFlag
	fs.Var(&publish, "publish", "selectors the token may publish to (repeat or comma-separate; default * unless --subscribe is given)")
	fs.Var(&subscribe, "subscribe", "selectors of private topics the token may receive")
	ttl := fs.Duration("ttl", 0, "how long the token is valid (0: no expiry)")
	if err := hk.parse(fs, args, getenv); err != nil {
		return err
	}
	if err := refuseArgs(fs); err != nil {
		return err
	}
	if *data != "" {
		hk.store = "file:" + *data
	}
	// The hub refuses tokens without its audience and issuer.
	*audience = cmp.Or(*audience, hk.audience)
	*issuer = cmp.Or(*issuer, hk.issuer)
	if len(publish) == 0 && len(subscribe) == 0 {
		publish = listFlag{"*"}
	}
	// The hub checks a token that may publish with the publishers' key,
	// and one that may only subscribe with the subscribers'.
	signKey, err := tokenKey(hk, *keyFile, len(publish) > 0)
	if err == nil && len(publish) > 0 && len(subscribe) > 0 {
		var subKey signingKey
		if subKey, err = tokenKey(hk, *keyFile, false); err == nil && !signKey.same(subKey) {
			return fmt.Errorf("the hub checks publisher tokens with %s and subscriber tokens with %s, so no one token can both publish and subscribe: make two, one with --publish and one with --subscribe", signKey.from, subKey.from)
		}
	}
	if errors.Is(err, errPublicKey) {
		return fmt.Errorf("%w: give its private half with --key-file", err)
	}
	if err != nil {
		return err
	}
	if *alg == "" {
		*alg = defaultAlg(signKey.key)
	}
	var c auth.Claims
	c.Mercure.Publish, c.Mercure.Subscribe = publish, subscribe
	if *audience != "" {
		c.Audience = jwt.ClaimStrings{*audience}
	}
	c.Issuer = *issuer
	if *ttl > 0 {
		c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(*ttl))
	}
	token, err := auth.SignClaims(*alg, signKey.key, *kid, &c)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, token)
	return nil
}

// tokenKey returns the key to sign a token for one side with (publishers
// or subscribers): the side's key typed on the command line
// (--publisher-jwt-key or --subscriber-jwt-key, else --jwt-key), else
// --key-file (a PEM private key or a secret), else the side's key from the
// environment or the hub's configuration file, else the secret the hub
// keeps in its data folder. A public key signs nothing: given one with
// --key-file, the file is its private half.
func tokenKey(hk hubKeyFlags, file string, publishers bool) (signingKey, error) {
	name, value := hk.side(publishers)
	if value != "" && (file == "" || hk.typed(name)) {
		k, err := signingKeyFrom(hk.describe(name), value)
		if file == "" || !errors.Is(err, errPublicKey) {
			return k, err
		}
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return signingKey{}, err
		}
		if bytes.HasPrefix(bytes.TrimSpace(b), []byte("-----BEGIN")) {
			k, err := auth.ParsePrivateKey(b)
			return signingKey{k, "--key-file"}, err
		}
		return signingKey{bytes.TrimSpace(b), "--key-file"}, nil
	}
	return hk.key(publishers)
}

// hubKeyFlags find the hub's token keys the way `ssehub serve` does: each
// side's own key (--publisher-jwt-key, --subscriber-jwt-key), else
// --jwt-key, else the key kept in the --store folder, each also from the
// environment or the hub's configuration file; and the audience and
// issuer it wants in tokens (--jwt-audience, --jwt-issuer).
type hubKeyFlags struct {
	config, store, jwtKey       string
	publisherKey, subscriberKey string
	audience, issuer            string
	sources                     map[string]source
}

func (k *hubKeyFlags) register(fs *flag.FlagSet) {
	serve := serveFlagSet()
	fs.StringVar(&k.config, "config", "", "the hub's configuration file, to take its store, keys, audience and issuer from")
	fs.StringVar(&k.store, "store", serve.Lookup("store").DefValue, "the hub's --store, whose folder keeps a generated key")
	fs.StringVar(&k.jwtKey, "jwt-key", "", "the hub's HMAC secret (default: the one kept in the --store folder)")
	fs.StringVar(&k.publisherKey, "publisher-jwt-key", "", "the hub's key of publisher tokens, when they have their own (default: --jwt-key)")
	fs.StringVar(&k.subscriberKey, "subscriber-jwt-key", "", "the hub's key of subscriber tokens, when they have their own (default: --jwt-key)")
	fs.StringVar(&k.audience, "jwt-audience", "", "the hub's --jwt-audience: the audience (aud) its tokens must name")
	fs.StringVar(&k.issuer, "jwt-issuer", "", "the hub's --jwt-issuer: the issuer (iss) its tokens must have")
}

// hubKeyFileKeys are the keys of the hub's configuration file that
// hubKeyFlags take, each the name of one of its flags.
var hubKeyFileKeys = []string{"store", "jwt-key", "publisher-jwt-key", "subscriber-jwt-key", "jwt-audience", "jwt-issuer"}

// parse parses args as parseClientFlags does, sharing the store, the keys,
// the audience and the issuer with the hub's configuration file.
func (k *hubKeyFlags) parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	sources, err := parseClientFlags(fs, args, getenv, hubKeyFileKeys...)
	k.sources = sources
	return err
}

// typed says whether the flag name was given on the command line.
func (k *hubKeyFlags) typed(name string) bool { return k.sources[name].kind == "flag" }

// describe names the flag name and, when it was not typed, where its
// value came from: "--jwt-key (file /etc/ssehub.toml:3)".
func (k *hubKeyFlags) describe(name string) string {
	if src := k.sources[name]; src.kind == "file" || src.kind == "env" {
		return fmt.Sprintf("--%s (%s)", name, src)
	}
	return "--" + name
}

// side returns the flag the hub takes one side's key from, and its value:
// the side's own when given, else --jwt-key ("" when neither is, and the
// hub uses the key kept in its data folder).
func (k *hubKeyFlags) side(publishers bool) (name, value string) {
	own, ownName := k.subscriberKey, "subscriber-jwt-key"
	if publishers {
		own, ownName = k.publisherKey, "publisher-jwt-key"
	}
	if own != "" {
		return ownName, own
	}
	return "jwt-key", k.jwtKey
}

// sign makes a token that may publish to topics, signed with key, valid
// for ttl, for the hub's audience and issuer.
func (k *hubKeyFlags) sign(key signingKey, topics []string, ttl time.Duration) (string, error) {
	var c auth.Claims
	c.Mercure.Publish = topics
	if k.audience != "" {
		c.Audience = jwt.ClaimStrings{k.audience}
	}
	c.Issuer = k.issuer
	c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(ttl))
	return auth.SignClaims(defaultAlg(key.key), key.key, "", &c)
}

// key returns the key the hub checks one side's tokens with, to sign them.
func (k *hubKeyFlags) key(publishers bool) (signingKey, error) {
	name, value := k.side(publishers)
	if value != "" {
		return signingKeyFrom(k.describe(name), value)
	}
	b, err := findKey("", k.store)
	return signingKey{b, "the --store folder"}, err
}

// signingKey is a key to sign tokens with: an HMAC secret ([]byte) or a
// private key, and the flag it came from, for messages.
type signingKey struct {
	key  any
	from string
}

// same says whether two keys sign the same tokens.
func (k signingKey) same(o signingKey) bool {
	switch a := k.key.(type) {
	case []byte:
		b, ok := o.key.([]byte)
		return ok && bytes.Equal(a, b)
	case crypto.Signer:
		b, ok := o.key.(crypto.Signer)
		pub, ok2 := a.Public().(interface{ Equal(crypto.PublicKey) bool })
		return ok && ok2 && pub.Equal(b.Public())
	}
	return false
}

// errPublicKey is the error of a key that can check tokens but not sign them.
var errPublicKey = errors.New("a PEM public key, which checks tokens but cannot sign them")

// signingKeyFrom reads the value of a key flag as the hub does
// (auth.ParseKey): a PEM private key signs; a PEM public key or
// certificate cannot; anything else is an HMAC secret, trimmed. from
// names the flag, for messages.
func signingKeyFrom(from, value string) (signingKey, error) {
	trimmed := strings.TrimSpace(value)
	if !strings.HasPrefix(trimmed, "-----BEGIN") {
		return signingKey{[]byte(trimmed), from}, nil
	}
	block, _ := pem.Decode([]byte(trimmed))
	if block != nil && !strings.Contains(block.Type, "PRIVATE KEY") {
		return signingKey{}, fmt.Errorf("%s is %w", from, errPublicKey)
	}
	k, err := auth.ParsePrivateKey([]byte(trimmed))
	if err != nil {
		return signingKey{}, fmt.Errorf("%s: %w", from, err)
	}
	return signingKey{k, from}, nil
}

// defaultAlg is the usual algorithm for a key.
func defaultAlg(key any) string {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return "RS256"
	case *ecdsa.PrivateKey:
		return map[int]string{256: "ES256", 384: "ES384", 521: "ES512"}[k.Curve.Params().BitSize]
	case ed25519.PrivateKey:
		return "EdDSA"
	}
	return "HS256"
}

// publishCmd publishes one event over HTTP and prints its id.
func publishCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("publish", stderr)
	url := fs.String("url", "http://localhost:8080", "the hub's base URL")
	token := fs.String("token", "", "publisher token (default: one made for the event's topics with the hub's publisher key, as --publisher-jwt-key, --jwt-key, --store or --config find it)")
	var hk hubKeyFlags
	hk.register(fs)
	var topics listFlag
	fs.Var(&topics, "topic", "topic to publish to (repeat for several)")
	typ := fs.String("type", "", "event type")
	evID := fs.String("id", "", "event id (default: assigned by the hub)")
	retry := fs.Duration("retry", 0, "reconnection delay to send with the event")
	private := fs.Bool("private", false, "deliver only to subscribers allowed to receive the topic")
	// SSEHUB_RETRY is the hub's --retry, as a file's retry is: run in the
	// hub's environment, publish must not send it with every event.
	hubEnv := getenv
	getenv = func(name string) string {
		if name == envName("retry") {
			return ""
		}
		return hubEnv(name)
	}
	if err := hk.parse(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() != 1 || len(topics) == 0 {
		fmt.Fprintln(stderr, "usage: ssehub publish --topic TOPIC [flags] DATA   (DATA - reads standard input)")
		return errUsage
	}
	if *token == "" {
		key, err := hk.key(true)
		if errors.Is(err, errPublicKey) {
			return fmt.Errorf("no --token, and %w: give a --token (`ssehub token --key-file` makes one from the private half)", err)
		}
		if err != nil {
			return fmt.Errorf("no --token: %w", err)
		}
		// Short-lived and for these topics only: it is made for one request.
		if *token, err = hk.sign(key, topics, time.Minute); err != nil {
			return err
		}
	}
	data := fs.Arg(0)
	if data == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return err
		}
		data = string(b)
	}
	client := publisher.New(*url, *token, &http.Client{Timeout: 30 * time.Second})
	id, err := client.Publish(ctx, publisher.Event{
		Topics: topics, Data: data, Type: *typ, ID: *evID,
		Retry: retry.Milliseconds(), Private: *private,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, id)
	return nil
}
