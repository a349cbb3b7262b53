package identify

import (
	"os"
	"path/filepath"
	"testing"
)

// benchMessages are real messages of three standards and header forms,
// 2 to 20 KB; make bench posts the same ones to the gateway.
var benchMessages = []string{
	"xwasser/1.0.0/tests/administration_receipt.xml",
	"xbeteiligung/1.2/tests/res/example402FromCockpit.xml",
	"xdomea/3.0.0/examples/x-man/9a75050f-323a-4e84-94c9-a889aa2b4fe8_Aussonderung.Anbieteverzeichnis.0501.xml",
}

// BenchmarkIdentify reads the facts of real messages, one sub-benchmark each.
func BenchmarkIdentify(b *testing.B) {
	dir := sharedXOEV(b)
	for _, rel := range benchMessages {
		doc, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(filepath.Base(rel), func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if _, err := Identify(doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
