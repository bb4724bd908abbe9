//go:build !unix

package main

import "testing"

// raiseSIGHUP: a process cannot send itself SIGHUP here.
func raiseSIGHUP(t *testing.T) {
	t.Helper()
	t.Skip("no SIGHUP on this platform")
}
