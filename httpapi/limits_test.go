package httpapi

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/testclock"
)

func TestAddrKey(t *testing.T) {
	exempt := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		hostport, key string
		exempt        bool
	}{
		{"192.0.2.1:5000", "192.0.2.1", false},
		{"[::ffff:192.0.2.1]:5000", "192.0.2.1", false},
		{"[2001:db8:1:2::1]:80", "2001:db8:1:2::/64", false},
		{"[2001:db8:1:2:ffff::9]:80", "2001:db8:1:2::/64", false}, // the same /64: one client
		{"[2001:db8:1:3::1]:80", "2001:db8:1:3::/64", false},
		{"[fe80::1%eth0]:80", "fe80::/64", false},
		{"10.1.2.3:1", "", true},
		{"@unix", "", true},
	} {
		key, ex := addrKeyString(tc.hostport, exempt)
		if key != tc.key || ex != tc.exempt {
			t.Errorf("%s: key %q exempt %v, want %q %v", tc.hostport, key, ex, tc.key, tc.exempt)
		}
	}
}

// TestRateTableForgetsRefilledBuckets: the table of buckets holds only
// recently active keys, so many addresses cannot grow it without bound.
func TestRateTableForgetsRefilledBuckets(t *testing.T) {
	clock := testclock.New(time.Time{})
	l := newRateLimits(10, clock.Now)
	for i := range 5000 {
		l.take(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String(), "x")
		clock.Advance(100 * 1e6) // 100ms: each bucket has refilled by the next sweep
	}
	if n := len(l.buckets); n > 2*minSweep {
		t.Fatalf("%d buckets kept for 5000 addresses seen one at a time", n)
	}
}
