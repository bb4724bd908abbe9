// Package epoch makes the names of new logs' sequence spaces.
package epoch

import (
	"crypto/rand"
	"encoding/base32"
)

var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// New returns a fresh epoch: 8 random lowercase base32 characters (40 bits),
// never containing the '-' that separates an epoch from a Seq in an id.
func New() string {
	var b [5]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return encoding.EncodeToString(b[:])
}
