package xtaserver

import (
	"context"
	"errors"
	"time"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
	"github.com/drehscheibe/drehscheibe/gateway/store"
)

// syncPoll is how often sendMessageSync looks at the event log.
const syncPoll = 50 * time.Millisecond

// awaitDelivery answers sendMessageSync for submission sub (XTA message id
// for reader) once its target has taken it: the event log says delivered
// (for an xta-box: the message waits in the reader's box), fetched or
// closed. drehscheibe's targets give no synchronous reply content, so the
// answer carries the message's MessageMetaData and, as the Message of the
// ContentContainer, its transport report. A failed delivery, or none within
// xta.sync_timeout, is fault 9032; the message stays stored either way.
func (s *Server) awaitDelivery(ctx context.Context, sub, id, reader string) (*reply, *xta.Fault) {
	wctx, cancel := context.WithTimeout(ctx, s.cfg.SyncTimeout)
	defer cancel()
	e, err := s.st.Get(wctx, sub)
	if err != nil {
		return nil, internal(err)
	}
	for {
		evs, err := s.st.Events(wctx, e)
		if err != nil && !errors.Is(wctx.Err(), context.DeadlineExceeded) {
			return nil, internal(err)
		}
		switch store.Status(evs) {
		case store.EventDelivered, store.EventFetched, store.EventClosed:
			return s.syncReply(ctx, sub, id, reader)
		case store.EventFailed, store.EventDeadLettered, store.EventCancelled:
			f := xta.NewFault(xta.DeliveryFailed, "the message was stored (submission %s), but its delivery to target %q failed", sub, e.Record.Target)
			for _, ev := range evs {
				if ev.Error != "" {
					f.Details = append(f.Details, ev.Type+": "+ev.Error)
				}
			}
			return nil, f
		}
		select {
		case <-wctx.Done():
			return nil, xta.NewFault(xta.DeliveryFailed, "the message was stored (submission %s) but not delivered to target %q within xta.sync_timeout (%s); its delivery goes on: follow it with getTransportReport, do not send it again",
				sub, e.Record.Target, s.cfg.SyncTimeout)
		case <-time.After(syncPoll):
		}
	}
}

func (s *Server) syncReply(ctx context.Context, sub, id, reader string) (*reply, *xta.Fault) {
	rep, err := s.report(ctx, sub, id, reader)
	if err != nil {
		return nil, internal(err)
	}
	msg := xta.Content{ContentType: "application/xml", Encoding: "UTF-8", Filename: "transport-report.xml", ID: "transport-report",
		ContentDescription: "Transportbericht", Data: xta.Document(rep.Write)}
	return &reply{
		headers: rep.MessageMetaData.Write,
		body:    func(w *xta.Writer) { xta.WriteContainer(w, &msg, nil) },
	}, nil
}
