package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/drehscheibe/drehscheibe/test/testenv"
)

// realDocs are the real messages of ../shared/xoev the gateway is measured
// with: three standards, three header forms, 2 to 20 KB. Each is valid.
var realDocs = []string{
	"xwasser/1.0.0/tests/administration_receipt.xml",
	"xbeteiligung/1.2/tests/res/example402FromCockpit.xml",
	"xdomea/3.0.0/examples/x-man/9a75050f-323a-4e84-94c9-a889aa2b4fe8_Aussonderung.Anbieteverzeichnis.0501.xml",
}

// seedDoc is the real message the generated documents are built from.
const seedDoc = "xbeteiligung/1.2/tests/res/example402FromCockpit.xml"

// document is one message the benchmark posts.
type document struct {
	Name  string `json:"name"`
	Path  string `json:"path"`
	Bytes int    `json:"bytes"`
	data  []byte
}

// loadDocuments reads the real messages and writes the generated ~20 KB
// message into dir.
func loadDocuments(xoev, dir string) ([]document, error) {
	var docs []document
	for _, rel := range realDocs {
		p := filepath.Join(xoev, rel)
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		docs = append(docs, document{Name: rel, Path: p, Bytes: len(b), data: b})
	}
	seed, err := os.ReadFile(filepath.Join(xoev, seedDoc))
	if err != nil {
		return nil, err
	}
	gen, copies, err := generate20KB(seed)
	if err != nil {
		return nil, err
	}
	p := filepath.Join(dir, "generated-20KB-xbeteiligung.xml")
	if err := os.WriteFile(p, gen, 0o644); err != nil {
		return nil, err
	}
	name := fmt.Sprintf("generated 20 KB XBeteiligung (%s + %d anlage)", filepath.Base(seedDoc), copies)
	return append(docs, document{Name: name, Path: p, Bytes: len(gen), data: gen}), nil
}

// generate20KB returns the seed message with copies of its first anlage
// (an attachment reference: version, date, code-list values, file name,
// size and hash) inserted after it, each with its own dokumentid, until the
// message reaches 20 KiB. XBeteiligung allows any number of anlage elements,
// so the result stays valid; make bench checks that it does.
func generate20KB(seed []byte) ([]byte, int, error) {
	start := bytes.Index(seed, []byte("<anlage>"))
	const closing = "</anlage>"
	end := bytes.Index(seed, []byte(closing))
	if start < 0 || end < start {
		return nil, 0, fmt.Errorf("%s has no anlage element", seedDoc)
	}
	end += len(closing)
	block := seed[start:end]
	const id = "ID_693a4b4a-8431-4b29-9aef-456ff3a63bef"
	if !bytes.Contains(block, []byte(id)) {
		return nil, 0, fmt.Errorf("%s: the first anlage has no dokumentid %s", seedDoc, id)
	}
	var b bytes.Buffer
	b.Write(seed[:end])
	copies := 0
	for b.Len()+len(seed)-end < 20<<10 {
		copies++
		b.WriteString("\n                    ")
		b.Write(bytes.Replace(block, []byte(id), fmt.Appendf(nil, "ID_693a4b4a-8431-4b29-9aef-%012d", copies), 1))
	}
	b.Write(seed[end:])
	return b.Bytes(), copies, nil
}

// generateBig returns the seed message with a base64 attachment
// (xbeteiligung:dokument, 76-character lines) that makes it about size
// bytes: the 40 MB message of the schemas package's memory test.
func generateBig(seed []byte, size int) ([]byte, error) {
	raw := make([]byte, size*3/4)
	rand.NewChaCha8([32]byte{1}).Read(raw)
	b, err := testenv.WithDokument(seed, raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", seedDoc, err)
	}
	return b, nil
}
