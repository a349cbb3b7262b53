package schemas

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// BenchmarkValidate validates each real message, one sub-benchmark per file.
func BenchmarkValidate(b *testing.B) {
	c := shared(b)
	root := sharedDir(b, "xoev")
	for _, f := range realMessages(b) {
		doc, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		b.Run(rel, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				c.Validate(doc)
			}
		})
	}
}

// BenchmarkValidateParallel validates all real messages round robin on
// GOMAXPROCS goroutines.
func BenchmarkValidateParallel(b *testing.B) {
	c := shared(b)
	var docs [][]byte
	for _, f := range realMessages(b) {
		doc, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		docs = append(docs, doc)
	}
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Validate(docs[next.Add(1)%int64(len(docs))])
		}
	})
}

// BenchmarkValidateBig validates a generated 40 MB message with a base64
// attachment from memory and from a file.
func BenchmarkValidateBig(b *testing.B) {
	c := shared(b)
	doc := bigDocument(b, 40<<20, "\n")
	path := writeFile(b, b.TempDir(), "big.xml", string(doc))
	b.Run("Validate", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			c.Validate(doc)
		}
	})
	b.Run("ValidateFile", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			c.ValidateFile(path)
		}
	})
}

// BenchmarkScan measures the limit scanner alone over all real messages, to
// compare with BenchmarkValidateParallel: its cost is part of every Validate.
func BenchmarkScan(b *testing.B) {
	var docs [][]byte
	var size int64
	for _, f := range realMessages(b) {
		doc, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		docs = append(docs, doc)
		size += int64(len(doc))
	}
	b.SetBytes(size)
	l := DefaultLimits()
	for b.Loop() {
		for _, doc := range docs {
			if r := scan(doc, l); r != nil {
				b.Fatalf("refused: %+v", r.Errors)
			}
		}
	}
}
