//go:build unix

package testserver

import (
	"os"
	"syscall"
)

// The signals that pause and resume a server (Pause, Resume).
var sigStop, sigCont os.Signal = syscall.SIGSTOP, syscall.SIGCONT
