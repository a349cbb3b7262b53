package xtaserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/drehscheibe/drehscheibe/gateway/store"
)

// Buckets of the XTA server's state. All state lives in JetStream, so every
// gateway replica answers every request the same way.
//
//	DREHSCHEIBE_XTA           id.<sha256(lower(message id))> → message (submission, author, reader)
//	                          box.<sha256(reader)>.<submission id> → box entry
//	DREHSCHEIBE_XTA_REQUESTS  req.<sha256(MsgBoxRequestID)> → iteration of getStatusList/getMessage (1 h)
const (
	StateBucket    = "DREHSCHEIBE_XTA"
	RequestsBucket = "DREHSCHEIBE_XTA_REQUESTS"
	requestTTL     = time.Hour
)

// message is what the server knows about an XTA message id.
type message struct {
	Submission string `json:"submission"`
	Author     string `json:"author"`
	Reader     string `json:"reader"`
}

// boxEntry is a message waiting in a reader's box.
type boxEntry struct {
	Submission   string    `json:"submission"`
	MessageID    string    `json:"message_id"`
	Reader       string    `json:"reader"`
	Target       string    `json:"target"`
	Delivered    time.Time `json:"delivered"`
	InitialFetch time.Time `json:"initial_fetch,omitempty"`
	Size         int64     `json:"size"`
	Scenario     string    `json:"scenario"`
}

// iteration is the state behind a MsgBoxRequestID: the selection and what
// was already handed out.
type iteration struct {
	Reader   string   `json:"reader"`
	Selector selector `json:"selector"`
	Returned []string `json:"returned"` // submission ids
	Max      int      `json:"max,omitempty"`
	ListForm string   `json:"list_form,omitempty"`
}

type state struct {
	kv   jetstream.KeyValue
	reqs jetstream.KeyValue
}

func openState(ctx context.Context, st *store.Store) (*state, error) {
	js := st.JetStream()
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: StateBucket, Description: "drehscheibe XTA message ids and message boxes",
		Storage: jetstream.FileStorage, Replicas: st.Replicas(), TTL: st.EventRetention(),
	})
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", StateBucket, err)
	}
	reqs, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: RequestsBucket, Description: "drehscheibe XTA message box iterations",
		Storage: jetstream.FileStorage, Replicas: st.Replicas(), TTL: requestTTL,
	})
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", RequestsBucket, err)
	}
	return &state{kv: kv, reqs: reqs}, nil
}

func hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:16])
}

// idKey is the key of a message id; ids compare case-insensitively.
func idKey(id string) string { return "id." + hash(strings.ToLower(strings.TrimSpace(id))) }

func boxPrefix(reader string) string { return "box." + hash(reader) }

func boxKey(reader, submission string) string { return boxPrefix(reader) + "." + submission }

var errNotFound = errors.New("not found")

func getJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) (uint64, error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, errNotFound
	}
	if err != nil {
		return 0, err
	}
	return e.Revision(), json.Unmarshal(e.Value(), v)
}

// createJSON stores v under key unless the key exists; it reports whether it stored.
func createJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) (bool, error) {
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

func putJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = kv.Put(ctx, key, b)
	return err
}

func (s *state) message(ctx context.Context, id string) (*message, error) {
	var m message
	if _, err := getJSON(ctx, s.kv, idKey(id), &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// box lists the entries of reader's box, oldest first.
func (s *state) box(ctx context.Context, reader string) ([]boxEntry, error) {
	lister, err := s.kv.ListKeysFiltered(ctx, boxPrefix(reader)+".*")
	if err != nil {
		return nil, err
	}
	var out []boxEntry
	for k := range lister.Keys() {
		var e boxEntry
		if _, err := getJSON(ctx, s.kv, k, &e); err == nil {
			out = append(out, e)
		}
	}
	sortEntries(out)
	return out, nil
}

// sortEntries orders box entries by arrival, then by submission id (time-ordered UUIDv7).
func sortEntries(es []boxEntry) {
	sort.Slice(es, func(i, j int) bool {
		if !es[i].Delivered.Equal(es[j].Delivered) {
			return es[i].Delivered.Before(es[j].Delivered)
		}
		return es[i].Submission < es[j].Submission
	})
}

// selector is an osci:MsgSelector as the box applies it.
type selector struct {
	// NewEntry: true selects messages not fetched yet, false fetched ones, nil both.
	NewEntry *bool     `json:"new_entry,omitempty"`
	IDs      []string  `json:"ids,omitempty"` // lower-cased message ids
	From     time.Time `json:"from,omitempty"`
	To       time.Time `json:"to,omitempty"`
}
