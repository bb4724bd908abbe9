//go:build unix

package main

import (
	"os"
	"syscall"
	"testing"
)

// raiseSIGHUP sends this process SIGHUP, as an operator's kill -HUP does.
func raiseSIGHUP(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}
