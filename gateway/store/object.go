package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/nats-io/nats.go/jetstream"
)

// The object store's layout (NATS ADR-20): the chunks of an object are the
// messages on $O.<bucket>.C.<nuid> of stream OBJ_<bucket>, and its digest
// is "SHA-256=" and the URL-safe base64 of the SHA-256 of its content.
const (
	payloadStream = "OBJ_" + PayloadBucket
	digestPrefix  = "SHA-256="
)

// chunkReader reads an object chunk by chunk with direct gets: one chunk
// (128 KiB) in memory at a time, however large the object and however slow
// the reader. (The object store's own Get pushes chunks ahead into the
// client, up to 32 MiB of them when the reader is slower than JetStream.)
type chunkReader struct {
	ctx     context.Context
	stream  jetstream.Stream
	subject string
	seq     uint64
	left    int64 // bytes still to come
	buf     []byte
	digest  hash.Hash
	want    string
	err     error
}

// openChunks opens object name for reading.
func (s *Store) openChunks(ctx context.Context, name string) (io.ReadCloser, error) {
	info, err := s.payloads.GetInfo(ctx, name)
	if err != nil {
		return nil, err
	}
	return &chunkReader{
		ctx: ctx, stream: s.payloadsStream, subject: "$O." + PayloadBucket + ".C." + info.NUID,
		seq: 1, left: int64(info.Size), digest: sha256.New(), want: info.Digest,
	}, nil
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.left <= 0 {
			r.err = io.EOF
			if got := digestPrefix + base64.URLEncoding.EncodeToString(r.digest.Sum(nil)); got != r.want {
				r.err = fmt.Errorf("object %s: digest %s, want %s", r.subject, got, r.want)
			}
			continue
		}
		m, err := r.stream.GetMsg(r.ctx, r.seq, jetstream.WithGetMsgSubject(r.subject))
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			r.err = fmt.Errorf("object %s: %d bytes missing", r.subject, r.left)
			continue
		case err != nil:
			r.err = fmt.Errorf("%w: read object: %v", ErrUnavailable, err)
			continue
		}
		r.seq = m.Sequence + 1
		r.left -= int64(len(m.Data))
		r.digest.Write(m.Data)
		r.buf = m.Data
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// Close releases nothing: every chunk was a request of its own.
func (r *chunkReader) Close() error { return nil }

var _ io.ReadCloser = (*chunkReader)(nil)

// readAll reads a whole object into memory (for the message itself, which
// the caller needs as bytes).
func (s *Store) readAll(ctx context.Context, name string, size int) ([]byte, error) {
	rc, err := s.openChunks(ctx, name)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(size + bytes.MinRead)
	_, err = b.ReadFrom(rc)
	return b.Bytes(), err
}
