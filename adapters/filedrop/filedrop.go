// Package filedrop delivers submissions into a directory that a Fachverfahren
// polls. Each submission becomes one directory named by its submission id:
//
//	<dir>/<submission-id>/message.xml
//	<dir>/<submission-id>/attachments/001-<name>   (only if there are attachments)
//	<dir>/<submission-id>/manifest.json
//
// A submission directory appears atomically and complete: it is written under
// a name starting with "." and renamed into place after everything in it has
// been synced to disk. A poller that ignores names starting with "." never
// sees a half-written submission.
//
// Redelivering a submission id that is already in dir with the same message
// is a no-op, so each submission appears once however often the gateway
// retries. The layout and manifest are documented for vendors in
// docs/adapters-http-filedrop.md.
package filedrop

import (
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
	"runtime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/drehscheibe/drehscheibe/gateway/delivery"
)

// Type is the adapter type under which filedrop registers.
const Type = "filedrop"

// Names inside a submission directory.
const (
	MessageFile    = "message.xml"
	ManifestFile   = "manifest.json"
	AttachmentsDir = "attachments"
)

// tempPrefix starts the name of every directory under construction. Pollers
// must ignore names starting with ".".
const tempPrefix = ".tmp-"

// staleTempAge is how old a leftover temporary directory (from a crash) must
// be before New removes it. It is far longer than any write takes, so a
// temporary directory of another gateway replica sharing dir is never removed
// while in use.
const staleTempAge = time.Hour

// maxNameBytes bounds the sanitised part of an attachment's file name, leaving
// room for the index prefix within the usual 255 byte limit.
const maxNameBytes = 200

// ErrConflict is returned, marked permanent, when dir already holds the
// submission id with a different message.
var ErrConflict = errors.New("submission directory already exists with a different message")

// ErrInvalidSubmissionID is returned, marked permanent, when a submission id
// cannot be used as a directory name.
var ErrInvalidSubmissionID = errors.New("submission id cannot be used as a directory name")

// ErrSizeMismatch is returned when an attachment's content is not as long as
// its declared size; the gateway retries.
var ErrSizeMismatch = delivery.ErrSizeMismatch

var (
	_ delivery.Adapter = (*Adapter)(nil)
	_ delivery.Factory = factory
)

func init() {
	delivery.Register(Type, factory)
}

// Adapter writes submissions into a drop directory. It is safe for concurrent use.
type Adapter struct {
	name     string
	dir      string
	fileMode fs.FileMode
	dirMode  fs.FileMode
	now      func() time.Time
	// rename publishes a finished submission; tests replace it to inject failures.
	rename func(oldpath, newpath string) error
}

func factory(name string, decode func(v any) error) (delivery.Adapter, error) {
	var o Options
	if err := decode(&o); err != nil {
		return nil, fmt.Errorf("filedrop %q: options: %w", name, err)
	}
	return New(name, o)
}

// New returns a filedrop adapter for the target called name. It creates
// o.Dir if it is missing, checks that the gateway can write there, and removes
// temporary directories left behind by a crash more than an hour ago.
func New(name string, o Options) (*Adapter, error) {
	o = o.withDefaults()
	if err := o.check(); err != nil {
		return nil, fmt.Errorf("filedrop %q: %w", name, err)
	}
	dir, err := filepath.Abs(filepath.Clean(o.Dir))
	if err != nil {
		return nil, fmt.Errorf("filedrop %q: option dir %q: %w", name, o.Dir, err)
	}
	a := &Adapter{
		name:     name,
		dir:      dir,
		fileMode: fs.FileMode(o.FileMode),
		dirMode:  fs.FileMode(o.DirMode),
		now:      time.Now,
		rename:   os.Rename,
	}
	if err := a.prepareDir(); err != nil {
		return nil, fmt.Errorf("filedrop %q: option dir %s: %w", name, dir, err)
	}
	a.removeStaleTemps()
	return a, nil
}

// Dir returns the absolute drop directory.
func (a *Adapter) Dir() string { return a.dir }

// prepareDir creates the drop directory if needed and proves it is writable
// by creating and removing a file in it.
func (a *Adapter) prepareDir() error {
	fi, err := os.Stat(a.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(a.dir, a.dirMode); err != nil {
			return fmt.Errorf("cannot create it: %w", err)
		}
		if err := os.Chmod(a.dir, a.dirMode); err != nil {
			return fmt.Errorf("cannot set its mode: %w", err)
		}
	case err != nil:
		return err
	case !fi.IsDir():
		return errors.New("is not a directory")
	}
	probe, err := os.CreateTemp(a.dir, tempPrefix+"probe-")
	if err != nil {
		return fmt.Errorf("is not writable by the gateway (user id %d): %w", os.Geteuid(), err)
	}
	_, werr := probe.Write([]byte("probe"))
	cerr := probe.Close()
	rerr := os.Remove(probe.Name())
	if err := errors.Join(werr, cerr, rerr); err != nil {
		return fmt.Errorf("is not writable by the gateway: %w", err)
	}
	return nil
}

func (a *Adapter) removeStaleTemps() {
	entries, err := os.ReadDir(a.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		info, err := e.Info()
		if err != nil || a.now().Sub(info.ModTime()) < staleTempAge {
			continue
		}
		_ = os.RemoveAll(filepath.Join(a.dir, e.Name()))
	}
}

// Close releases nothing; filedrop holds no resources between deliveries.
func (a *Adapter) Close() error { return nil }

// Deliver writes d into <dir>/<submission-id>/ atomically. If that directory
// exists already with the same message, Deliver returns nil without writing;
// with a different message it returns a permanent ErrConflict. I/O errors
// such as a full disk or a missing permission are returned unmarked, so the
// gateway retries.
func (a *Adapter) Deliver(ctx context.Context, d *delivery.Delivery) error {
	if err := checkSubmissionID(d.SubmissionID); err != nil {
		return delivery.Permanent(fmt.Errorf("filedrop %q: submission %q: %w", a.name, d.SubmissionID, err))
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("filedrop %q: submission %s: %w", a.name, d.SubmissionID, err)
	}
	final := filepath.Join(a.dir, d.SubmissionID)
	msgSHA := d.Message.SHA256

	done, err := a.existing(final, msgSHA, d.Message.Size)
	if err != nil || done {
		return a.wrap(d, err)
	}
	tmp, err := os.MkdirTemp(a.dir, tempPrefix+d.SubmissionID+"-")
	if err != nil {
		return a.wrap(d, fmt.Errorf("create temporary directory: %w", err))
	}
	published := false
	defer func() {
		if !published {
			_ = os.RemoveAll(tmp)
		}
	}()
	if err := a.write(ctx, tmp, d, msgSHA); err != nil {
		return a.wrap(d, err)
	}
	if err := ctx.Err(); err != nil {
		return a.wrap(d, err)
	}
	if err := a.rename(tmp, final); err != nil {
		// Another replica, or an earlier attempt whose acknowledgement was
		// lost, may have published the same submission in the meantime.
		if done, eerr := a.existing(final, msgSHA, d.Message.Size); done || eerr != nil {
			return a.wrap(d, eerr)
		}
		return a.wrap(d, fmt.Errorf("publish submission directory: %w", err))
	}
	published = true
	if err := syncDir(a.dir); err != nil {
		// The directory is visible but may not survive a power failure. A
		// retry finds it in place and returns nil once the sync succeeds.
		return a.wrap(d, fmt.Errorf("sync drop directory: %w", err))
	}
	return nil
}

func (a *Adapter) wrap(d *delivery.Delivery, err error) error {
	if err == nil {
		return nil
	}
	if delivery.IsPermanent(err) {
		return delivery.Permanent(fmt.Errorf("filedrop %q: submission %s: %w", a.name, d.SubmissionID, errors.Unwrap(err)))
	}
	return fmt.Errorf("filedrop %q: submission %s: %w", a.name, d.SubmissionID, err)
}

// existing reports whether final holds this submission already. It returns a
// permanent ErrConflict if final holds something else.
func (a *Adapter) existing(final, msgSHA string, size int64) (bool, error) {
	fi, err := os.Stat(final)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check for an earlier delivery: %w", err)
	}
	if !fi.IsDir() {
		return false, delivery.Permanent(fmt.Errorf("%w: %s is not a directory", ErrConflict, final))
	}
	raw, err := os.ReadFile(filepath.Join(final, ManifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		return false, delivery.Permanent(fmt.Errorf("%w: %s holds no %s", ErrConflict, final, ManifestFile))
	}
	if err != nil {
		return false, fmt.Errorf("read manifest of an earlier delivery: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return false, delivery.Permanent(fmt.Errorf("%w: %s: unreadable manifest: %v", ErrConflict, final, err))
	}
	if m.Message.SHA256 != msgSHA || m.Message.Size != size {
		return false, delivery.Permanent(fmt.Errorf("%w: %s holds message sha256 %s, this delivery has %s",
			ErrConflict, final, m.Message.SHA256, msgSHA))
	}
	return true, nil
}

// write fills tmp with the message, the attachments and the manifest, each
// synced, and finally syncs tmp itself.
func (a *Adapter) write(ctx context.Context, tmp string, d *delivery.Delivery, msgSHA string) error {
	if err := os.Chmod(tmp, a.dirMode); err != nil {
		return fmt.Errorf("set mode of temporary directory: %w", err)
	}
	m := Manifest{
		ManifestVersion: ManifestVersion,
		SubmissionID:    d.SubmissionID,
		Target:          d.Target,
		Standard:        d.Standard,
		Version:         d.Version,
		Namespace:       d.Namespace,
		MessageType:     d.MessageType,
		Author:          d.Author,
		Reader:          d.Reader,
		NachrichtenUUID: d.NachrichtenUUID,
		Service:         d.Service,
		Sender:          d.Sender,
		Test:            d.Test,
		ReceivedAt:      d.ReceivedAt.UTC(),
		Attempt:         d.Attempt,
		Message:         FileEntry{Path: MessageFile, Size: d.Message.Size, SHA256: msgSHA},
		Attachments:     make([]AttachmentEntry, 0, len(d.Attachments)),
	}
	// The message is streamed, never held whole in memory; its reader fails
	// rather than ending if the bytes do not match the manifest's size and
	// digest.
	if err := a.writeFile(filepath.Join(tmp, MessageFile), func(w io.Writer) error {
		rc, err := d.Message.Open(ctx)
		if err != nil {
			return fmt.Errorf("open: %w", err)
		}
		defer rc.Close()
		_, err = io.Copy(w, ctxReader{ctx, rc})
		return err
	}); err != nil {
		return fmt.Errorf("write %s: %w", MessageFile, err)
	}
	if len(d.Attachments) > 0 {
		attDir := filepath.Join(tmp, AttachmentsDir)
		if err := a.mkdir(attDir); err != nil {
			return err
		}
		for i, att := range d.Attachments {
			if err := ctx.Err(); err != nil {
				return err
			}
			e, err := a.writeAttachment(ctx, attDir, i, att)
			if err != nil {
				// The name stays out of the error: it may hold personal data.
				return fmt.Errorf("attachment %d: %w", i+1, err)
			}
			m.Attachments = append(m.Attachments, e)
		}
		if err := syncDir(attDir); err != nil {
			return fmt.Errorf("sync %s: %w", AttachmentsDir, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.DeliveredAt = a.now().UTC()
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	raw = append(raw, '\n')
	if err := a.writeFile(filepath.Join(tmp, ManifestFile), func(w io.Writer) error {
		_, err := w.Write(raw)
		return err
	}); err != nil {
		return fmt.Errorf("write %s: %w", ManifestFile, err)
	}
	if err := syncDir(tmp); err != nil {
		return fmt.Errorf("sync temporary directory: %w", err)
	}
	return nil
}

func (a *Adapter) writeAttachment(ctx context.Context, attDir string, i int, att delivery.Attachment) (AttachmentEntry, error) {
	name := fmt.Sprintf("%03d-%s", i+1, SanitiseName(att.Name))
	h := sha256.New()
	var n int64
	err := a.writeFile(filepath.Join(attDir, name), func(w io.Writer) error {
		rc, err := att.Open(ctx)
		if err != nil {
			return fmt.Errorf("open: %w", err)
		}
		defer rc.Close()
		n, err = io.Copy(io.MultiWriter(w, h), ctxReader{ctx, rc})
		if err != nil {
			return err
		}
		if n != att.Size {
			return fmt.Errorf("%w: read %d bytes, declared %d", ErrSizeMismatch, n, att.Size)
		}
		return nil
	})
	if err != nil {
		return AttachmentEntry{}, err
	}
	ct := att.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	return AttachmentEntry{
		Index:       i + 1,
		Name:        att.Name,
		ContentType: ct,
		Path:        AttachmentsDir + "/" + name,
		Size:        n,
		SHA256:      hex.EncodeToString(h.Sum(nil)),
	}, nil
}

// writeFile creates path with the configured mode, lets fill write it, and
// syncs it to disk before closing.
func (a *Adapter) writeFile(path string, fill func(io.Writer) error) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, a.fileMode)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	// Chmod explicitly so the umask does not narrow the configured mode.
	if err := f.Chmod(a.fileMode); err != nil {
		return err
	}
	if err := fill(f); err != nil {
		return err
	}
	return f.Sync()
}

func (a *Adapter) mkdir(path string) error {
	if err := os.Mkdir(path, a.dirMode); err != nil {
		return err
	}
	return os.Chmod(path, a.dirMode)
}

// syncDir makes the entries of dir durable. Windows cannot sync a directory;
// there the rename itself is all we can do.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	return errors.Join(err, f.Close())
}

// checkSubmissionID rejects ids that are not a single, visible path element.
func checkSubmissionID(id string) error {
	switch {
	case id == "":
		return errors.New("submission id is empty")
	case strings.HasPrefix(id, "."):
		return fmt.Errorf("%w: it starts with a dot", ErrInvalidSubmissionID)
	case len(id) > maxNameBytes:
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidSubmissionID, maxNameBytes)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidSubmissionID)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(`/\:*?"<>|`, r) {
			return fmt.Errorf("%w: it contains %q", ErrInvalidSubmissionID, r)
		}
	}
	return nil
}

// SanitiseName makes an attachment name safe as a file name on Linux and on
// SMB/Windows shares: path separators, characters Windows reserves and
// control characters become "_", trailing dots and spaces are dropped and the
// name is cut to at most 200 bytes, keeping its extension. The manifest keeps
// the original name.
func SanitiseName(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f || strings.ContainsRune(`/\:*?"<>|`, r) {
			b.WriteByte('_')
			continue
		}
		b.WriteRune(r)
	}
	s := strings.TrimRight(strings.TrimSpace(b.String()), ". ")
	if s == "" {
		return "attachment"
	}
	if len(s) <= maxNameBytes {
		return s
	}
	ext := filepath.Ext(s)
	if len(ext) > 20 {
		ext = ""
	}
	stem := s[:maxNameBytes-len(ext)]
	for !utf8.ValidString(stem) {
		stem = stem[:len(stem)-1]
	}
	return stem + ext
}

// ctxReader stops a copy as soon as ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
