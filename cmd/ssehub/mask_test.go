package main

import (
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
