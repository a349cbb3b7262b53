// Package kvjson keeps JSON values in a JetStream key-value bucket under
// hashed keys. The message boxes (gateway/mailbox) and the XTA server's
// request iterations (gateway/xtaserver) both store their state this way.
package kvjson

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrNotFound is returned by Get for a key that does not exist.
var ErrNotFound = errors.New("not found")

// Hash is the key part made of s: the hex of the first 16 bytes of its
// SHA-256, so that any text makes a valid key token of fixed length.
func Hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:16])
}

// Get decodes the value under key into v, or returns ErrNotFound.
func Get(ctx context.Context, kv jetstream.KeyValue, key string, v any) error {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(e.Value(), v)
}

// Put stores v under key, replacing what was there.
func Put(ctx context.Context, kv jetstream.KeyValue, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = kv.Put(ctx, key, b)
	return err
}

// Create stores v under key unless the key exists; it reports whether it stored.
func Create(ctx context.Context, kv jetstream.KeyValue, key string, v any) (bool, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return false, err
	}
	_, err = kv.Create(ctx, key, b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	}
	return err == nil, err
}
