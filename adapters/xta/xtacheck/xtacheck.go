// Package xtacheck is a conformance suite for XTA 2 Version 3 servers: the
// checks of the KoSIT XTA tester (XTA.md §4) and drehscheibe's checklist
// (§7), adapted to v3. Each check passes, fails with a reason, or is skipped
// when an earlier one it needs failed. "drehscheibe xta check" runs it
// against any server, drehscheibe's own included.
package xtacheck

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
)

// Config says what to check against.
type Config struct {
	// URL of the server; HTTP is the client with the TLS client certificate.
	URL  string
	HTTP *http.Client
	// Author is the party that sends; Reader the party whose box is read.
	// The client certificate must be allowed to act for both.
	Author, Reader xta.PartyIdentifier
	// Message is an XÖV message the server accepts from Author for Reader
	// (routed to Reader's message box). Without it the send and box checks
	// that need a waiting message are skipped.
	Message []byte
	// Service is the service URI of the sent message and of lookupService.
	Service string
	// Wait bounds how long the suite waits for the sent message to arrive in the box.
	Wait time.Duration
}

// Result is the outcome of one check.
type Result struct {
	Name   string
	Status string // PASS, FAIL or SKIP
	Reason string
}

const (
	pass = "PASS"
	fail = "FAIL"
	skip = "SKIP"
)

type suite struct {
	cfg     Config
	c       *xta.Client
	results []Result
	notMTOM []string
	op      string
}

// Run runs every check in order and returns the results.
func Run(ctx context.Context, cfg Config) []Result {
	if cfg.Wait <= 0 {
		cfg.Wait = 30 * time.Second
	}
	if cfg.Service == "" {
		cfg.Service = "urn:drehscheibe:xta-check"
	}
	s := &suite{cfg: cfg}
	s.c = &xta.Client{URL: cfg.URL, HTTP: cfg.HTTP, Inspect: func(_ int, ct string, _ []byte) {
		mt, p, err := mime.ParseMediaType(ct)
		if err != nil || mt != "multipart/related" || p["type"] != "application/xop+xml" {
			s.notMTOM = append(s.notMTOM, s.op+" ("+ct+")")
		}
	}}
	s.run(ctx)
	return s.results
}

func (s *suite) add(name string, err error) bool {
	r := Result{Name: name, Status: pass}
	if err != nil {
		r.Status, r.Reason = fail, err.Error()
	}
	s.results = append(s.results, r)
	return err == nil
}

func (s *suite) skip(name, why string) {
	s.results = append(s.results, Result{Name: name, Status: skip, Reason: why})
}

func (s *suite) call(ctx context.Context, op xta.Operation, h, b func(w *xta.Writer)) (*xta.Envelope, error) {
	s.op = op.Name
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	env, err := s.c.Call(cctx, op, h, b)
	if err == nil && env.Action != op.Action {
		err = fmt.Errorf("response wsa:Action %q, want %q", env.Action, op.Action)
	}
	return env, err
}

// wantFault checks that err is an XTA fault of exception exc with code.
func wantFault(err error, exc xta.Exception, code string) error {
	var f *xta.ReceivedFault
	if !errors.As(err, &f) {
		if err == nil {
			return fmt.Errorf("no fault; want %s %s", exc, code)
		}
		return fmt.Errorf("want %s %s, got %v", exc, code, err)
	}
	if f.Exception != string(exc) || code != "" && f.Code != code {
		return fmt.Errorf("want %s %s, got %s %s (%s)", exc, code, f.Exception, f.Code, f.Reason)
	}
	if f.Name == "" {
		return errors.New("the fault's errorCode has no name")
	}
	return nil
}

func (s *suite) run(ctx context.Context) {
	author, reader := xta.AuthorHeader(s.cfg.Author), xta.AuthorHeader(s.cfg.Reader)
	if strings.HasPrefix(s.cfg.URL, "https:") {
		s.add("tls-client-certificate-required", s.noCertRefused(ctx))
	}
	_, err := s.call(ctx, xta.OpCheckAccountActive, author, nil)
	if !s.add("checkAccountActive", err) {
		s.skip("remaining checks", "the author account is not active: nothing else can work")
		s.mtom()
		return
	}
	unknown := xta.PartyIdentifier{Value: "urn:drehscheibe:xta-check:unknown:" + uuid.NewString(), Type: "xoev"}
	_, err = s.call(ctx, xta.OpCheckAccountActive, xta.AuthorHeader(unknown), nil)
	s.add("checkAccountActive-unknown-account-is-PermissionDenied", wantFault(err, xta.PermissionDenied, ""))

	env, err := s.call(ctx, xta.OpCreateMessageID, author, nil)
	id := ""
	if err == nil {
		err = checkMessageID(env)
	}
	if s.add("createMessageId", err) {
		id = strings.TrimSpace(*env.Body.MessageID)
	}

	_, err = s.call(ctx, xta.OpLookupService, author, func(w *xta.Writer) {
		w.Open("xta:LookupServiceRequest")
		w.Open("xta:LookupServiceRequestList")
		w.Open("xta:LookupService")
		(&xta.Party{Identifier: s.cfg.Reader}).Write(w, "oscimeta:Reader")
		w.Elem("xta:ServiceType", s.cfg.Service)
		w.Close()
		w.Close()
		w.Close()
	})
	s.add("lookupService", err)

	env, err = s.call(ctx, xta.OpGetStatusList, reader, statusList())
	if err == nil {
		_, _, err = msgBoxResponse(env)
	}
	s.add("getStatusList-MsgBoxResponse", err)

	_, err = s.call(ctx, xta.OpGetMessage, reader, fetch("urn:de:xta:messageid:xta-check:"+uuid.NewString()))
	s.add("getMessage-unknown-id-is-InvalidMessageID", wantFault(err, xta.InvalidMessageID, "9070"))

	s.sendAndFetch(ctx, id, author, reader)
	s.mtom()
}

func (s *suite) sendAndFetch(ctx context.Context, id string, author, reader func(w *xta.Writer)) {
	names := []string{"sendMessage", "sendMessage-reused-id-is-9024", "sendMessageSync", "getStatusList-lists-the-message",
		"getMessage", "close", "message-left-the-box", "getTransportReport"}
	switch {
	case s.cfg.Message == nil:
		for _, n := range names {
			s.skip(n, "no message to send given (--message)")
		}
		return
	case id == "":
		for _, n := range names {
			s.skip(n, "createMessageId failed")
		}
		return
	}
	meta := s.meta(id)
	msg := xta.Content{ContentType: "application/xml", Encoding: "UTF-8", Filename: "message.xml", ID: "message", Data: s.cfg.Message}
	body := func(w *xta.Writer) { xta.WriteContainer(w, &msg, nil) }
	_, err := s.call(ctx, xta.OpSendMessage, meta.Write, body)
	if !s.add("sendMessage", err) {
		for _, n := range names[1:] {
			s.skip(n, "sendMessage failed")
		}
		return
	}
	_, err = s.call(ctx, xta.OpSendMessage, meta.Write, body)
	s.add("sendMessage-reused-id-is-9024", wantFault(err, xta.ParameterIsNotValid, "9024"))
	sync := s.meta("urn:de:xta:messageid:xta-check:" + uuid.NewString())
	env, err := s.call(ctx, xta.OpSendMessageSync, sync.Write, body)
	if err != nil {
		err = wantFault(err, xta.SyncAsync, "")
	} else {
		err = checkSyncAnswer(env, sync.MsgIdentification.MessageID)
	}
	s.add("sendMessageSync", err)

	// The message must turn up in the reader's box.
	var found *xta.MessageMetaData
	deadline := time.Now().Add(s.cfg.Wait)
	for found == nil && err == nil && time.Now().Before(deadline) {
		var env *xta.Envelope
		env, err = s.call(ctx, xta.OpGetStatusList, reader, statusList())
		if err == nil && env.Body.MsgStatusList != nil {
			for i, m := range env.Body.MsgStatusList.MetaData {
				if strings.EqualFold(m.MsgIdentification.MessageID, id) {
					found = &env.Body.MsgStatusList.MetaData[i]
				}
			}
		}
		if found == nil {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if err == nil && found == nil {
		err = fmt.Errorf("message %s not in the reader's box within %s", id, s.cfg.Wait)
	}
	if err == nil {
		err = checkMetaData(found, id)
	}
	if !s.add("getStatusList-lists-the-message", err) {
		for _, n := range names[4:] {
			s.skip(n, "the message is not in the box")
		}
		return
	}
	env, err = s.call(ctx, xta.OpGetMessage, reader, fetch(id))
	if err == nil {
		err = checkFetched(env, id, s.cfg.Message)
	}
	s.add("getMessage", err)
	_, err = s.call(ctx, xta.OpClose, reader, closeReq(id))
	s.add("close", err)
	_, err = s.call(ctx, xta.OpGetMessage, reader, fetch(id))
	s.add("message-left-the-box", wantFault(err, xta.InvalidMessageID, "9070"))
	env, err = s.call(ctx, xta.OpGetTransportReport, author, func(w *xta.Writer) { w.Elem("wsa:MessageID", id) })
	if err == nil {
		err = checkReport(env.Body.TransportReport, id)
	}
	s.add("getTransportReport", err)
}

func (s *suite) mtom() {
	var err error
	if len(s.notMTOM) > 0 {
		err = fmt.Errorf("not MTOM (multipart/related; type=\"application/xop+xml\"): %s", strings.Join(s.notMTOM, ", "))
	}
	s.add("every-response-is-MTOM", err)
}

// noCertRefused checks that a client without certificate gets nowhere.
func (s *suite) noCertRefused(ctx context.Context) error {
	tr, ok := s.cfg.HTTP.Transport.(*http.Transport)
	if !ok || tr.TLSClientConfig == nil {
		return errors.New("cannot derive a client without certificate from the configured one")
	}
	tc := tr.TLSClientConfig.Clone()
	tc.Certificates, tc.GetClientCertificate = nil, func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &tls.Certificate{}, nil }
	c := &xta.Client{URL: s.cfg.URL, HTTP: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}}
	_, err := c.Call(ctx, xta.OpCheckAccountActive, xta.AuthorHeader(s.cfg.Author), nil)
	var f *xta.ReceivedFault
	switch {
	case err == nil:
		return errors.New("a request without client certificate was answered")
	case errors.As(err, &f) && f.Exception != string(xta.PermissionDenied):
		return fmt.Errorf("a request without client certificate got %v, want a refused handshake or PermissionDenied", f)
	}
	return nil
}

func (s *suite) meta(id string) *xta.MessageMetaData {
	m := &xta.MessageMetaData{}
	m.Originators.Author.Identifier = s.cfg.Author
	m.Destinations.Reader.Identifier = s.cfg.Reader
	m.MsgIdentification.MessageID = id
	m.Qualifier.Service = s.cfg.Service
	m.Qualifier.BusinessScenario.Undefined = "drehscheibe xta check"
	m.Qualifier.MessageType.KeyCode = xta.KeyCode{ListURI: "urn:drehscheibe:xta-check", ListVersionID: "1", Code: "check"}
	m.Qualifier.MessageType.PayloadSchema = "urn:drehscheibe:xta-check"
	m.MsgSize = strconv.Itoa(len(s.cfg.Message))
	return m
}

// statusList is the tester's getStatusList: new entries of the last month.
func statusList() func(w *xta.Writer) {
	return func(w *xta.Writer) {
		w.Open("osci:MsgBoxStatusListRequest", "ListForm", xta.ListFormMetaData, "maxListItems", "100")
		w.Open("osci:MsgSelector", "newEntry", "true")
		w.Elem("osci:MsgBoxEntryTimeFrom", xta.FormatTime(time.Now().AddDate(0, -1, 0)))
		w.Elem("osci:MsgBoxEntryTimeTo", xta.FormatTime(time.Now().Add(time.Minute)))
		w.Close()
		w.Close()
	}
}

func fetch(id string) func(w *xta.Writer) {
	return func(w *xta.Writer) {
		w.Open("osci:MsgBoxFetchRequest")
		w.Open("osci:MsgSelector")
		w.Elem("wsa:MessageID", id)
		w.Close()
		w.Close()
	}
}

// closeReq closes as real clients do: the constant MsgBoxRequestID "1".
func closeReq(id string) func(w *xta.Writer) {
	return func(w *xta.Writer) {
		w.Open("osci:MsgBoxCloseRequest", "MsgBoxRequestID", "1")
		w.Elem("osci:LastMsgReceived", id)
		w.Close()
	}
}
