package web_test

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/securechat/scca/ca"
	"github.com/securechat/scca/chat"
)

// The page enrols through the chat server's --ca-url relay with the real
// online CA (enroll.Server) and a token minted in the inventory; the token
// holds once: a second browser bringing it again is refused, with the
// CA's message on the page, and nothing more is issued.
func TestBrowserEnrolsThroughTheOnlineCA(t *testing.T) {
	w := newWorld(t)
	browser := newBrowser(t)
	tok := w.token(t, "erin")
	first := openPage(t, browser, w.pageURL)
	first.enrol("erin", tok)
	recs, err := w.st.FindByCN(context.Background(), "erin")
	if err != nil || len(recs) != 1 || !strings.HasPrefix(recs[0].IssuedBy, "token:") {
		t.Fatalf("inventory after enrolment: %+v, %v; want one certificate issued by its token", recs, err)
	}
	if got := first.eval(`document.getElementById("whoami").textContent`); got != "erin" {
		t.Fatalf("whoami %q", got)
	}
	first.waitFor("key kept non-extractable", storedKeyIs("false"), 10*time.Second)

	again := openPage(t, browser, w.pageURL)
	again.submitEnrol("erin", tok)
	again.waitFor("reuse refused", noticeHas("Enrolment failed: invalid or already used token"), 15*time.Second)
	if s := again.eval(`document.getElementById("status").textContent`); s == "connected" {
		t.Fatal("a reused token connected")
	}
	other := openPage(t, browser, w.pageURL)
	other.submitEnrol("mallory", w.token(t, "frank"))
	other.waitFor("token for another CN refused", noticeHas("invalid or already used token"), 15*time.Second)
	if recs, _ := w.st.FindByCN(context.Background(), "erin"); len(recs) != 1 {
		t.Fatalf("%d certificates for erin after the reuse", len(recs))
	}
	if recs, _ := w.st.FindByCN(context.Background(), "mallory"); len(recs) != 0 {
		t.Fatal("a token for frank issued a certificate for mallory")
	}
}

// storedKeyIs reads the identity from the page's IndexedDB and compares
// privateKey.extractable; the answer lands in window.__extractable.
func storedKeyIs(want string) string {
	return `(window.__probe ??= new Promise((ok, bad) => { const r = indexedDB.open("scca-securechat", 1);
	  r.onerror = () => bad(r.error);
	  r.onsuccess = () => { const g = r.result.transaction("kv").objectStore("kv").get("identity");
	    g.onsuccess = () => ok(g.result); g.onerror = () => bad(g.error); }; })
	  .then(id => { window.__extractable = String(id?.privateKey?.extractable); window.__kind = id?.privateKey?.type; }),
	  window.__extractable === "` + want + `" && window.__kind === "private")`
}

// A PKCS#12 from the CA's export (go-pkcs12 Modern2023: PBES2 with
// PBKDF2-SHA256 and AES-256-CBC, 600,000 iterations) is imported in the
// page: a wrong password is refused with a clear message, the right one
// gives a non-extractable key kept with the certificate in IndexedDB, the
// page connects, and after a reload it still does.
func TestBrowserImportsPKCS12(t *testing.T) {
	w := newWorld(t)
	chain, key := w.issue(t, ca.ProfileClient, "dave")
	der, err := ca.EncodePKCS12(key, chain[0], []*x509.Certificate{w.a.Intermediate, w.a.Root}, "correct horse ü", nil)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "dave.p12")
	if err := os.WriteFile(file, der, 0o600); err != nil {
		t.Fatal(err)
	}
	browser := newBrowser(t)
	p := openPage(t, browser, w.pageURL)
	p.do(chromedp.WaitVisible("#p12-form"), chromedp.SetUploadFiles("#p12-file", []string{file}),
		chromedp.SetValue("#p12-password", "correct horse"), chromedp.Click("#p12-btn"))
	p.waitFor("wrong password refused", noticeHas("Import failed: wrong password"), 30*time.Second)
	if s := p.eval(`document.getElementById("status").textContent`); s != "not enrolled" {
		t.Fatalf("status %q after a wrong password", s)
	}

	p.do(chromedp.SetValue("#p12-password", "correct horse ü"), chromedp.Click("#p12-btn"))
	p.waitFor("dave connected", statusIs("connected"), 30*time.Second)
	if got := p.eval(`document.getElementById("whoami").textContent`); got != "dave" {
		t.Fatalf("whoami %q", got)
	}
	if got := p.eval(`document.getElementById("p12-password").value`); got != "" {
		t.Fatal("the password stays in the form")
	}
	p.waitFor("key kept non-extractable", storedKeyIs("false"), 10*time.Second)

	carol := w.goClient(t, "carol")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if res, err := carol.SendTo(ctx, "dave", "hello imported dave"); err != nil || res.Status != chat.StatusDelivered {
		t.Fatalf("SendTo dave = %+v, %v", res, err)
	}
	p.waitFor("dm at dave", logHas("carol: hello imported dave"), 10*time.Second)
	p.say("/msg carol hi from the p12")
	wantEvent(t, ctx, carol, "dave", "hi from the p12")

	p.do(chromedp.Reload())
	p.waitFor("dave connected after reload (identity from IndexedDB)", statusIs("connected"), 15*time.Second)
}

// The rejected state of a direct message shows its reason as text:
// quota_exceeded, unknown_recipient and cluster_unavailable, each from the
// real server (a sender quota of one message, an unknown CN, a cluster
// whose broker went down).
func TestBrowserDMRejectionReasons(t *testing.T) {
	b := &fakeBroker{}
	b.up.Store(true)
	w := newWorldWith(t, worldOptions{senderQuota: 1, broker: b})
	w.issue(t, ca.ProfileClient, "gina") // may receive DMs, never online
	browser := newBrowser(t)
	p := openPage(t, browser, w.pageURL)
	p.enrol("alice", w.token(t, "alice"))

	dmState := func(text, state, reason string) string {
		return `[...document.querySelectorAll("#log li.dm")].some(li => li.textContent.includes("` + text +
			`") && li.dataset.state === "` + state + `" && (li.dataset.reason ?? "") === "` + reason + `")`
	}
	p.say("/msg gina first")
	p.waitFor("queued", dmState("first", "queued", ""), 10*time.Second)
	p.say("/msg gina second")
	p.waitFor("quota_exceeded", dmState("second", "rejected", "quota_exceeded"), 10*time.Second)
	p.waitFor("quota text", logHas("rejected (quota_exceeded): you have too many messages waiting"), time.Second)
	p.say("/msg nobody-here hello")
	p.waitFor("unknown_recipient", dmState("hello", "rejected", "unknown_recipient"), 10*time.Second)
	p.waitFor("unknown text", logHas("rejected (unknown_recipient): no active client certificate has that name"), time.Second)
	b.up.Store(false)
	p.say("/msg gina third")
	p.waitFor("cluster_unavailable", dmState("third", "rejected", "cluster_unavailable"), 10*time.Second)
	p.waitFor("cluster text", logHas("rejected (cluster_unavailable): the other chat servers cannot be reached"), time.Second)
	p.screenshot("reasons.png")
}

// fakeBroker is a cluster of one whose broker can be switched off: enough
// for the server to take the cluster paths (§12.2 cluster_unavailable).
type fakeBroker struct {
	up atomic.Bool
	mu sync.Mutex
	h  chat.BrokerHandler
}

var errBrokerDown = errors.New("broker down")

func (b *fakeBroker) Node() string { return "web-test" }
func (b *fakeBroker) Start(h chat.BrokerHandler) error {
	b.mu.Lock()
	b.h = h
	b.mu.Unlock()
	return nil
}
func (b *fakeBroker) Up() bool { return b.up.Load() }
func (b *fakeBroker) Broadcast([]byte) error {
	if !b.up.Load() {
		return errBrokerDown
	}
	return nil
}
func (b *fakeBroker) Wake(context.Context, string, bool) (bool, error) {
	if !b.up.Load() {
		return false, errBrokerDown
	}
	return false, nil
}
func (b *fakeBroker) HintRevocation() error { return nil }
