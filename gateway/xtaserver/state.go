package xtaserver

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/drehscheibe/drehscheibe/gateway/mailbox"
	"github.com/drehscheibe/drehscheibe/gateway/store"
)

// The XTA server keeps its message ids and boxes in gateway/mailbox
// (bucket DREHSCHEIBE_XTA) and the iterations of MsgBoxRequestIDs here:
//
//	DREHSCHEIBE_XTA_REQUESTS  req.<sha256(MsgBoxRequestID)> → iteration of getStatusList/getMessage (1 h)
const (
	RequestsBucket = "DREHSCHEIBE_XTA_REQUESTS"
	requestTTL     = time.Hour
)

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
	boxes *mailbox.Boxes
	reqs  jetstream.KeyValue
}

func openState(ctx context.Context, st *store.Store, boxes *mailbox.Boxes) (*state, error) {
	reqs, err := st.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: RequestsBucket, Description: "drehscheibe XTA message box iterations",
		Storage: jetstream.FileStorage, Replicas: st.Replicas(), TTL: requestTTL,
	})
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", RequestsBucket, err)
	}
	return &state{boxes: boxes, reqs: reqs}, nil
}

// selector is an osci:MsgSelector as the box applies it.
type selector struct {
	// NewEntry: true selects messages not fetched yet, false fetched ones, nil both.
	NewEntry *bool     `json:"new_entry,omitempty"`
	IDs      []string  `json:"ids,omitempty"` // lower-cased message ids
	From     time.Time `json:"from,omitempty"`
	To       time.Time `json:"to,omitempty"`
}
