package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http/httptest"

	"github.com/ssehub/ssehub/auth"
)

// A hub that checks subscriber tokens with an identity provider's public
// key, and takes the token from wherever the request carries it.
func ExampleNew() {
	private, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(private.Public())
	key, _ := auth.ParseKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	v, err := auth.New(context.Background(), auth.Options{
		Algorithms: []string{"ES256"},
		Keys:       []auth.Key{key},
	})
	if err != nil {
		panic(err)
	}

	var c auth.Claims
	c.Mercure.Subscribe = []string{"users/42"}
	token, _ := auth.SignClaims("ES256", private, "", &c)

	r := httptest.NewRequest("GET", "/events?topic=users/42&authorization="+token, nil)
	got, from := auth.FromRequest(r)
	claims, err := v.Verify(context.Background(), got)
	fmt.Println(from, claims.Mercure.Subscribe, err)
	// Output:
	// authorization query parameter [users/42] <nil>
}
