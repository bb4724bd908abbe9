package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
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
	audience := fs.String("audience", "", "audience (aud) of the token, for a hub started with --jwt-audience")
	issuer := fs.String("issuer", "", "issuer (iss) of the token, for a hub started with --jwt-issuer")
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
	signKey, err := tokenKey(hk, *keyFile)
	if err != nil {
		return err
	}
	if *alg == "" {
		*alg = defaultAlg(signKey)
	}
	if len(publish) == 0 && len(subscribe) == 0 {
		publish = listFlag{"*"}
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
	token, err := auth.SignClaims(*alg, signKey, *kid, &c)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, token)
	return nil
}

// tokenKey returns the signing key: --jwt-key, else --key-file (a PEM
// private key or a secret), else the secret the hub keeps in its data folder.
func tokenKey(hk hubKeyFlags, file string) (any, error) {
	switch {
	case hk.jwtKey != "":
		return hk.key() // trimmed, as the hub reads it
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		if bytes.HasPrefix(bytes.TrimSpace(b), []byte("-----BEGIN")) {
			return auth.ParsePrivateKey(b)
		}
		return bytes.TrimSpace(b), nil
	}
	return hk.key()
}

// hubKeyFlags find the hub's token key the way `ssehub serve` does: from
// --jwt-key, else the key kept in the --store folder, each also from the
// environment or the hub's configuration file.
type hubKeyFlags struct {
	config, store, jwtKey string
}

func (k *hubKeyFlags) register(fs *flag.FlagSet) {
	serve := serveFlagSet()
	fs.StringVar(&k.config, "config", "", "the hub's configuration file, to take its store and jwt-key from")
	fs.StringVar(&k.store, "store", serve.Lookup("store").DefValue, "the hub's --store, whose folder keeps a generated key")
	fs.StringVar(&k.jwtKey, "jwt-key", "", "the hub's HMAC secret (default: the one kept in the --store folder)")
}

// parse parses args as parseClientFlags does, sharing store and jwt-key
// with the hub's configuration file.
func (k *hubKeyFlags) parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	return parseClientFlags(fs, args, getenv, "store", "jwt-key")
}

func (k *hubKeyFlags) key() ([]byte, error) { return findKey(k.jwtKey, k.store) }

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
	token := fs.String("token", "", "publisher token (default: one made for the event's topics with the hub's key, as --jwt-key, --store or --config find it)")
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
		key, err := hk.key()
		if err != nil {
			return fmt.Errorf("no --token: %w", err)
		}
		// Short-lived and for these topics only: it is made for one request.
		if *token, err = auth.Sign(key, topics, nil, time.Minute); err != nil {
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
