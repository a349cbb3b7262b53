package delivery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// ErrContentMismatch is returned by a Content reader whose bytes do not
// match the declared size and SHA-256. The gateway retries the delivery.
var ErrContentMismatch = errors.New("content does not match its size and SHA-256")

// ErrSizeMismatch is what an adapter returns when an attachment's content is
// not as long as its declared Size; the gateway retries the delivery.
var ErrSizeMismatch = errors.New("attachment content does not match its declared size")

// Content is a message as the gateway stored it. A message can be tens of
// megabytes: adapters stream it with Open rather than holding it in memory.
type Content struct {
	// Size is the exact length in bytes.
	Size int64
	// SHA256 is the lower-case hex SHA-256 of the content.
	SHA256 string
	// Open returns the content from its start; each call returns a fresh
	// reader. A reader of a Content made by NewContent or BytesContent
	// fails with ErrContentMismatch instead of ending when what it read does
	// not match Size and SHA256, so a copy that ends without error is exact.
	Open func(ctx context.Context) (io.ReadCloser, error)
}

// NewContent returns the Content of size bytes with the hex SHA-256 sum that
// open reads, checking every reader against both.
func NewContent(size int64, sum string, open func(ctx context.Context) (io.ReadCloser, error)) Content {
	return Content{Size: size, SHA256: sum, Open: func(ctx context.Context) (io.ReadCloser, error) {
		rc, err := open(ctx)
		if err != nil {
			return nil, err
		}
		return &verifier{rc: rc, h: sha256.New(), size: size, sum: sum}, nil
	}}
}

// BytesContent returns the Content of b, which must not change afterwards.
func BytesContent(b []byte) Content {
	sum := sha256.Sum256(b)
	return NewContent(int64(len(b)), hex.EncodeToString(sum[:]), func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	})
}

// ReadAll reads the whole content into one buffer of its size, for adapters
// that must hold it in memory.
func (c Content) ReadAll(ctx context.Context) ([]byte, error) {
	rc, err := c.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b := make([]byte, c.Size)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, err
	}
	// Reading the end is what checks the digest.
	var one [1]byte
	switch n, err := rc.Read(one[:]); {
	case n > 0:
		return nil, fmt.Errorf("%w: more than %d bytes", ErrContentMismatch, c.Size)
	case err != io.EOF:
		return nil, err
	}
	return b, nil
}

// verifier passes a reader through and checks its length and digest.
type verifier struct {
	rc   io.ReadCloser
	h    hash.Hash
	n    int64
	size int64
	sum  string
}

func (v *verifier) Read(p []byte) (int, error) {
	n, err := v.rc.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.n > v.size {
		return n, fmt.Errorf("%w: more than %d bytes", ErrContentMismatch, v.size)
	}
	if err == io.EOF {
		if v.n != v.size {
			return n, fmt.Errorf("%w: %d bytes, want %d", ErrContentMismatch, v.n, v.size)
		}
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.sum {
			return n, fmt.Errorf("%w: sha256 %s, want %s", ErrContentMismatch, got, v.sum)
		}
	}
	return n, err
}

func (v *verifier) Close() error { return v.rc.Close() }
