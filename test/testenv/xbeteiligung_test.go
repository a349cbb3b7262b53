package testenv

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

func TestWithDokument(t *testing.T) {
	msg := []byte("<a><anhangOderVerlinkung>x</anhangOderVerlinkung><b/></a>")
	raw := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 40) // 160 bytes: 216 base64 characters, three lines
	got, err := WithDokument(msg, raw)
	if err != nil {
		t.Fatal(err)
	}
	s := string(got)
	head := "<a><anhangOderVerlinkung>x</anhangOderVerlinkung>\n<xbeteiligung:dokument>"
	tail := "</xbeteiligung:dokument><b/></a>"
	if !strings.HasPrefix(s, head) || !strings.HasSuffix(s, tail) {
		t.Fatalf("the document is not after the first anhangOderVerlinkung: %q", s)
	}
	lines := strings.Split(strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(s, head), tail), "\n"), "\n")
	if len(lines) != 3 || len(lines[0]) != 76 || len(lines[1]) != 76 {
		t.Fatalf("want 76-character lines, got %q", lines)
	}
	dec, err := base64.StdEncoding.DecodeString(strings.Join(lines, ""))
	if err != nil || !bytes.Equal(dec, raw) {
		t.Fatalf("the document does not decode to raw: %v", err)
	}
	if _, err := WithDokument([]byte("<a/>"), raw); err == nil {
		t.Fatal("a message without anhangOderVerlinkung: want an error")
	}
}
