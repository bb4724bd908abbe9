package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Algorithms returns every signing algorithm a Verifier can accept, the
// default allow-list. "none" is not one of them and cannot be allowed.
func Algorithms() []string { return slices.Clone(supported) }

var supported = []string{
	"HS256", "HS384", "HS512",
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

// MinRSABits is the smallest RSA key accepted: shorter ones are breakable.
const MinRSABits = 2048

// Key is one key a Verifier checks signatures with.
type Key struct {
	// ID, when set, is the key's "kid": a token naming another kid is not
	// checked with it. A key without ID checks tokens with any kid or none.
	ID string
	// Algorithm, when set, restricts the key to that one algorithm (a JWK's
	// "alg"); otherwise the key serves every allowed algorithm of its kind.
	Algorithm string
	// Key is an HMAC secret ([]byte) or a public key: *rsa.PublicKey,
	// *ecdsa.PublicKey or ed25519.PublicKey.
	Key any
}

// fits reports whether k may check a token signed with alg. The kind of
// the key decides, never the token: an HS256 token is checked only with
// secrets, so a public key can never be used as an HMAC secret (the
// algorithm-confusion attack).
func (k Key) fits(alg string) bool {
	if k.Algorithm != "" && k.Algorithm != alg {
		return false
	}
	switch key := k.Key.(type) {
	case []byte:
		return strings.HasPrefix(alg, "HS")
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		want := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
		return want != nil && key.Curve == want
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// kind names the key's family for messages; each takes "an".
func (k Key) kind() string {
	switch k.Key.(type) {
	case []byte:
		return "HMAC secret"
	case *rsa.PublicKey:
		return "RSA public key"
	case *ecdsa.PublicKey:
		return "ECDSA public key"
	case ed25519.PublicKey:
		return "Ed25519 public key"
	}
	return fmt.Sprintf("%T", k.Key)
}

// check refuses keys that cannot be used safely.
func (k Key) check() error {
	if k.Algorithm != "" && !slices.Contains(supported, k.Algorithm) {
		return fmt.Errorf("key %q: unsupported algorithm %q", k.ID, k.Algorithm)
	}
	switch key := k.Key.(type) {
	case []byte:
		if len(key) == 0 {
			return errors.New("empty HMAC secret")
		}
	case *rsa.PublicKey:
		if key == nil || key.N.BitLen() < MinRSABits {
			return fmt.Errorf("RSA key %q is shorter than %d bits", k.ID, MinRSABits)
		}
	case *ecdsa.PublicKey:
		if key == nil || !slices.Contains([]elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()}, key.Curve) {
			return fmt.Errorf("ECDSA key %q: curve must be P-256, P-384 or P-521", k.ID)
		}
	case ed25519.PublicKey:
		if len(key) != ed25519.PublicKeySize {
			return fmt.Errorf("Ed25519 key %q has %d bytes, want %d", k.ID, len(key), ed25519.PublicKeySize)
		}
	default:
		return fmt.Errorf("key %q: unsupported key type %T", k.ID, k.Key)
	}
	if k.Algorithm != "" && !k.fits(k.Algorithm) {
		return fmt.Errorf("key %q: an %s cannot verify %s", k.ID, k.kind(), k.Algorithm)
	}
	return nil
}

// ParseKey reads a key as given in a flag or a file: PEM text (a public
// key, a certificate, or a private key whose public half is used) is a
// public key; anything else is an HMAC secret, surrounding whitespace
// trimmed. PEM is never taken as a secret, so a public key cannot be
// turned into an HMAC key by mistake.
func ParseKey(b []byte) (Key, error) {
	trimmed := bytes.TrimSpace(b)
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		k := Key{Key: trimmed}
		return k, k.check()
	}
	block, _ := pem.Decode(trimmed)
	if block == nil {
		return Key{}, errors.New("invalid PEM")
	}
	pub, err := pemPublicKey(block)
	if err != nil {
		return Key{}, err
	}
	k := Key{Key: pub}
	return k, k.check()
}

func pemPublicKey(block *pem.Block) (any, error) {
	switch block.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		return cert.PublicKey, nil
	case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
		priv, err := parsePrivateKey(block)
		if err != nil {
			return nil, err
		}
		return priv.Public(), nil
	}
	return nil, fmt.Errorf("unsupported PEM block %q (want PUBLIC KEY, CERTIFICATE or a private key)", block.Type)
}

// ParsePrivateKey reads a PEM private key (PKCS #8, PKCS #1 RSA or SEC 1
// EC) for signing tokens.
func ParsePrivateKey(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(bytes.TrimSpace(b))
	if block == nil {
		return nil, errors.New("invalid PEM")
	}
	return parsePrivateKey(block)
}

func parsePrivateKey(block *pem.Block) (crypto.Signer, error) {
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("unsupported PEM block %q for a private key", block.Type)
	}
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key %T", key)
	}
	return signer, nil
}
