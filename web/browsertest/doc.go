// Package browsertest drives ssehub's pages in a real Chromium against a
// real hub on loopback: memory log, hub, HTTP API, pages and demos wired as
// the server wires them. It holds only tests.
//
// The tests skip, loudly, when /usr/bin/chromium (or $CHROMIUM) is missing,
// and fail instead when the CI environment variable is set. With
// SSEHUB_SCREENSHOTS=1 each test saves its page to docs/screenshots/.
package browsertest
