package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
)

// Request headers. Receivers read them case-insensitively.
const (
	HeaderSubmissionID = "Drehscheibe-Submission-Id"
	HeaderMessageType  = "Drehscheibe-Message-Type"
	HeaderNamespace    = "Drehscheibe-Namespace"
	HeaderReader       = "Drehscheibe-Reader"
	HeaderAuthor       = "Drehscheibe-Author"
	HeaderTest         = "Drehscheibe-Test"
	HeaderAttempt      = "Drehscheibe-Attempt"
	HeaderTimestamp    = "Drehscheibe-Timestamp"
	HeaderSignature    = "Drehscheibe-Signature"
)

// SignatureVersion prefixes each signature in the Drehscheibe-Signature
// header. A later scheme gets a new prefix; receivers skip prefixes they do
// not know.
const SignatureVersion = "v1"

// DefaultMaxSkew is how far the timestamp of a request may lie from the
// receiver's clock when Verify is called with a maxSkew of zero.
const DefaultMaxSkew = 5 * time.Minute

// Errors returned by Verify.
var (
	// ErrNoSignature means the header holds no v1 signature.
	ErrNoSignature = errors.New("no v1 signature in the signature header")
	// ErrBadTimestamp means Drehscheibe-Timestamp is not unix seconds.
	ErrBadTimestamp = errors.New("timestamp header is not a unix time in seconds")
	// ErrTimestampSkew means the timestamp is too far from the receiver's clock:
	// a replayed or badly delayed request, or a clock out of sync.
	ErrTimestampSkew = errors.New("timestamp header is too far from the current time")
	// ErrSignatureMismatch means no signature matches the body and timestamp:
	// a wrong secret or a modified request.
	ErrSignatureMismatch = errors.New("signature does not match the request")
)

// Sign returns the Drehscheibe-Signature header value for body sent at
// timestamp (unix seconds): "v1=" followed by the lowercase hex
// HMAC-SHA256, keyed with secret, of the timestamp in decimal, a ".", and
// the body bytes exactly as sent.
func Sign(secret []byte, timestamp int64, body []byte) string {
	mac := newMAC(secret, strconv.FormatInt(timestamp, 10))
	mac.Write(body)
	return SignatureVersion + "=" + hex.EncodeToString(mac.Sum(nil))
}

// newMAC returns an HMAC that has consumed the signature prefix "<timestamp>.".
func newMAC(secret []byte, timestamp string) hash.Hash {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	return mac
}

// Verify checks a request the webhook adapter sent. timestamp and sigHeader
// are the values of the Drehscheibe-Timestamp and Drehscheibe-Signature
// headers, body the raw request body. The request is accepted if the
// timestamp lies within maxSkew of the current time (DefaultMaxSkew if
// maxSkew is zero or less) and any v1 entry of the comma-separated
// sigHeader matches; entries of other versions are ignored, so a signer can
// send several during a secret rotation. Comparison is in constant time.
func Verify(secret []byte, timestamp string, body []byte, sigHeader string, maxSkew time.Duration) error {
	return verifyAt(time.Now(), secret, timestamp, body, sigHeader, maxSkew)
}

func verifyAt(now time.Time, secret []byte, timestamp string, body []byte, sigHeader string, maxSkew time.Duration) error {
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
	}
	ts, err := strconv.ParseInt(strings.TrimSpace(timestamp), 10, 64)
	if err != nil || ts <= 0 {
		return fmt.Errorf("%w: %q", ErrBadTimestamp, timestamp)
	}
	if skew := now.Sub(time.Unix(ts, 0)).Abs(); skew > maxSkew {
		return fmt.Errorf("%w: off by %s, at most %s allowed", ErrTimestampSkew, skew.Truncate(time.Second), maxSkew)
	}
	var candidates [][]byte
	for entry := range strings.SplitSeq(sigHeader, ",") {
		version, sig, ok := strings.Cut(strings.TrimSpace(entry), "=")
		if !ok || version != SignatureVersion {
			continue
		}
		if b, err := hex.DecodeString(sig); err == nil {
			candidates = append(candidates, b)
		}
	}
	if len(candidates) == 0 {
		return ErrNoSignature
	}
	mac := newMAC(secret, strings.TrimSpace(timestamp))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, c := range candidates {
		if hmac.Equal(c, want) {
			return nil
		}
	}
	return ErrSignatureMismatch
}
