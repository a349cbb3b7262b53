package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/drehscheibe/drehscheibe/gateway/audit"
	"github.com/drehscheibe/drehscheibe/gateway/identify"
	"github.com/drehscheibe/drehscheibe/gateway/intake"
	"github.com/drehscheibe/drehscheibe/gateway/problem"
	"github.com/drehscheibe/drehscheibe/gateway/store"
)

// submit handles POST /v1/submissions.
func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	received := time.Now().UTC()
	p, refused := s.authenticate(w, r, RoleSender)
	if p == nil {
		s.count(refused.Slug)
		return
	}
	sender := p.Name
	release, prob := s.admit(w, r)
	if prob != nil {
		s.refuse(w, r, prob)
		return
	}
	defer release()
	req, prob := s.readRequest(w, r)
	if prob != nil {
		s.refuse(w, r, prob)
		return
	}
	req.Sender = sender
	req.ReceivedAt = received
	req.IdempotencyKey = r.Header.Get("Idempotency-Key")
	if len(req.IdempotencyKey) > 255 {
		s.refuse(w, r, problem.New(problem.BadRequest, "Idempotency-Key is longer than 255 characters"))
		return
	}
	stored, _, prob := s.Pipeline.Submit(r.Context(), req)
	if prob != nil {
		if prob.Type == problem.Unavailable {
			w.Header().Set("Retry-After", "5")
			s.Log.Error("submission not stored", zap.String("request_id", requestID(r.Context())), zap.String("detail", prob.Detail))
		}
		s.refuse(w, r, prob)
		return
	}
	rec := stored.Record
	outcome := "accepted"
	if stored.Duplicate {
		outcome = "duplicate"
		w.Header().Set("Idempotent-Replayed", "true")
	}
	s.count(outcome)
	s.audit(r, audit.Submitted, "sender", sender, rec.ID, "", stored.Duplicate)
	s.Log.Info("submission "+outcome, zap.String("request_id", requestID(r.Context())), zap.String("submission_id", rec.ID),
		zap.String("sender", sender), zap.String("message_type", rec.MessageType), zap.String("target", rec.Target),
		zap.Bool("test", rec.Test))
	url := s.statusURL(r, rec.ID)
	w.Header().Set("Location", url)
	status, events := "queued", []store.Event(nil)
	if stored.Duplicate {
		// A replay shows where the first submission stands now.
		if e, err := s.Store.Get(r.Context(), rec.ID); err == nil {
			if st, evs, err := s.Store.State(r.Context(), e); err == nil {
				status, events = st, evs
			}
		}
	}
	writeJSON(w, http.StatusAccepted, statusView(rec, url, status, events))
}

// validate handles POST /v1/validate: the same checks as a submission, nothing stored.
func (s *Server) validate(w http.ResponseWriter, r *http.Request) {
	sender := s.sender(w, r)
	if sender == "" {
		return
	}
	release, prob := s.admit(w, r)
	if prob != nil {
		s.writeProblem(w, r, prob)
		return
	}
	defer release()
	req, prob := s.readRequest(w, r)
	if prob != nil {
		s.writeProblem(w, r, prob)
		return
	}
	req.Sender = sender
	c, prob := s.Pipeline.Check(req)
	if prob != nil {
		s.writeProblem(w, r, prob)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"valid": true,
		"facts": c.Facts,
		"route": routeView{Rule: c.Decision.Rule, Target: c.Decision.Target},
	})
}

func (s *Server) count(outcome string) { s.Metrics.Submissions.WithLabelValues(outcome).Inc() }

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, p *problem.Problem) {
	s.count(p.Type.Slug)
	s.writeProblem(w, r, p)
}

func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, p *problem.Problem) {
	if rec, ok := w.(*recorder); ok {
		rec.problem = p.Type.Slug
	}
	p.With("request_id", requestID(r.Context())).Write(w, r.URL.Path)
}

// readRequest reads the body as application/xml or multipart/form-data within the limits.
func (s *Server) readRequest(w http.ResponseWriter, r *http.Request) (*intake.Request, *problem.Problem) {
	if r.ContentLength > s.Limits.MaxBodyBytes {
		return nil, tooLarge(s.Limits.MaxBodyBytes)
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.Limits.MaxBodyBytes)
	ct := r.Header.Get("Content-Type")
	mt, params, err := parseMediaType(ct)
	if ct == "" || err != nil {
		return nil, problem.New(problem.UnsupportedMediaType, "missing or unreadable Content-Type %q", ct)
	}
	switch {
	case mt == "application/xml" || mt == "text/xml":
		body, err := readBody(r)
		if err != nil {
			return nil, readError(err)
		}
		if len(body) == 0 {
			return nil, problem.New(problem.BadRequest, "the request body is empty; send the XÖV message")
		}
		return &intake.Request{Message: body, RequestSHA256: fingerprint(body, nil, nil)}, nil
	case mt == "multipart/form-data":
		if params["boundary"] == "" {
			return nil, problem.New(problem.BadRequest, "multipart/form-data without a boundary parameter")
		}
		req, prob := readMultipart(r.Body, params["boundary"], s.Limits, r.ContentLength)
		if prob != nil {
			drain(r.Body)
		}
		return req, prob
	default:
		return nil, problem.New(problem.UnsupportedMediaType, "content type %q is not accepted; send application/xml or multipart/form-data", mt)
	}
}

// parseMediaType is mime.ParseMediaType with a shortcut for the plain
// "application/xml" most submissions carry: the same result without the
// parameter map and the lower-cased copy.
func parseMediaType(ct string) (string, map[string]string, error) {
	if ct == "application/xml" {
		return ct, nil, nil
	}
	return mime.ParseMediaType(ct)
}

// readBody reads the whole body. With a Content-Length it reads into one
// buffer of that size: a 40 MB message costs 40 MB, not the several copies
// that growing a buffer leaves behind.
func readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength <= 0 {
		return io.ReadAll(r.Body)
	}
	b := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(r.Body, b); err != nil {
		return nil, err
	}
	return b, nil
}

// readPart reads one multipart part. bound is the most the part can hold
// (what is left of the request's Content-Length), or negative if unknown.
// A part larger than 64 KB is read into one buffer of that bound rather than
// a growing one, so that a 40 MB attachment costs 40 MB and leaves no trail
// of ever larger buffers for the garbage collector; a buffer much larger than
// its part is trimmed.
func readPart(r io.Reader, bound int64) ([]byte, error) {
	if bound < 0 {
		return io.ReadAll(r)
	}
	head := make([]byte, min(bound, 64<<10))
	n, err := io.ReadFull(r, head)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return head[:n], nil
	case err != nil:
		return nil, err
	}
	buf := head
	if int64(n) < bound {
		buf = make([]byte, bound)
		copy(buf, head)
		m, err := io.ReadFull(r, buf[n:])
		n += m
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return nil, err
		}
	}
	if int64(n) == bound {
		// Filled to the bound: the part has to end here.
		var one [1]byte
		if k, err := r.Read(one[:]); k > 0 || (err != nil && err != io.EOF) {
			return nil, errors.Join(errors.New("a multipart part is longer than the request body"), err)
		}
	}
	if len(buf)-n > 1<<20 {
		return bytes.Clone(buf[:n]), nil
	}
	return buf[:n], nil
}

// readMultipart reads a multipart/form-data body of length bodyLen (negative
// if unknown) with the parts message, metadata and attachment, within the
// limits.
func readMultipart(body io.Reader, boundary string, lim Limits, bodyLen int64) (*intake.Request, *problem.Problem) {
	mr := multipart.NewReader(body, boundary)
	var read int64 // bytes of part content so far
	req := &intake.Request{}
	var metaRaw []byte
	seenMessage, seenMeta := false, false
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, partError(err)
		}
		name := p.FormName()
		if name == "attachment" && len(req.Attachments) >= lim.MaxAttachments {
			return nil, problem.New(problem.TooLarge, "too many attachments: at most %d are accepted", lim.MaxAttachments).
				With("limit", lim.MaxAttachments).With("limit_key", "server.max_attachments")
		}
		bound := int64(-1)
		if bodyLen >= 0 {
			bound = max(bodyLen-read, 0)
		}
		var data []byte
		if name == "attachment" {
			limit := lim.MaxAttachmentBytes + 1
			if bound >= 0 {
				limit = min(limit, bound)
			}
			data, err = readPart(io.LimitReader(p, lim.MaxAttachmentBytes+1), limit)
			if err == nil && int64(len(data)) > lim.MaxAttachmentBytes {
				return nil, problem.New(problem.TooLarge, "attachment %d is larger than %d bytes", len(req.Attachments)+1, lim.MaxAttachmentBytes).
					With("limit", lim.MaxAttachmentBytes).With("limit_key", "server.max_attachment_bytes")
			}
		} else {
			data, err = readPart(p, bound)
		}
		read += int64(len(data))
		_ = p.Close()
		if err != nil {
			return nil, readError(err)
		}
		switch name {
		case "message":
			if seenMessage {
				return nil, problem.New(problem.BadRequest, "more than one message part")
			}
			seenMessage = true
			req.Message = data
		case "metadata":
			if seenMeta {
				return nil, problem.New(problem.BadRequest, "more than one metadata part")
			}
			seenMeta = true
			m, err := identify.ParseMetadata(data)
			if err != nil {
				return nil, problem.New(problem.BadRequest, "%v", err)
			}
			req.Metadata = &m
			// The parsed form, so that the same metadata written differently is the same request.
			metaRaw, _ = json.Marshal(m)
		case "attachment":
			fn := sanitizeName(p.FileName())
			if fn == "" {
				fn = fmt.Sprintf("attachment-%d", len(req.Attachments)+1)
			}
			ctype := p.Header.Get("Content-Type")
			if ctype == "" {
				ctype = "application/octet-stream"
			}
			req.Attachments = append(req.Attachments, intake.Attachment{Name: fn, ContentType: ctype, Data: data})
		default:
			return nil, problem.New(problem.BadRequest, "unknown multipart part %q; expected message, metadata or attachment", name)
		}
	}
	if !seenMessage || len(req.Message) == 0 {
		return nil, problem.New(problem.BadRequest, "the multipart body has no message part (form field \"message\")")
	}
	req.RequestSHA256 = fingerprint(req.Message, metaRaw, req.Attachments)
	return req, nil
}

// partError describes why the next part of a multipart body could not be
// read.
func partError(err error) *problem.Problem {
	var mbe *http.MaxBytesError
	var ne net.Error
	if errors.As(err, &mbe) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) {
		return readError(err)
	}
	return problem.New(problem.BadRequest, "the multipart body is broken (%v); check that the boundary parameter of the Content-Type occurs in the body and the body ends with --boundary--", err)
}

// readError describes why reading the body failed. Errors of the
// connection are not quoted: they carry the server's addresses.
func readError(err error) *problem.Problem {
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mbe):
		return tooLarge(mbe.Limit)
	case errors.As(err, &ne) && ne.Timeout():
		return problem.New(problem.RequestTimeout, "the request body did not arrive in time")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return problem.New(problem.BadRequest, "the request body ended early: the connection closed before the end of the body (or of the multipart body)")
	case errors.As(err, &ne):
		return problem.New(problem.BadRequest, "reading the request body failed")
	}
	return problem.New(problem.BadRequest, "reading the request body failed: %v", err)
}

// drain reads what is left of a refused request's body, within
// server.max_body_bytes (body is the MaxBytesReader) and the read timeout,
// and throws it away. A multipart body is refused part-way (too many or too
// large attachments, a part without a name); a client that writes its whole
// request before it reads the answer — many do — would otherwise find the
// connection reset instead of the problem document.
func drain(body io.Reader) { _, _ = io.Copy(io.Discard, body) }

func tooLarge(limit int64) *problem.Problem {
	return problem.New(problem.TooLarge, "the request body exceeds %d bytes", limit).
		With("limit", limit).With("limit_key", "server.max_body_bytes")
}

// fingerprint identifies a request by its content, independent of multipart boundaries.
func fingerprint(msg, meta []byte, atts []intake.Attachment) string {
	h := sha256.New()
	var num [20]byte
	part := func(n int, b []byte, s string) {
		h.Write(append(strconv.AppendInt(num[:0], int64(n), 10), ':'))
		h.Write(b)
		_, _ = io.WriteString(h, s)
	}
	part(len(msg), msg, "")
	part(len(meta), meta, "")
	for _, a := range atts {
		part(len(a.Name), nil, a.Name)
		part(len(a.ContentType), nil, a.ContentType)
		part(len(a.Data), a.Data, "")
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// sanitizeName keeps the last path element of a client-given file name and drops control characters.
func sanitizeName(n string) string {
	n = strings.ReplaceAll(n, "\\", "/")
	n = path.Base(n)
	if n == "." || n == "/" || n == ".." {
		return ""
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, n)
}
