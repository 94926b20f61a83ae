package web_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/securechat/scca/chat"
)

// The browser tests drive Debian's Chromium (headless) against a real chat
// server: the page enrols through the relay, speaks securechat/1 with
// WebCrypto, and chats with another page and a Go client. They skip when
// chromium is missing, except under CI=true, where they fail.

var updateScreenshot = flag.Bool("update-screenshot", false, "write docs/browser-client.png from the browser test")

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed and CI=true: the browser tests must run in CI (apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium)")
	return ""
}

// newBrowser starts one headless Chromium with a fresh profile; each page
// gets its own browser context (separate IndexedDB, like separate users).
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1000, 760),
	}
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	browser, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(browser); err != nil { // starts the browser (no timeout: it would stop it)
		t.Fatalf("start chromium: %v", err)
	}
	return browser
}

type page struct {
	t   *testing.T
	ctx context.Context
}

func openPage(t *testing.T, browser context.Context, url string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // creates the tab; a timeout here would close it again
		t.Fatalf("open tab: %v", err)
	}
	p := &page{t: t, ctx: ctx}
	p.do(chromedp.Navigate(url))
	return p
}

func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("browser: %v\n%s", err, p.dump())
	}
}

// waitFor polls the JavaScript predicate until it is true or timeout.
func (p *page) waitFor(what, expr string, timeout time.Duration) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, timeout+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(timeout))); err != nil {
		p.t.Fatalf("waiting for %s: %v\n%s", what, err, p.dump())
	}
}

func (p *page) eval(expr string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

// dump is the page's visible state, for failure messages.
func (p *page) dump() string {
	ctx, cancel := context.WithTimeout(p.ctx, 3*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`"status: " + document.getElementById("status").textContent +
		"\nnotice: " + document.getElementById("notice").textContent + "\nlog:\n" + document.getElementById("log").innerText`))
	if err != nil {
		return "page state unavailable: " + err.Error()
	}
	return s
}

// logHas is a predicate: the chat log shows text (as text).
func logHas(text string) string {
	q, _ := json.Marshal(text)
	return `document.getElementById("log").textContent.includes(` + string(q) + `)`
}

func statusIs(s string) string {
	q, _ := json.Marshal(s)
	return `document.getElementById("status").textContent === ` + string(q)
}

// enrol fills the enrolment form as a user does with a token from the
// inventory and waits for the session.
func (p *page) enrol(cn, token string) {
	p.t.Helper()
	p.submitEnrol(cn, token)
	p.waitFor(cn+" connected", statusIs("connected"), 15*time.Second)
}

func (p *page) submitEnrol(cn, token string) {
	p.t.Helper()
	p.do(chromedp.WaitVisible("#enroll-form"),
		chromedp.SetValue("#enroll-cn", cn), chromedp.SetValue("#enroll-token", token),
		chromedp.Click("#enroll-btn"))
}

// noticeHas is a predicate: the notice is shown and includes text.
func noticeHas(text string) string {
	q, _ := json.Marshal(text)
	return `!document.getElementById("notice").hidden && document.getElementById("notice").textContent.includes(` + string(q) + `)`
}

// say types a line into the message box and sends it.
func (p *page) say(line string) {
	p.t.Helper()
	p.do(chromedp.SetValue("#text", line), chromedp.Click("#send"))
}

func (p *page) screenshot(name string) []byte {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(p.t.TempDir(), name), png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	return png
}

func TestBrowserClient(t *testing.T) {
	w := newWorld(t)
	browser := newBrowser(t)
	alice := openPage(t, browser, w.pageURL)
	alice.enrol("alice", w.token(t, "alice"))
	bob := openPage(t, browser, w.pageURL)
	bob.enrol("bob", w.token(t, "bob"))
	carol := w.goClient(t, "carol")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("room: two pages and a Go client, both ways", func(t *testing.T) {
		alice.say("/join lobby")
		alice.waitFor("alice joined", logHas("joined lobby"), 10*time.Second)
		bob.say("/join lobby")
		bob.waitFor("bob joined", logHas("joined lobby"), 10*time.Second)
		if _, err := carol.Join(ctx, "lobby"); err != nil {
			t.Fatal(err)
		}
		alice.say("hello from alice")
		bob.waitFor("alice's message at bob", logHas("hello from alice"), 10*time.Second)
		wantEvent(t, ctx, carol, "alice", "hello from alice")
		if _, err := carol.SendRoom(ctx, "lobby", "hi from the terminal"); err != nil {
			t.Fatal(err)
		}
		alice.waitFor("carol's message at alice", logHas("carol: hi from the terminal"), 10*time.Second)
		bob.waitFor("carol's message at bob", logHas("carol: hi from the terminal"), 10*time.Second)
		bob.say("/who lobby")
		bob.waitFor("who", logHas("in lobby: alice, bob, carol"), 10*time.Second)
	})

	t.Run("markup from a peer is shown as text", func(t *testing.T) {
		evil := `<img src=x onerror="window.pwned=1"><script>window.pwned=1</script><b>bold</b>`
		bob.say(evil)
		alice.waitFor("markup as text", logHas(evil), 10*time.Second)
		if n := alice.eval(`String(document.querySelectorAll("#log img, #log script, #log b").length)`); n != "0" {
			t.Fatalf("peer markup became %s elements", n)
		}
		if v := alice.eval(`String(window.pwned)`); v != "undefined" {
			t.Fatalf("peer script ran: window.pwned = %s", v)
		}
		if _, err := carol.SendRoom(ctx, "lobby", "carol says <i>hi</i>"); err != nil {
			t.Fatal(err)
		}
		alice.waitFor("carol's markup as text", logHas("carol says <i>hi</i>"), 10*time.Second)
		if png := alice.screenshot("room.png"); *updateScreenshot {
			if err := os.WriteFile("../docs/browser-client.png", png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("direct messages: delivered, queued, rejected, replayed on reconnect with a ticket", func(t *testing.T) {
		alice.say("/msg carol psst")
		alice.waitFor("dm delivered", `[...document.querySelectorAll("#log li.dm")].some(li => li.textContent.includes("psst") && li.dataset.state === "delivered")`, 10*time.Second)
		wantEvent(t, ctx, carol, "alice", "psst")

		bob.do(chromedp.Click("#disconnect"))
		bob.waitFor("bob offline", statusIs("disconnected"), 10*time.Second)
		waitOffline(t, ctx, carol, "bob")
		res, err := carol.SendTo(ctx, "bob", "while you were away")
		if err != nil || res.Status != "queued" {
			t.Fatalf("SendTo offline bob = %+v, %v; want queued", res, err)
		}
		alice.say("/msg bob second one")
		alice.waitFor("dm queued", `[...document.querySelectorAll("#log li.dm")].some(li => li.textContent.includes("second one") && li.dataset.state === "queued")`, 10*time.Second)
		alice.say("/msg bob one too many")
		alice.waitFor("dm rejected", `[...document.querySelectorAll("#log li.dm")].some(li => li.textContent.includes("one too many") && li.dataset.state === "rejected" && li.textContent.includes("queue_full"))`, 10*time.Second)

		bob.do(chromedp.Click("#connect"))
		bob.waitFor("bob resumed", statusIs("connected (resumed)"), 10*time.Second)
		bob.waitFor("replay", logHas("carol: while you were away"), 10*time.Second)
		bob.waitFor("replay 2", logHas("alice: second one"), 10*time.Second)
		if strings.Contains(bob.eval(`document.getElementById("log").textContent`), "one too many") {
			t.Fatal("a rejected message was delivered")
		}
		bob.screenshot("replayed.png")
	})

	t.Run("revoking the browser's certificate ends its session within 2 s", func(t *testing.T) {
		start := time.Now()
		w.revoke(t, "alice")
		alice.waitFor("revocation notice", `document.getElementById("notice").textContent.includes("certificate_revoked") && !document.getElementById("notice").hidden`, 2*time.Second)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("session ended %v after the revocation", d)
		}
		alice.waitFor("disconnected", statusIs("disconnected"), 5*time.Second)
		alice.screenshot("revoked.png")
	})

	t.Run("a page pinned to a foreign root refuses the server", func(t *testing.T) {
		bob.do(chromedp.Click("#disconnect"))
		bob.waitFor("bob offline", statusIs("disconnected"), 10*time.Second)
		bob.do(chromedp.Click("#settings summary"), chromedp.SetValue("#pin-pem", foreignRootPEM(t)), chromedp.Click("#pin-btn"))
		bob.waitFor("pinned", logHas("pinned a new root"), 10*time.Second)
		bob.do(chromedp.Click("#connect"))
		bob.waitFor("refused", `document.getElementById("notice").textContent.includes("does not chain to the pinned root")`, 10*time.Second)
		if s := bob.eval(`document.getElementById("status").textContent`); s != "not connected" {
			t.Fatalf("status %q after refusing the server", s)
		}
	})
}

// wantEvent waits for the Go client to receive text from from, skipping
// presence events.
func wantEvent(t *testing.T, ctx context.Context, c *chat.Conn, from, text string) {
	t.Helper()
	for {
		ev, err := c.Receive(ctx)
		if err != nil {
			t.Fatalf("waiting for %q from %s: %v", text, from, err)
		}
		if ev.Kind == chat.EventMessage && ev.From == from && ev.Text == text {
			return
		}
	}
}

// waitOffline polls the server's presence list until cn has no session.
func waitOffline(t *testing.T, ctx context.Context, c *chat.Conn, cn string) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		online, err := c.Who(ctx, "")
		if err != nil {
			t.Fatalf("who: %v", err)
		}
		if !slices.Contains(online, cn) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s still online", cn)
		case <-tick.C:
		}
	}
}
