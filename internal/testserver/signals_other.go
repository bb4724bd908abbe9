//go:build !unix

package testserver

import "os"

// No signal pauses a process here: Pause fails the test that asks.
var sigStop, sigCont os.Signal
