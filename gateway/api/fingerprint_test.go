package api

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/drehscheibe/drehscheibe/gateway/intake"
)

// TestFingerprintUnchanged pins request_sha256 to its definition: each of
// message, metadata and every attachment's name, content type and data as
// "<length>:" and the bytes, hashed with SHA-256. Submissions stored before
// a change of its computation must still match their Idempotency-Key
// retries.
func TestFingerprintUnchanged(t *testing.T) {
	reference := func(msg, meta []byte, atts []intake.Attachment) string {
		h := sha256.New()
		part := func(b []byte) {
			fmt.Fprintf(h, "%d:", len(b))
			h.Write(b)
		}
		part(msg)
		part(meta)
		for _, a := range atts {
			part([]byte(a.Name))
			part([]byte(a.ContentType))
			part(a.Data)
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	big := make([]byte, 1<<20+7)
	for i := range big {
		big[i] = byte(i)
	}
	for _, tc := range []struct {
		name      string
		msg, meta []byte
		atts      []intake.Attachment
	}{
		{"message only", []byte("<a/>"), nil, nil},
		{"empty", nil, nil, nil},
		{"metadata", []byte("<a/>"), []byte(`{"reader":"x"}`), nil},
		{"attachments", big, []byte(`{}`), []intake.Attachment{
			{Name: "a.pdf", ContentType: "application/pdf", Data: big[:1000]},
			{Name: "", ContentType: "", Data: nil},
			{Name: "ü.txt", ContentType: "text/plain", Data: big}}},
	} {
		if got, want := fingerprint(tc.msg, tc.meta, tc.atts), reference(tc.msg, tc.meta, tc.atts); got != want {
			t.Errorf("%s: fingerprint %s, want %s", tc.name, got, want)
		}
	}
	// One value written out, so that the reference cannot drift with the code.
	if got, want := fingerprint([]byte("<a/>"), nil, nil), "7b4ec8714f362b7ab3244aba1b7dae5b62f33cff8844f0889302a48036978847"; got != want {
		t.Errorf("fingerprint of <a/> %s, want %s", got, want)
	}
}
