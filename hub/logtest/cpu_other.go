//go:build !unix

package logtest

import "time"

// processCPU is unknown here.
func processCPU() time.Duration { return -1 }
