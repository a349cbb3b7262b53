package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// msgGet selects one stored message, as the JetStream API's message get
// request does: by sequence, the first at or after Seq on a subject, or the
// last on a subject.
type msgGet struct {
	Seq     uint64 `json:"seq,omitempty"`
	NextFor string `json:"next_by_subj,omitempty"`
	LastFor string `json:"last_by_subj,omitempty"`
}

// getMsg reads one message of stream with a direct get, which any replica
// may answer. On a replicated stream a follower may not yet have applied
// what the leader acknowledged a moment ago, so before a message is reported
// missing the leader is asked: a submission accepted by one gateway replica
// is never unknown to another.
func (s *Store) getMsg(ctx context.Context, stream jetstream.Stream, q msgGet) (*jetstream.RawStreamMsg, error) {
	var m *jetstream.RawStreamMsg
	var err error
	switch {
	case q.LastFor != "":
		m, err = stream.GetLastMsgForSubject(ctx, q.LastFor)
	case q.NextFor != "":
		m, err = stream.GetMsg(ctx, q.Seq, jetstream.WithGetMsgSubject(q.NextFor))
	default:
		m, err = stream.GetMsg(ctx, q.Seq)
	}
	if !errors.Is(err, jetstream.ErrMsgNotFound) || s.opts.Replicas <= 1 {
		return m, err
	}
	return s.leaderGetMsg(ctx, stream.CachedInfo().Config.Name, q)
}

// leaderGetMsg asks the stream leader through $JS.API.STREAM.MSG.GET.
func (s *Store) leaderGetMsg(ctx context.Context, stream string, q msgGet) (*jetstream.RawStreamMsg, error) {
	req, err := json.Marshal(q)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	resp, err := s.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, req)
	if err != nil {
		return nil, err
	}
	var r struct {
		Error *struct {
			ErrCode     jetstream.ErrorCode `json:"err_code"`
			Description string              `json:"description"`
		} `json:"error"`
		Message *struct {
			Subject string    `json:"subject"`
			Seq     uint64    `json:"seq"`
			Header  []byte    `json:"hdrs"`
			Data    []byte    `json:"data"`
			Time    time.Time `json:"time"`
		} `json:"message"`
	}
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return nil, fmt.Errorf("message get on %s: %w", stream, err)
	}
	switch {
	case r.Error != nil && r.Error.ErrCode == jetstream.JSErrCodeMessageNotFound:
		return nil, jetstream.ErrMsgNotFound
	case r.Error != nil:
		return nil, fmt.Errorf("message get on %s: %s", stream, r.Error.Description)
	case r.Message == nil:
		return nil, fmt.Errorf("message get on %s: empty answer", stream)
	}
	m := &jetstream.RawStreamMsg{Subject: r.Message.Subject, Sequence: r.Message.Seq, Data: r.Message.Data, Time: r.Message.Time}
	if len(r.Message.Header) > 0 {
		if m.Header, err = nats.DecodeHeadersMsg(r.Message.Header); err != nil {
			return nil, err
		}
	}
	return m, nil
}
