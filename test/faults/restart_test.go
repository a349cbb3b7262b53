package faults

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
	"github.com/drehscheibe/drehscheibe/gateway/config"
)

// TestRestartWithMessagesInEveryState stops the gateway with SIGTERM while
// submissions arrive and starts it again on the same data directory, with
// messages in every state: queued for a filedrop target, in retry for a
// webhook target whose receiver is down, waiting in an XTA message box, and
// dead-lettered by a receiver that answered 400. Nothing may be lost:
// filedrop delivers each submission once, the restart hands the queued ones
// on at once rather than after their ack_wait, the retrying ones are
// delivered when the receiver is back, the box still lists its message and
// getMessage returns it byte for byte, and the dead letter is still listed
// and replays once the receiver takes it.
func TestRestartWithMessagesInEveryState(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts the gateway under load")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	rcv := newReceiver(t)
	bad := newReceiver(t)
	bad.reject(true)
	natsAddr, xtaAddr := freeAddr(t), freeAddr(t)
	cfg := conf{
		NATS: fmt.Sprintf("data_dir: %q\nlisten: %s", filepath.Join(dir, "nats"), natsAddr),
		Targets: fmt.Sprintf(`  - name: fachverfahren
    type: filedrop
    concurrency: 1
    ack_wait: 30s
    options: {dir: %q}
  - name: hook
    type: webhook
    concurrency: 2
    max_attempts: 20
    ack_wait: 30s
    options: {url: %q, secret_env: HOOK_SECRET, timeout: 5s}
  - name: poison
    type: webhook
    max_attempts: 5
    options: {url: %q, secret_env: HOOK_SECRET, timeout: 5s}
  - {name: box, type: xta-box}`, out, rcv.url(), bad.url()),
		Routes: `  - {name: xta, match: {reader: "ags:07777000"}, target: box}
  - {name: poison, match: {reader: "ags:08888000"}, target: poison}
  - {name: portal-b, match: {sender: portal-b}, target: hook}
  - {name: all, target: fachverfahren}`,
		Extra: fmt.Sprintf(`admins:
  - {name: ops, api_key_sha256: %s}
xta:
  enabled: true
  listen: %s
  allow_plain_http: true
  parties:
    - {identifier: "efa:demo-portal", client: portal}
    - {identifier: "ags:07777000", client: fachverfahren-b}
`, config.HashAPIKey(adminKey), xtaAddr),
	}.write(t, dir)
	g := startGateway(t, "gateway", cfg, "HOOK_SECRET="+hookSecret)
	in := inspect(t, "nats://"+natsAddr)
	tmpl := demoTemplate(t)

	// Dead-lettered: the receiver refuses the message with 400.
	poisonMsg := bytes.ReplaceAll(demoMessage(tmpl, "restart-poison"), []byte("ags:09999000"), []byte("ags:08888000"))
	a := send(g.base, request{key: keyA, contentType: "application/xml", body: poisonMsg})
	if a.code != http.StatusAccepted {
		t.Fatalf("poison submission: %s", a)
	}
	poison := a.id
	eventually(t, 10*time.Second, "the refused submission dead-lettered", func() string {
		if st, err := getStatus(g.base, keyA, poison); err != nil || st.Status != "dead_lettered" {
			return fmt.Sprintf("%v %v", st, err)
		}
		return ""
	})

	// In the XTA box: a message with an attachment for a reader that fetches.
	boxMsg := bytes.ReplaceAll(demoMessage(tmpl, "restart-box"), []byte("ags:09999000"), []byte("ags:07777000"))
	boxAtt := xta.Content{ContentType: "application/pdf", Filename: "scan.pdf", ID: "scan", Data: randomBytes(7, 300<<10)}
	const boxID = "restart-box-1"
	if err := xtaSend(xtaAddr, boxID, "ags:07777000", boxMsg, boxAtt); err != nil {
		t.Fatal(err)
	}
	reader := xta.PartyIdentifier{Value: "ags:07777000", Type: "xoev"}
	eventually(t, 10*time.Second, "the XTA message in the box", func() string {
		return boxLists(xtaAddr, reader, boxID)
	})

	// In retry: the receiver is down.
	rcv.down()
	hook := map[string][]byte{}
	for i := range 4 {
		msg := demoMessage(tmpl, fmt.Sprintf("restart-hook-%d", i))
		a := send(g.base, request{key: keyB, contentType: "application/xml", body: msg})
		if a.code != http.StatusAccepted {
			t.Fatalf("hook submission %d: %s", i, a)
		}
		hook[a.id] = msg
	}
	eventually(t, 10*time.Second, "hook submissions retrying", func() string {
		for id := range hook {
			if st, err := getStatus(g.base, keyB, id); err != nil || st.Status != "retrying" {
				return fmt.Sprintf("%s: %v %v", id, st, err)
			}
		}
		return ""
	})

	// Queued: a burst for the filedrop target, which delivers one at a time;
	// SIGTERM arrives in the middle of it.
	const n, clients, stopAt = 600, 32, 300
	reqs := make([]request, n)
	msgs := make([][]byte, n)
	for i := range reqs {
		tag := fmt.Sprintf("restart-%03d", i)
		msgs[i] = demoMessage(tmpl, tag)
		reqs[i] = request{key: keyA, idempotencyKey: tag, contentType: "application/xml", body: msgs[i]}
	}
	answers := make([]answer, n)
	var accepted atomic.Int64
	reached := make(chan struct{})
	var once sync.Once
	base := g.base
	sent := parallel(n, clients, func(i int) {
		answers[i] = send(base, reqs[i])
		if answers[i].code == http.StatusAccepted && accepted.Add(1) >= stopAt {
			once.Do(func() { close(reached) })
		}
	})
	<-reached
	backlog, err := in.backlog("fachverfahren")
	if err != nil {
		t.Fatal(err)
	}
	g.term(20 * time.Second)
	<-sent

	ids := map[string]int{}
	for i, a := range answers {
		if a.err == nil && a.code == http.StatusAccepted {
			ids[a.id] = i
		} else if a.err == nil && a.code != http.StatusServiceUnavailable {
			t.Fatalf("submission %d: %s", i, a)
		}
	}
	queued := 0
	deliveredBefore := dropped(t, out)
	for id := range ids {
		if !deliveredBefore[id] {
			queued++
		}
	}
	t.Logf("SIGTERM with %d accepted (backlog %d just before); %d queued, %d in retry, 1 in the XTA box and 1 dead letter at the stop",
		len(ids), backlog, queued, len(hook))
	if queued == 0 {
		t.Fatalf("nothing was queued at the stop; the test proves nothing")
	}

	rcv.up()
	restarted := time.Now()
	g.start()
	base = g.base
	// The clients resend what got no 202.
	for i, a := range answers {
		if a.err == nil && a.code == http.StatusAccepted {
			continue
		}
		a, err := sendUntilAccepted(func() string { return base }, reqs[i], 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ids[a.id] = i
	}
	// Well within ack_wait (30s): nothing may wait for a lost acknowledgement.
	eventually(t, 20*time.Second, "everything delivered after the restart", func() string {
		got := dropped(t, out)
		for id := range ids {
			if !got[id] {
				return fmt.Sprintf("%d of %d in the filedrop", len(got), len(ids))
			}
		}
		for id := range hook {
			if rcv.times(id) == 0 {
				return id + " not taken by the webhook receiver"
			}
		}
		return ""
	})
	t.Logf("all delivered %.1fs after the restart", time.Since(restarted).Seconds())

	if got := dropped(t, out); len(got) != n {
		t.Errorf("%d submission directories for %d submissions", len(got), n)
	}
	for id, i := range ids {
		if err := checkDrop(out, id, msgs[i], nil); err != nil {
			t.Error(err)
		}
	}
	if m, want := in.submissions(t), uint64(n+len(hook)+2); m != want { // and the box message and the dead letter
		t.Errorf("the submissions stream holds %d messages, want %d", m, want)
	}
	eventually(t, 10*time.Second, "statuses final", func() string {
		for id := range ids {
			st, err := getStatus(g.base, keyA, id)
			if err != nil {
				return err.Error()
			}
			if st.Status != "delivered" || st.count("delivered") != 1 {
				return fmt.Sprintf("%s: %s with %d delivered events", id, st.Status, st.count("delivered"))
			}
		}
		for id := range hook {
			st, err := getStatus(g.base, keyB, id)
			if err != nil {
				return err.Error()
			}
			if st.Status != "delivered" || st.count("delivery_failed") == 0 {
				return fmt.Sprintf("%s: %s after %d failed attempts", id, st.Status, st.count("delivery_failed"))
			}
		}
		return ""
	})
	for id := range hook {
		st, _ := getStatus(g.base, keyB, id)
		checkBackoff(t, id, st, 1500*time.Millisecond)
	}

	// The box still holds its message, byte for byte.
	if msg := boxLists(xtaAddr, reader, boxID); msg != "" {
		t.Errorf("after the restart: %s", msg)
	}
	env, err := xtaClient(xtaAddr, "fachverfahren-b").Fetch(t.Context(), reader, boxID)
	if err != nil {
		t.Fatalf("getMessage after the restart: %v", err)
	}
	if cc := env.Body.Container.ContentContainer; cc == nil || !bytes.Equal(cc.Message.Data, boxMsg) ||
		len(cc.Attachments) != 1 || !bytes.Equal(cc.Attachments[0].Data, boxAtt.Data) {
		t.Errorf("getMessage after the restart does not return the message and attachment sent")
	}

	// The dead letter is still listed and replays once the receiver takes it.
	dls, err := deadLetters(g.base, "poison")
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || dls[0] != poison {
		t.Fatalf("dead letters of poison after the restart: %v, want [%s]", dls, poison)
	}
	bad.reject(false)
	if code, err := adminCall(g.base, http.MethodPost, "/v1/admin/deadletters/"+poison+"/replay", nil); err != nil || code != http.StatusAccepted {
		t.Fatalf("replay: %d %v", code, err)
	}
	eventually(t, 10*time.Second, "the replayed dead letter delivered", func() string {
		if bad.times(poison) == 0 {
			return "not taken"
		}
		if st, err := getStatus(g.base, keyA, poison); err != nil || st.Status != "delivered" {
			return fmt.Sprintf("%v %v", st, err)
		}
		return ""
	})
	if !bytes.Equal(bad.body(poison), poisonMsg) || bad.times(poison) != 1 {
		t.Errorf("the replayed message: taken %d times, %d bytes, want once with the %d bytes sent", bad.times(poison), len(bad.body(poison)), len(poisonMsg))
	}
	if dls, _ := deadLetters(g.base, "poison"); len(dls) != 0 {
		t.Errorf("dead letters after the replay: %v", dls)
	}
}

// xtaSend sends msg with atts by sendMessage from the demo portal to reader.
func xtaSend(addr, id, reader string, msg []byte, atts ...xta.Content) error {
	m := &xta.MessageMetaData{}
	m.Originators.Author.Identifier = xta.PartyIdentifier{Value: "efa:demo-portal", Type: "xoev"}
	m.Destinations.Reader.Identifier = xta.PartyIdentifier{Value: reader, Type: "xoev"}
	m.MsgIdentification.MessageID = id
	m.Qualifier.Service = "urn:xoev-de:drehscheibe:service:bewohnerparken"
	m.Qualifier.BusinessScenario.Undefined = "Demo"
	m.Qualifier.MessageType.KeyCode = xta.KeyCode{ListURI: "urn:xoev-de:drehscheibe:codeliste:demo-nachrichten", ListVersionID: "1.0", Code: "0100"}
	m.Qualifier.MessageType.PayloadSchema = "urn:xoev-de:drehscheibe:standard:demo:1.0"
	content := xta.Content{ContentType: "application/xml", Encoding: "UTF-8", Filename: "antrag.xml", ID: "antrag", Data: msg}
	return xtaClient(addr, "portal").SendMessage(context.Background(), m, func(w *xta.Writer) { xta.WriteContainer(w, &content, atts) })
}

// boxLists returns "" if reader's box lists message id, else what it lists.
func boxLists(addr string, reader xta.PartyIdentifier, id string) string {
	list, err := xtaClient(addr, "fachverfahren-b").StatusList(context.Background(), reader, 10)
	if err != nil {
		return err.Error()
	}
	var got []string
	for _, m := range list {
		if got = append(got, m.MsgIdentification.MessageID); m.MsgIdentification.MessageID == id {
			return ""
		}
	}
	return fmt.Sprintf("the box lists %v, not %s", got, id)
}
