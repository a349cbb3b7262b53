// Package xtapull is the pull intake: it polls remote XTA 2 Version 3
// message boxes (getStatusList, then getMessage for each message), hands
// each message to the same intake pipeline as the REST API and the XTA
// server, and confirms it with close only after the pipeline stored it
// durably. With it drehscheibe can sit behind an XTA intermediary.
//
// Each message is submitted with its XTA message id as idempotency key, so
// a gateway that dies between storing a message and closing it stores it
// only once: the next poll fetches it again, the store recognises the
// duplicate (within nats.duplicate_window), and the message is closed.
// Several replicas may poll the same box for the same reason.
//
// The package sits beside gateway/xtaserver and uses its Request, which
// turns an XTA message into an intake request; it imports the protocol
// from adapters/xta. Nothing imports it but the gateway
// (docs/decisions/0003-xta-client.md).
package xtapull

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
	"github.com/drehscheibe/drehscheibe/gateway/audit"
	"github.com/drehscheibe/drehscheibe/gateway/config"
	"github.com/drehscheibe/drehscheibe/gateway/intake"
	"github.com/drehscheibe/drehscheibe/gateway/problem"
	"github.com/drehscheibe/drehscheibe/gateway/store"
	"github.com/drehscheibe/drehscheibe/gateway/xtaserver"
)

// maxPerPoll bounds the messages one poll lists and fetches.
const maxPerPoll = 100

// Observer counts what the pull intake did with each fetched message:
// stored, duplicate (stored before, now closed), refused (left in the
// remote box) or failed (fetch, store or close failed; tried again); and
// how each poll of a remote box went: ok (listed), deferred (the remote
// asked to wait with Retry-After; the next poll waits for it) or failed
// (the list could not be read; tried again at the next poll).
type Observer interface {
	Pulled(source, outcome string)
	Polled(source, result string)
}

// Puller polls the configured sources, each in a goroutine of its own.
type Puller struct {
	// Audit, if set before Start, records every message the sources store
	// (action submitted, role xta-pull, the source's name, its URL as the
	// address).
	Audit   *audit.Log
	sources []*source
	log     *zap.Logger
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// source is one remote box.
type source struct {
	cfg       config.XTAPull
	reader    xta.PartyIdentifier
	client    *xta.Client
	transport *http.Transport
	submit    func(ctx context.Context, req *intake.Request) (*store.Stored, *problem.Problem)
	log       *zap.Logger
	obs       Observer
	// refused remembers messages the pipeline refused, so that they are
	// tried again only after a while; they stay in the remote box.
	refused map[string]time.Time
	// afterStore, if set, runs between storing and closing (tests).
	afterStore func(id string) error
}

// New loads the TLS files of every source; obs may be nil.
func New(cfg []config.XTAPull, p *intake.Pipeline, obs Observer, log *zap.Logger) (*Puller, error) {
	pl := &Puller{log: log.Named("xta-pull")}
	for i, c := range cfg {
		tc, err := xta.ClientTLS{CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile, CAFile: c.TLS.CAFile}.Config(strings.HasPrefix(c.URL, "https:"))
		if err != nil {
			return nil, fmt.Errorf("xta.pull[%d].%w", i, err)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tc
		pl.sources = append(pl.sources, &source{
			cfg: c, reader: xta.PartyIdentifier{Value: c.Reader, Type: c.ReaderType}, transport: tr,
			client: &xta.Client{URL: c.URL, HTTP: &http.Client{Timeout: c.Timeout, Transport: tr},
				MaxResponse: int64(c.MaxContainerBytes)/3*4 + 1<<20},
			submit: func(ctx context.Context, req *intake.Request) (*store.Stored, *problem.Problem) {
				st, _, prob := p.Submit(ctx, req)
				if prob == nil {
					pl.Audit.Record(audit.Entry{Action: audit.Submitted, Role: "xta-pull", Principal: c.Name,
						SubmissionID: st.Record.ID, RemoteAddr: c.URL, Duplicate: st.Duplicate})
				}
				return st, prob
			},
			log: pl.log.With(zap.String("source", c.Name)), obs: obs, refused: map[string]time.Time{},
		})
	}
	return pl, nil
}

// maxRemoteWait bounds how long a remote box's Retry-After may delay the
// next poll, so that a wrong header cannot stop the intake for good.
const maxRemoteWait = time.Hour

// Start polls every source until Stop: one poll at once, then every
// interval, or after the remote's Retry-After where that is longer.
func (pl *Puller) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	pl.cancel = cancel
	for _, s := range pl.sources {
		pl.wg.Add(1)
		go func() {
			defer pl.wg.Done()
			for {
				wait := max(s.cfg.Interval, s.poll(ctx))
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}()
		pl.log.Info("polling remote xta message box", zap.String("source", s.cfg.Name), zap.String("url", s.cfg.URL),
			zap.String("reader", s.cfg.Reader), zap.Duration("interval", s.cfg.Interval))
	}
}

// Stop ends polling and waits (up to ctx) for the polls in flight. A
// message being fetched when the poll is cut off stays in the remote box
// and is fetched again by the next poll.
func (pl *Puller) Stop(ctx context.Context) {
	if pl.cancel == nil {
		return
	}
	pl.cancel()
	done := make(chan struct{})
	go func() { pl.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	for _, s := range pl.sources {
		s.transport.CloseIdleConnections()
	}
}

// poll lists the box and takes every message in it. It returns the wait
// the remote asked for when it refused a call with Retry-After (a 9030
// fault, HTTP 429 or 503), which ends the poll; else 0.
func (s *source) poll(ctx context.Context) time.Duration {
	list, err := s.client.StatusList(ctx, s.reader, maxPerPoll)
	if err != nil {
		if wait := s.askedToWait(err); wait > 0 {
			s.polled("deferred")
			return wait
		}
		if ctx.Err() == nil {
			s.polled("failed")
			s.log.Warn("getStatusList failed; trying again at the next poll", zap.Error(err))
		}
		return 0
	}
	s.polled("ok")
	now := time.Now()
	for id, until := range s.refused {
		if now.After(until) {
			delete(s.refused, id)
		}
	}
	for i := range list {
		if ctx.Err() != nil {
			return 0
		}
		id := strings.TrimSpace(list[i].MsgIdentification.MessageID)
		if _, ok := s.refused[strings.ToLower(id)]; ok {
			continue
		}
		if err := s.take(ctx, id); err != nil {
			if ctx.Err() == nil {
				s.count("failed")
				s.log.Warn("message not taken; it stays in the remote box", zap.String("message_id", id), zap.Error(err))
			}
			if wait := s.askedToWait(err); wait > 0 {
				return wait
			}
			if errors.Is(err, errUnavailable) {
				return 0
			}
		}
	}
	return 0
}

// askedToWait is the wait the remote asked for with err (xta.WaitRequested),
// at most maxRemoteWait, and logs it; 0 if it asked for none.
func (s *source) askedToWait(err error) time.Duration {
	wait := min(xta.WaitRequested(err), maxRemoteWait)
	if wait > 0 {
		s.log.Warn("the remote xta server asks to wait; the next poll waits for it", zap.Error(err),
			zap.Duration("retry_after", wait), zap.Duration("next_poll_in", max(wait, s.cfg.Interval)))
	}
	return wait
}

// errUnavailable ends a poll: the gateway cannot store now.
var errUnavailable = errors.New("the gateway cannot store messages now")

// take fetches message id, stores it through the intake and closes it.
func (s *source) take(ctx context.Context, id string) error {
	env, err := s.client.Fetch(ctx, s.reader, id)
	switch {
	case xta.IsFault(err, xta.InvalidMessageIDCode.Code):
		return nil // gone meanwhile: another replica took it
	case err != nil:
		return fmt.Errorf("getMessage: %w", err)
	case env.Header.MessageMetaData == nil:
		return errors.New("getMessage answered without MessageMetaData")
	}
	meta := *env.Header.MessageMetaData
	// The delivery times are the remote hop's; this gateway records its own.
	meta.DeliveryAttributes.Delivery, meta.DeliveryAttributes.InitialFetch, meta.DeliveryAttributes.Reception = "", "", ""
	if !strings.EqualFold(strings.TrimSpace(meta.MsgIdentification.MessageID), id) {
		return fmt.Errorf("getMessage for %s answered with message %s", id, meta.MsgIdentification.MessageID)
	}
	req, f := xtaserver.Request(&meta, env.Body.Container, s.cfg.SenderName(), int64(s.cfg.MaxContainerBytes))
	if f != nil {
		s.refuse(id, f.Code.Code, f.Reason)
		return nil
	}
	req.ReceivedAt = time.Now().UTC()
	req.RequestSHA256 = fingerprint(id, req)
	stored, prob := s.submit(ctx, req)
	switch {
	case prob != nil && prob.Type == problem.Unavailable:
		return fmt.Errorf("%w: %s", errUnavailable, prob.Detail)
	case prob != nil:
		s.refuse(id, prob.Type.Slug, prob.Detail)
		return nil
	}
	if s.afterStore != nil {
		if err := s.afterStore(id); err != nil {
			return err
		}
	}
	rid := ""
	if r := env.Header.MsgBoxResponse; r != nil {
		rid = r.RequestID
	}
	if err := s.client.Close(ctx, s.reader, rid, id); err != nil && !xta.IsFault(err, xta.InvalidMessageIDCode.Code) {
		return fmt.Errorf("stored as submission %s, but close failed (the next poll closes it): %w", stored.Record.ID, err)
	}
	if stored.Duplicate {
		s.count("duplicate")
	} else {
		s.count("stored")
	}
	s.log.Info("xta message fetched", zap.String("message_id", id), zap.String("submission_id", stored.Record.ID),
		zap.Bool("duplicate", stored.Duplicate), zap.String("target", stored.Record.Target))
	return nil
}

func (s *source) count(outcome string) {
	if s.obs != nil {
		s.obs.Pulled(s.cfg.Name, outcome)
	}
}

func (s *source) polled(result string) {
	if s.obs != nil {
		s.obs.Polled(s.cfg.Name, result)
	}
}

// refusedRetry is how long a refused message is left alone before it is
// offered to the intake again (the routes or schemas may have changed).
const refusedRetry = 10 * time.Minute

// refuse logs a message the intake does not take and leaves it in the remote box.
func (s *source) refuse(id, why, detail string) {
	s.count("refused")
	s.refused[strings.ToLower(id)] = time.Now().Add(refusedRetry)
	s.log.Error("message refused by the intake; it stays in the remote box and is offered again later",
		zap.String("message_id", id), zap.String("problem", why), zap.String("detail", detail), zap.Duration("retry_in", refusedRetry))
}

// fingerprint identifies a fetched message by its id and content, which
// stay the same when it is fetched again, unlike the metadata the remote
// server fills in on each fetch.
func fingerprint(id string, req *intake.Request) string {
	h := sha256.New()
	part := func(b []byte) {
		fmt.Fprintf(h, "%d:", len(b))
		h.Write(b)
	}
	part([]byte(strings.ToLower(id)))
	part(req.Message)
	for _, a := range req.Attachments {
		part([]byte(a.Name))
		part(a.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}
