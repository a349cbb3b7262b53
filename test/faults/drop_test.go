package faults

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/drehscheibe/drehscheibe/adapters/filedrop"
	"github.com/drehscheibe/drehscheibe/gateway/dispatch"
	"github.com/drehscheibe/drehscheibe/gateway/store"
)

// dropped lists the submission directories of a filedrop directory, by
// submission id, ignoring names that start with "." as a poller must.
func dropped(t *testing.T, dir string) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			out[e.Name()] = true
		}
	}
	return out
}

// checkDropped waits up to wait (what names the wait in its failure) until
// dir holds n submission directories, then checks that it holds exactly n,
// each of a known submission (owner: id → index) with its message msgs[i]
// and attachments atts[i] (atts nil: none). It returns the ids it found.
func checkDropped(t *testing.T, dir string, n int, wait time.Duration, what string, owner map[string]int, msgs [][]byte, atts [][]attachment) map[string]bool {
	t.Helper()
	eventually(t, wait, what, func() string {
		if got := dropped(t, dir); len(got) < n {
			return fmt.Sprintf("%d of %d delivered", len(got), n)
		}
		return ""
	})
	got := dropped(t, dir)
	if len(got) != n {
		t.Errorf("%d submission directories, want %d", len(got), n)
	}
	for id := range got {
		i, ok := owner[id]
		if !ok {
			t.Errorf("directory %s belongs to no submission", id)
			continue
		}
		var a []attachment
		if atts != nil {
			a = atts[i]
		}
		if err := checkDrop(dir, id, msgs[i], a); err != nil {
			t.Error(err)
		}
	}
	return got
}

// tempsLeft counts the temporary directories a crash left in dir.
func tempsLeft(dir string) int {
	entries, _ := os.ReadDir(dir)
	n := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			n++
		}
	}
	return n
}

// checkDrop verifies the submission directory of id: the manifest names id,
// message.xml is exactly msg, and the attachments are exactly atts.
func checkDrop(dir, id string, msg []byte, atts []attachment) error {
	sub := filepath.Join(dir, id)
	raw, err := os.ReadFile(filepath.Join(sub, filedrop.ManifestFile))
	if err != nil {
		return err
	}
	var m filedrop.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("%s: manifest: %v", id, err)
	}
	if m.SubmissionID != id {
		return fmt.Errorf("%s: manifest names %s", id, m.SubmissionID)
	}
	if err := sameFile(filepath.Join(sub, filedrop.MessageFile), msg); err != nil {
		return fmt.Errorf("%s: %v", id, err)
	}
	if len(m.Attachments) != len(atts) {
		return fmt.Errorf("%s: %d attachments, want %d", id, len(m.Attachments), len(atts))
	}
	for i, a := range m.Attachments {
		if err := sameFile(filepath.Join(sub, filepath.FromSlash(a.Path)), atts[i].data); err != nil {
			return fmt.Errorf("%s: attachment %d: %v", id, i+1, err)
		}
	}
	return nil
}

// sameFile compares a file with want without holding both in memory twice.
func sameFile(path string, want []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(want)
	if n != int64(len(want)) || !bytes.Equal(h.Sum(nil), sum[:]) {
		return fmt.Errorf("%s: %d bytes sha256 %s, want %d bytes sha256 %s",
			filepath.Base(path), n, hex.EncodeToString(h.Sum(nil)), len(want), hex.EncodeToString(sum[:]))
	}
	return nil
}

// inspector looks into the gateway's JetStream from outside, as an operator
// with the nats CLI would.
type inspector struct {
	nc *nats.Conn
	js jetstream.JetStream
}

func inspect(t *testing.T, url string, opts ...nats.Option) *inspector {
	t.Helper()
	nc, err := nats.Connect(url, append(opts, nats.MaxReconnects(-1))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &inspector{nc: nc, js: js}
}

// submissions is the number of messages in the submissions stream.
func (in *inspector) submissions(t *testing.T) uint64 {
	t.Helper()
	return in.submissionsInfo(t).State.Msgs
}

// submissionsInfo is the current state of the submissions stream.
func (in *inspector) submissionsInfo(t *testing.T) *jetstream.StreamInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := in.js.Stream(ctx, store.SubmissionsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// waitDrained waits until the consumer of target has nothing left to
// deliver or acknowledge.
func (in *inspector) waitDrained(t *testing.T, target string) {
	t.Helper()
	eventually(t, 30*time.Second, "consumer backlog drained", func() string {
		b, err := in.backlog(target)
		if err != nil || b != 0 {
			return fmt.Sprintf("backlog %d, %v", b, err)
		}
		return ""
	})
}

// backlog is what target's consumer still has to deliver: pending plus
// delivered but not acknowledged.
func (in *inspector) backlog(target string) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := in.js.Consumer(ctx, store.SubmissionsStream, dispatch.ConsumerName(target))
	if err != nil {
		return 0, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.NumPending + uint64(info.NumAckPending), nil
}

// objects is the number of objects in the payload bucket.
func (in *inspector) objects(t *testing.T) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bucket, err := in.js.ObjectStore(ctx, store.PayloadBucket)
	if err != nil {
		t.Fatal(err)
	}
	list, err := bucket.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}
