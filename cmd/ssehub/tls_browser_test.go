package main

import (
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserEventSourceOverHTTPS opens an EventSource in Chromium over
// HTTPS straight to the hub, checks that the page came over HTTP/2, and
// restarts the hub under it: the browser comes back by itself and gets
// what it missed. Chromium trusts the test's self-signed certificate
// through --ignore-certificate-errors-spki-list, which accepts only that
// one public key (not any certificate).
func TestBrowserEventSourceOverHTTPS(t *testing.T) {
	cfg, cert, _, _ := tlsHub(t, "file:"+t.TempDir())
	spki := sha256.Sum256(cert.leaf.RawSubjectPublicKeyInfo)
	ctx := newBrowserWith(t, chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])))
	cfg.Listen = freeAddr(t)
	cfg.ShutdownRetry = 1500 * time.Millisecond
	cfg.ShutdownJitter = 500 * time.Millisecond
	m, stop := runMain(t, cfg, nil, nil)
	base := "https://" + m.Addr().String()
	c := tlsClient("", cert)

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/healthz")); err != nil {
		t.Fatal(err)
	}
	proto, err := chromedp.Run(ctx, chromedp.Evaluate[string](`performance.getEntriesByType("navigation")[0].nextHopProtocol`))
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`
			window.got = []; window.opens = 0;
			const es = new EventSource("/events?topic=browser");
			es.onopen = () => window.opens++;
			es.onmessage = (e) => window.got.push(e.data + "@" + e.lastEventId);
			true`))
	if err != nil {
		t.Fatal(err)
	}
	if proto != "h2" {
		t.Errorf("Chromium loaded the page over %q, want h2", proto)
	}
	waitJS(t, ctx, `window.opens === 1`, 5*time.Second)
	one := publishWith(t, c, base, `{"topic":"browser","data":"one"}`)
	waitJS(t, ctx, `window.got.length === 1`, 5*time.Second)

	stop()
	m, _ = runMain(t, cfg, nil, nil)
	two := publishWith(t, c, base, `{"topic":"browser","data":"two"}`)
	waitJS(t, ctx, `window.opens === 2 && window.got.length >= 2`, 15*time.Second)

	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.got`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"one@" + one, "two@" + two}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("browser received %v, want %v", got, want)
	}
}
