package main

import (
	"slices"
	"strings"
	"testing"
)

func TestMaskURLHidesPasswords(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"redis://user:hunter2@h:6379/0", "redis://user:********@h:6379/0"},
		{"redis+sentinel://u:hunter2@s1:26379,s2:26379/0?master=main&sentinel_password=s%26cret&stream=x",
			"redis+sentinel://u:********@s1:26379,s2:26379/0?master=main&sentinel_password=********&stream=x"},
		{"redis://h:6379", "redis://h:6379"},
		{"file:./data", "file:./data"},
		{"not a url", "not a url"},
	} {
		got := maskURL(tc.in)
		if got != tc.want || strings.Contains(got, "hunter2") || strings.Contains(got, "cret") {
			t.Errorf("maskURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestMaskArgsHidesSecretFlagValues: the command line the admin listener
// shows has the value of every secret flag masked in each form the flag
// package reads (--flag value, --flag=value, one dash), the password of a
// store URL and the query of a JWKS URL hidden, and the rest as given.
func TestMaskArgsHidesSecretFlagValues(t *testing.T) {
	in := []string{
		"/usr/bin/ssehub", "serve",
		"--jwt-key", "hunter2",
		"--publisher-jwt-key=hunter2",
		"-subscriber-jwt-key", "hunter2",
		"--store", "redis://u:hunter2@h:6379/0?stream=s",
		"--store=redis://:hunter2@h:6379",
		"--jwks-url", "https://idp.example/jwks.json?access_token=hunter2",
		"--subscriber-jwks-url=https://a:hunter2@idp.example/j?hunter2",
		"--demo", "--jwt-key", "hunter2", // a true/false flag takes no value
		"--jwt-key", "-hunter2", // a value may start with a dash
		"--admin-token-file", "/run/secrets/admin",
		"--tls-key=/etc/ssehub/key.pem",
		"--listen", ":8080", "--h2c", "--jwt-key=",
	}
	want := []string{
		"/usr/bin/ssehub", "serve",
		"--jwt-key", "********",
		"--publisher-jwt-key=********",
		"-subscriber-jwt-key", "********",
		"--store", "redis://u:********@h:6379/0?stream=s",
		"--store=redis://:********@h:6379",
		"--jwks-url", "https://idp.example/jwks.json?access_token=********",
		"--subscriber-jwks-url=https://a:********@idp.example/j?********",
		"--demo", "--jwt-key", "********",
		"--jwt-key", "********",
		"--admin-token-file", "********",
		"--tls-key=********",
		"--listen", ":8080", "--h2c", "--jwt-key=",
	}
	got := maskArgs(in)
	if !slices.Equal(got, want) {
		t.Errorf("maskArgs:\n got %q\nwant %q", got, want)
	}
	if strings.Contains(strings.Join(got, " "), "hunter2") {
		t.Errorf("maskArgs left a secret: %q", got)
	}
	if in[3] != "hunter2" {
		t.Errorf("maskArgs changed its argument: %q", in)
	}
}
