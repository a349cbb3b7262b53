package filedrop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/drehscheibe/drehscheibe/adapters/adaptertest"
	"github.com/drehscheibe/drehscheibe/gateway/delivery"
)

func TestConformance(t *testing.T) {
	adaptertest.Run(t, adaptertest.Suite{
		Features: adaptertest.Features{ExactlyOnce: true},
		New: func(t *testing.T) adaptertest.Harness {
			a := newAdapter(t, t.TempDir())
			return adaptertest.Harness{
				Adapter:  a,
				Received: func(t *testing.T) []adaptertest.ReceivedMessage { return readDrop(t, a.Dir()) },
			}
		},
	})
}

func newAdapter(t *testing.T, dir string) *Adapter {
	t.Helper()
	a, err := New("test", Options{Dir: dir})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// readDrop reads dir the way a Fachverfahren polls it: it skips names that
// start with "." and takes the rest as complete submissions. It fails t for a
// visible submission that is incomplete or does not match its manifest.
func readDrop(t *testing.T, dir string) []adaptertest.ReceivedMessage {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read drop dir: %v", err)
	}
	var out []adaptertest.ReceivedMessage
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		sub := filepath.Join(dir, e.Name())
		m, err := readManifest(sub)
		if err != nil {
			t.Errorf("visible submission %s: %v", e.Name(), err)
			continue
		}
		if m.SubmissionID != e.Name() {
			t.Errorf("submission dir %s holds manifest for %q", e.Name(), m.SubmissionID)
		}
		msg, err := readChecked(sub, m.Message)
		if err != nil {
			t.Errorf("submission %s: %v", e.Name(), err)
			continue
		}
		r := adaptertest.ReceivedMessage{
			SubmissionID: m.SubmissionID,
			MessageType:  m.MessageType,
			Namespace:    m.Namespace,
			Reader:       m.Reader,
			Author:       m.Author,
			Test:         m.Test,
			Attempt:      m.Attempt,
			Message:      msg,
		}
		for _, a := range m.Attachments {
			content, err := readChecked(sub, FileEntry{Path: a.Path, Size: a.Size, SHA256: a.SHA256})
			if err != nil {
				t.Errorf("submission %s: attachment %d: %v", e.Name(), a.Index, err)
				continue
			}
			r.Attachments = append(r.Attachments, adaptertest.ReceivedAttachment{Name: a.Name, ContentType: a.ContentType, Content: content})
		}
		out = append(out, r)
	}
	return out
}

func readManifest(sub string) (Manifest, error) {
	var m Manifest
	raw, err := os.ReadFile(filepath.Join(sub, ManifestFile))
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(raw, &m)
}

func readChecked(sub string, f FileEntry) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(sub, filepath.FromSlash(f.Path)))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	if int64(len(b)) != f.Size || hex.EncodeToString(sum[:]) != f.SHA256 {
		return nil, fmt.Errorf("%s: %d bytes, sha256 %x; manifest says %d bytes, %s", f.Path, len(b), sum, f.Size, f.SHA256)
	}
	return b, nil
}

// assertClean fails t unless dir holds exactly the visible entries want and
// no temporary directory.
func assertClean(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("drop dir holds %q, want %q", got, want)
	}
}

func TestLayoutAndManifest(t *testing.T) {
	dir := t.TempDir()
	a := newAdapter(t, dir)
	fixed := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	a.now = func() time.Time { return fixed }
	d := adaptertest.NewDelivery("01JH7Q3V8M2K", adaptertest.SampleMessage("Layout"),
		adaptertest.BytesAttachment("Lageplan.pdf", "application/pdf", []byte("%PDF-1.7")),
		adaptertest.BytesAttachment(`..\..\boot.ini`, "", []byte("x")),
	)
	d.Attempt = 2
	if err := a.Deliver(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, d.SubmissionID)
	for _, p := range []string{"message.xml", "manifest.json", "attachments/001-Lageplan.pdf", "attachments/002-.._.._boot.ini"} {
		if _, err := os.Stat(filepath.Join(sub, p)); err != nil {
			t.Errorf("missing %s: %v", p, err)
		}
	}
	m, err := readManifest(sub)
	if err != nil {
		t.Fatal(err)
	}

	want := Manifest{
		ManifestVersion: 1, SubmissionID: d.SubmissionID, Target: d.Target,
		Standard: "XBau", Version: "2.6", Namespace: d.Namespace, MessageType: d.MessageType,
		Author: d.Author, Reader: d.Reader, NachrichtenUUID: d.NachrichtenUUID, Service: d.Service, Sender: d.Sender,
		ReceivedAt: d.ReceivedAt, DeliveredAt: fixed, Attempt: 2,
		Message: FileEntry{Path: "message.xml", Size: d.Message.Size, SHA256: d.Message.SHA256},
	}
	gotAtts := m.Attachments
	m.Attachments = nil
	if fmt.Sprintf("%+v", m) != fmt.Sprintf("%+v", want) {
		t.Errorf("manifest:\n got %+v\nwant %+v", m, want)
	}
	if len(gotAtts) != 2 {
		t.Fatalf("manifest lists %d attachments, want 2", len(gotAtts))
	}
	second := gotAtts[1]
	if second.Index != 2 || second.Name != `..\..\boot.ini` || second.ContentType != "application/octet-stream" ||
		second.Path != "attachments/002-.._.._boot.ini" || second.Size != 1 {
		t.Errorf("second attachment entry = %+v", second)
	}
	// Readers in other languages rely on the key names; pin them.
	raw, _ := os.ReadFile(filepath.Join(sub, ManifestFile))
	for _, key := range []string{`"manifest_version": 1`, `"nachrichten_uuid"`, `"message_type"`, `"received_at": "2026-01-15T09:30:00Z"`, `"content_type"`, `"sha256"`} {
		if !bytes.Contains(raw, []byte(key)) {
			t.Errorf("manifest.json lacks %s:\n%s", key, raw)
		}
	}
}

func TestModesAreExactDespiteUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "new", "drop")
	a, err := New("test", Options{Dir: dir, FileMode: 0o660, DirMode: 0o770})
	if err != nil {
		t.Fatal(err)
	}
	d := adaptertest.NewDelivery("modes", []byte("<a/>"), adaptertest.BytesAttachment("x", "text/plain", []byte("x")))
	if err := a.Deliver(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]fs.FileMode{
		dir:                                           0o770,
		filepath.Join(dir, "modes"):                   0o770,
		filepath.Join(dir, "modes/attachments"):       0o770,
		filepath.Join(dir, "modes/message.xml"):       0o660,
		filepath.Join(dir, "modes/manifest.json"):     0o660,
		filepath.Join(dir, "modes/attachments/001-x"): 0o660,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", path, fi.Mode().Perm(), want)
		}
	}
}

func TestRedeliveryDoesNotRewrite(t *testing.T) {
	dir := t.TempDir()
	a := newAdapter(t, dir)
	d := adaptertest.NewDelivery("once", []byte("<a/>"))
	if err := a.Deliver(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(dir, "once", ManifestFile)
	before, _ := os.ReadFile(manifest)
	a.now = func() time.Time { return time.Now().Add(time.Hour) }
	d.Attempt = 2
	if err := a.Deliver(t.Context(), d); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	after, _ := os.ReadFile(manifest)
	if !bytes.Equal(before, after) {
		t.Error("redelivery rewrote the manifest")
	}
	assertClean(t, dir, "once")
}

func TestConflictingRedeliveryIsPermanent(t *testing.T) {
	dir := t.TempDir()
	a := newAdapter(t, dir)
	if err := a.Deliver(t.Context(), adaptertest.NewDelivery("dup", []byte("<a>1</a>"))); err != nil {
		t.Fatal(err)
	}
	err := a.Deliver(t.Context(), adaptertest.NewDelivery("dup", []byte("<a>2</a>")))
	if !delivery.IsPermanent(err) || !errors.Is(err, ErrConflict) {
		t.Fatalf("Deliver of a different message under an existing id = %v, want permanent ErrConflict", err)
	}
	// A directory the Fachverfahren emptied, or a stray file, is a conflict too.
	if err := os.Mkdir(filepath.Join(dir, "stray"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o640); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"stray", "file"} {
		err := a.Deliver(t.Context(), adaptertest.NewDelivery(id, []byte("<a/>")))
		if !delivery.IsPermanent(err) || !errors.Is(err, ErrConflict) {
			t.Errorf("Deliver onto existing %s = %v, want permanent ErrConflict", id, err)
		}
	}
	assertClean(t, dir, "dup", "file", "stray")
}

func TestInvalidSubmissionIDIsPermanent(t *testing.T) {
	dir := t.TempDir()
	a := newAdapter(t, dir)
	for _, id := range []string{"", ".", "..", ".hidden", "a/b", `a\b`, "../escape", "nul\x00", strings.Repeat("x", 201)} {
		err := a.Deliver(t.Context(), adaptertest.NewDelivery(id, []byte("<a/>")))
		if !delivery.IsPermanent(err) {
			t.Errorf("Deliver with submission id %q = %v, want a permanent error", id, err)
		}
	}
	assertClean(t, dir)
}

func TestFailureMidwayLeavesNothing(t *testing.T) {
	boom := errors.New("object store unavailable")
	tests := map[string]*delivery.Delivery{
		"attachment open fails": adaptertest.NewDelivery("s1", []byte("<a/>"),
			adaptertest.BytesAttachment("ok.txt", "text/plain", []byte("fine")),
			adaptertest.FailingAttachment("broken.pdf", 10, boom)),
		"attachment shorter than declared": adaptertest.NewDelivery("s2", []byte("<a/>"), func() delivery.Attachment {
			a := adaptertest.BytesAttachment("short.pdf", "application/pdf", []byte("12345"))
			a.Size = 6
			return a
		}()),
		"attachment read fails": adaptertest.NewDelivery("s3", []byte("<a/>"), delivery.Attachment{
			Name: "r.bin", Size: 100,
			Open: func(context.Context) (io.ReadCloser, error) {
				return io.NopCloser(io.MultiReader(strings.NewReader("partial"), iotestErr{boom})), nil
			},
		}),
	}
	for name, d := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			a := newAdapter(t, dir)
			err := a.Deliver(t.Context(), d)
			if err == nil {
				t.Fatal("Deliver succeeded, want an error")
			}
			if delivery.IsPermanent(err) {
				t.Errorf("error %v is permanent, want transient so the gateway retries", err)
			}
			if strings.Contains(err.Error(), "broken.pdf") || strings.Contains(err.Error(), "short.pdf") {
				t.Errorf("error %q names the attachment; names may hold personal data", err)
			}
			assertClean(t, dir)
		})
	}
}

func TestRenameFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	a := newAdapter(t, dir)
	a.rename = func(string, string) error { return syscall.ENOSPC }
	err := a.Deliver(t.Context(), adaptertest.NewDelivery("s", []byte("<a/>")))
	if !errors.Is(err, syscall.ENOSPC) || delivery.IsPermanent(err) {
		t.Fatalf("Deliver = %v, want transient ENOSPC", err)
	}
	assertClean(t, dir)
	a.rename = os.Rename
	if err := a.Deliver(t.Context(), adaptertest.NewDelivery("s", []byte("<a/>"))); err != nil {
		t.Fatalf("retry: %v", err)
	}
	assertClean(t, dir, "s")
}

func TestReadOnlyDirIsTransient(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	dir := t.TempDir()
	a := newAdapter(t, dir)
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o755)
	err := a.Deliver(t.Context(), adaptertest.NewDelivery("s", []byte("<a/>")))
	if err == nil || delivery.IsPermanent(err) || !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Deliver into a read-only dir = %v, want a transient permission error", err)
	}
	assertClean(t, dir)
}

// TestPollerNeverSeesPartialSubmission polls the drop dir the way a
// Fachverfahren would while submissions with large attachments are written.
func TestPollerNeverSeesPartialSubmission(t *testing.T) {
	dir := t.TempDir()
	a := newAdapter(t, dir)
	stop := make(chan struct{})
	var polls atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			readDrop(t, dir) // fails t on any incomplete visible submission
			polls.Add(1)
		}
	})
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10)
	for i := range 20 {
		d := adaptertest.NewDelivery(fmt.Sprintf("poll-%02d", i), adaptertest.SampleMessage("poll"),
			adaptertest.BytesAttachment("a.bin", "application/octet-stream", big),
			adaptertest.BytesAttachment("b.bin", "application/octet-stream", big))
		if err := a.Deliver(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if polls.Load() == 0 {
		t.Fatal("the poller never ran")
	}
	if got := len(readDrop(t, dir)); got != 20 {
		t.Fatalf("%d submissions visible, want 20", got)
	}
}

func TestConcurrentSameSubmission(t *testing.T) {
	dir := t.TempDir()
	a := newAdapter(t, dir)
	d := adaptertest.NewDelivery("same", adaptertest.SampleMessage("race"),
		adaptertest.BytesAttachment("a.txt", "text/plain", []byte("a")))
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = a.Deliver(t.Context(), d) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("Deliver: %v", err)
		}
	}
	assertClean(t, dir, "same")
}

func TestNewRemovesOnlyStaleTemps(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{".tmp-old-1", ".tmp-new-2", ".keep"} {
		if err := os.Mkdir(filepath.Join(dir, n), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(filepath.Join(dir, ".tmp-old-1"), old, old); err != nil {
		t.Fatal(err)
	}
	newAdapter(t, dir)
	assertClean(t, dir, ".keep", ".tmp-new-2")
}

func TestOptions(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		yaml    string
		wantErr string
		check   func(*testing.T, *Adapter)
	}{
		{name: "defaults", yaml: "dir: " + base + "/a", check: func(t *testing.T, a *Adapter) {
			if a.fileMode != 0o640 || a.dirMode != 0o750 {
				t.Errorf("modes = %04o/%04o, want 0640/0750", a.fileMode, a.dirMode)
			}
		}},
		{name: "octal number", yaml: "dir: " + base + "/b\nfile_mode: 0600\ndir_mode: 0700", check: func(t *testing.T, a *Adapter) {
			if a.fileMode != 0o600 || a.dirMode != 0o700 {
				t.Errorf("modes = %04o/%04o, want 0600/0700", a.fileMode, a.dirMode)
			}
		}},
		{name: "octal strings", yaml: "dir: " + base + "/c\nfile_mode: \"0o660\"\ndir_mode: \"770\"", check: func(t *testing.T, a *Adapter) {
			if a.fileMode != 0o660 || a.dirMode != 0o770 {
				t.Errorf("modes = %04o/%04o, want 0660/0770", a.fileMode, a.dirMode)
			}
		}},
		{name: "unknown key", yaml: "dir: " + base + "\nfilemode: 0640", wantErr: "filemode"},
		{name: "dir missing", yaml: "file_mode: 0640", wantErr: "option dir is required"},
		{name: "mode not octal", yaml: "dir: " + base + "\nfile_mode: 0689", wantErr: "invalid permission"},
		{name: "mode too large", yaml: "dir: " + base + "\nfile_mode: 04755", wantErr: "invalid permission"},
		{name: "owner cannot write", yaml: "dir: " + base + "\nfile_mode: 0440", wantErr: "option file_mode 0440"},
		{name: "owner cannot search", yaml: "dir: " + base + "\ndir_mode: 0640", wantErr: "option dir_mode 0640"},
		{name: "dir is a file", yaml: "dir: " + file, wantErr: "is not a directory"},
		{name: "dir below a file", yaml: "dir: " + file + "/sub", wantErr: "not a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, ok := delivery.Lookup(Type)
			if !ok {
				t.Fatal("filedrop is not registered")
			}
			ad, err := f("drop", adaptertest.DecodeYAML(tc.yaml))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), `filedrop "drop"`) {
					t.Errorf("error %q does not name the target", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, ad.(*Adapter))
		})
	}
}

func TestNotWritableDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o755)
	_, err := New("drop", Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "is not writable") {
		t.Fatalf("New on a read-only dir = %v, want a 'not writable' error", err)
	}
}

func TestSanitiseName(t *testing.T) {
	for in, want := range map[string]string{
		"Lageplan.pdf":                    "Lageplan.pdf",
		"Bauantrag Übersicht.txt":         "Bauantrag Übersicht.txt",
		"a/b\\c:d*e?f\"g<h>i|j":           "a_b_c_d_e_f_g_h_i_j",
		"tab\there\n":                     "tab_here_",
		"  .. ":                           "attachment",
		"":                                "attachment",
		"name. . ":                        "name",
		"bad\xffutf8":                     "bad_utf8",
		strings.Repeat("ä", 150) + ".pdf": strings.Repeat("ä", 98) + ".pdf",
	} {
		if got := SanitiseName(in); got != want {
			t.Errorf("SanitiseName(%q) = %q, want %q", in, got, want)
		}
	}
}

type iotestErr struct{ err error }

func (e iotestErr) Read([]byte) (int, error) { return 0, e.err }
