package browsertest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/device"

	"github.com/ssehub/ssehub/auth"
)

func TestDashboardShowsLiveFiguresTailAndPublishes(t *testing.T) {
	base := startHub(t)
	b := newBrowser(t)
	run(t, b.ctx, chromedp.Navigate(base+"/"))
	// Rates need two snapshots; the demos publish, so they are numbers.
	waitFor(t, b.ctx, "live figures", `document.querySelector('#f-pubrate').textContent !== '—' && document.querySelector('#conn').dataset.state === 'live'`, 5*time.Second)
	waitFor(t, b.ctx, "the tail to show events", `document.querySelectorAll('#tail li').length > 0`, 5*time.Second)

	token, err := auth.Sign(testKey, []string{"playground"}, nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	run(t, b.ctx,
		chromedp.SetValue(chromedp.CSS(`#selector`), "playground"),
		chromedp.Click(chromedp.CSS(`#filter button[type=submit]`)))
	waitFor(t, b.ctx, "the tail to watch playground", `document.querySelector('#tail-state').textContent.startsWith('Watching playground')`, 5*time.Second)
	run(t, b.ctx,
		chromedp.SetValue(chromedp.CSS(`#p-token`), token),
		chromedp.SetValue(chromedp.CSS(`#p-data`), "hello from the browser"),
		chromedp.Click(chromedp.CSS(`#publish button[type=submit]`)))
	waitFor(t, b.ctx, "the publish to succeed", `document.querySelector('#p-result').classList.contains('ok')`, 5*time.Second)
	waitFor(t, b.ctx, "the published event in the tail", `[...document.querySelectorAll('#tail .data')].some(d => d.textContent === 'hello from the browser')`, 5*time.Second)

	// A token for another topic is refused, and the page says so.
	b.expect("status of 403")
	run(t, b.ctx, chromedp.SetValue(chromedp.CSS(`#p-topic`), "elsewhere"), chromedp.Click(chromedp.CSS(`#publish button[type=submit]`)))
	waitFor(t, b.ctx, "the refusal", `document.querySelector('#p-result').textContent.startsWith('403')`, 5*time.Second)
	run(t, b.ctx, chromedp.SetValue(chromedp.CSS(`#p-topic`), "playground"),
		chromedp.SetValue(chromedp.CSS(`#selector`), "*"), chromedp.Click(chromedp.CSS(`#filter button[type=submit]`)))
	waitFor(t, b.ctx, "the tail to fill again", `document.querySelectorAll('#tail li').length > 8`, 5*time.Second)
	screenshot(t, b.ctx, "dashboard")
}

func TestBoardShowsAClaimFromAnotherClientWithinOneSecond(t *testing.T) {
	base := startHub(t)
	b := newBrowser(t)
	run(t, b.ctx, chromedp.Navigate(base+"/demo/board"))
	waitFor(t, b.ctx, "the start event", `document.querySelectorAll('.task').length === 9 && document.querySelector('#board').dataset.version === '0'`, 5*time.Second)
	waitFor(t, b.ctx, "the QR codes", `[...document.querySelectorAll('.task img')].every(i => i.complete && i.naturalWidth > 0)`, 5*time.Second)
	eval[string](t, b.ctx, `window.__sameDocument = 'yes'`)

	// The phone: a separate HTTP client with its own connections.
	phone := &http.Client{Transport: &http.Transport{}}
	defer phone.CloseIdleConnections()
	resp, err := phone.Post(base+"/demo/board/tasks/T-201/claim", "application/json", strings.NewReader(`{"by":"Ann"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("claim: %s", resp.Status)
	}
	claimedAt := time.Now()
	waitFor(t, b.ctx, "the claim on the board", `(() => { const c = document.querySelector('[data-task="T-201"]'); return c && c.dataset.claimedBy === 'Ann' && c.classList.contains('claimed') && c.textContent.includes('Claimed by Ann'); })()`, time.Second)
	if d := time.Since(claimedAt); d > time.Second {
		t.Fatalf("the board showed the claim after %v", d)
	}
	if marker := eval[string](t, b.ctx, `window.__sameDocument || 'reloaded'`); marker != "yes" {
		t.Fatal("the page navigated or reloaded to show the claim")
	}
	if navigations := eval[int](t, b.ctx, `performance.getEntriesByType('navigation').length`); navigations != 1 {
		t.Fatalf("%d navigations", navigations)
	}
	waitFor(t, b.ctx, "the activity entry", `document.querySelector('#activity').textContent.includes('Ann claimed T-201')`, time.Second)
	screenshot(t, b.ctx, "board")

	// Reset from the page restores the tasks on the page.
	run(t, b.ctx, chromedp.Click(chromedp.CSS(`#reset`)))
	waitFor(t, b.ctx, "the reset", `document.querySelectorAll('.task.claimed').length === 0 && document.querySelector('#board').dataset.version === '2'`, 2*time.Second)
}

func TestClaimPageOnAPhone(t *testing.T) {
	base := startHub(t)
	b := newBrowser(t)
	run(t, b.ctx, chromedp.Emulate(device.IPhone12), chromedp.Navigate(base+"/demo/board/claim/T-102"))
	waitFor(t, b.ctx, "the task", `document.querySelector('#task-title').textContent === 'Count pallets in bay C' && !document.querySelector('#claim-button').disabled`, 5*time.Second)
	run(t, b.ctx, chromedp.SetValue(chromedp.CSS(`#by`), "Zoe"))
	screenshot(t, b.ctx, "claim")
	run(t, b.ctx, chromedp.Click(chromedp.CSS(`#claim-button`)))
	waitFor(t, b.ctx, "the claim", `document.querySelector('#result').classList.contains('ok') && document.querySelector('#claim-button').disabled`, 5*time.Second)

	// The same task claimed again (from a second page) is refused with 409.
	other := b.tab(t)
	run(t, other, chromedp.Navigate(base+"/demo/board/claim/T-102"))
	waitFor(t, other, "the claimed state", `document.querySelector('#task-state').textContent.startsWith('Claimed by Zoe')`, 5*time.Second)
	b.expect("status of 409")
	status := eval[int](t, other, `fetch('/demo/board/tasks/T-102/claim', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{"by":"Max"}'}).then(r => r.status)`, chromedp.EvalAwaitPromise)
	if status != http.StatusConflict {
		t.Fatalf("second claim: %d, want 409", status)
	}
}

func TestClockTicks(t *testing.T) {
	base := startHub(t)
	b := newBrowser(t)
	run(t, b.ctx, chromedp.Navigate(base+"/demo/clock"))
	waitFor(t, b.ctx, "two ticks", `document.querySelectorAll('#ticks li').length >= 2 && /^Controller \d+ at \d{4}-\d\d-\d\dT/.test(document.querySelector('#now').textContent) && document.querySelector('#ready').textContent === '1'`, 5*time.Second)
	first := eval[string](t, b.ctx, `document.querySelector('#now').textContent`)
	waitFor(t, b.ctx, "the next tick", `document.querySelector('#now').textContent !== `+quote(first), 5*time.Second)
	later := eval[string](t, b.ctx, `document.querySelector('#now').textContent`)
	if !strings.HasPrefix(later, "Controller ") {
		t.Fatalf("clock shows %q", later)
	}
	screenshot(t, b.ctx, "clock")
}

func TestStockTickerUpdatesTheTable(t *testing.T) {
	base := startHub(t)
	b := newBrowser(t)
	run(t, b.ctx, chromedp.Navigate(base+"/demo/stocks"))
	waitFor(t, b.ctx, "the table", `document.querySelectorAll('#quotes tbody tr').length >= 24`, 5*time.Second)
	cells := `[...document.querySelectorAll('#quotes tbody td.num')].map(td => td.textContent).join('|')`
	count := `Number(document.querySelector('#quotes').dataset.updates || 0)`
	// Read the cells and the update count in one evaluation: updates keep
	// arriving, so the wait below must count from this snapshot, not from 0.
	type snapshot struct {
		Cells   string `json:"cells"`
		Updates int    `json:"updates"`
	}
	before := eval[snapshot](t, b.ctx, `({cells: `+cells+`, updates: `+count+`})`)
	waitFor(t, b.ctx, "updates", fmt.Sprintf(`%s >= %d`, count, before.Updates+10), 5*time.Second)
	if after := eval[string](t, b.ctx, cells); after == before.Cells {
		t.Fatal("the table did not change")
	}
	waitFor(t, b.ctx, "a flash", `document.querySelector('#quotes .flash-up, #quotes .flash-down, #quotes .flash-new') !== null`, 5*time.Second)
	screenshot(t, b.ctx, "stocks")
}

func TestChatMessagesCrossPagesAndResumeAfterReload(t *testing.T) {
	base := startHub(t)
	b := newBrowser(t)
	ann, bob := b.ctx, b.tab(t)
	room := base + "/demo/chat?room=team"
	joined := `document.querySelector('#chat-meta').textContent.startsWith('In team')`
	run(t, ann, chromedp.Navigate(room))
	waitFor(t, ann, "Ann to join", joined, 5*time.Second)
	run(t, bob, chromedp.Navigate(room))
	waitFor(t, bob, "Bob to join", joined, 5*time.Second)

	say(t, bob, "Bob", "hello from Bob")
	waitFor(t, ann, "Bob's message on Ann's page", hasMessage("hello from Bob", false), 5*time.Second)
	say(t, ann, "Ann", "hi Bob")
	waitFor(t, bob, "Ann's message on Bob's page", hasMessage("hi Bob", false), 5*time.Second)

	// Ann leaves; Bob writes; Ann comes back and sees what she missed, after
	// what she had already seen.
	run(t, ann, chromedp.Navigate("about:blank"))
	say(t, bob, "Bob", "while you were away")
	waitFor(t, bob, "Bob's own message", hasMessage("while you were away", false), 5*time.Second)
	run(t, ann, chromedp.Navigate(room))
	waitFor(t, ann, "the missed message after the reload", hasMessage("while you were away", true), 5*time.Second)
	texts := eval[[]string](t, ann, `[...document.querySelectorAll('#messages li:not(.divider) span:nth-child(2)')].map(s => s.textContent)`)
	if strings.Join(texts, "|") != "hello from Bob|hi Bob|while you were away" {
		t.Fatalf("Ann's page shows %q", texts)
	}
	run(t, ann, chromedp.SetValue(chromedp.CSS(`#name`), "Ann"))
	screenshot(t, ann, "chat")
}

func say(t *testing.T, ctx context.Context, name, text string) {
	t.Helper()
	run(t, ctx, chromedp.SetValue(chromedp.CSS(`#name`), name), chromedp.SetValue(chromedp.CSS(`#text`), text),
		chromedp.Click(chromedp.CSS(`#send button[type=submit]`)))
}

func hasMessage(text string, missed bool) string {
	sel := `#messages li`
	if missed {
		sel = `#messages li.missed`
	}
	return `[...document.querySelectorAll(` + quote(sel) + `)].some(li => li.textContent.includes(` + quote(text) + `))`
}

func TestMonitorUpdatesAndRaisesAnAlarm(t *testing.T) {
	base := startHub(t)
	b := newBrowser(t)
	run(t, b.ctx, chromedp.Navigate(base+"/demo/monitor"))
	waitFor(t, b.ctx, "samples", `Number(document.querySelector('#figures').dataset.samples || 0) >= 3 && /^\d/.test(document.querySelector('#m-goroutines').textContent) && document.querySelector('#m-cpu').textContent.endsWith('%')`, 5*time.Second)
	run(t, b.ctx,
		chromedp.SetValue(chromedp.CSS(`#metric`), "connections"),
		chromedp.SetValue(chromedp.CSS(`#value`), "0"),
		chromedp.Click(chromedp.CSS(`#thresholds button[type=submit]`)))
	waitFor(t, b.ctx, "the alarm", `document.querySelector('#alarms li.raised[data-metric="connections"]') !== null && document.querySelector('.figure[data-metric="connections"]').classList.contains('alarm')`, 5*time.Second)
	waitFor(t, b.ctx, "the threshold list", `document.querySelector('#t-list').textContent.includes('Open connections above 0')`, 5*time.Second)
	screenshot(t, b.ctx, "monitor")
	run(t, b.ctx, chromedp.Click(chromedp.CSS(`#clear`)))
	waitFor(t, b.ctx, "the alarm to clear", `document.querySelector('#alarms li.cleared[data-metric="connections"]') !== null && !document.querySelector('.figure[data-metric="connections"]').classList.contains('alarm')`, 5*time.Second)
}

func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`)
	return "'" + r.Replace(s) + "'"
}
