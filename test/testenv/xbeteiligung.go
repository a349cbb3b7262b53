package testenv

import (
	"bytes"
	"encoding/base64"
	"errors"
)

// anhangEnd is where WithDokument adds the document: after the first
// attachment reference of an XBeteiligung message.
const anhangEnd = "</anhangOderVerlinkung>"

// WithDokument returns the XBeteiligung message msg with raw added as a
// base64 xbeteiligung:dokument (76-character lines) after its first
// anhangOderVerlinkung, as a Bebauungsplan with its drawings would carry
// it; the message stays valid. raw of size*3/4 bytes makes a message of
// about size bytes more.
func WithDokument(msg, raw []byte) ([]byte, error) {
	i := bytes.Index(msg, []byte(anhangEnd))
	if i < 0 {
		return nil, errors.New("the message has no " + anhangEnd)
	}
	i += len(anhangEnd)
	enc := base64.StdEncoding.EncodeToString(raw)
	var b bytes.Buffer
	b.Grow(len(msg) + len(enc) + len(enc)/76 + 100)
	b.Write(msg[:i])
	b.WriteString("\n<xbeteiligung:dokument>")
	for len(enc) > 0 {
		n := min(76, len(enc))
		b.WriteString(enc[:n] + "\n")
		enc = enc[n:]
	}
	b.WriteString("</xbeteiligung:dokument>")
	b.Write(msg[i:])
	return b.Bytes(), nil
}
