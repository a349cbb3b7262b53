package api

import (
	"bytes"
	"strings"
	"testing"
)

func TestReadPart(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 20_000) // 320 kB
	for _, tc := range []struct {
		name     string
		data     []byte
		bound    int64
		wantErr  string
		maxSlack int // how much larger than the part its buffer may be
	}{
		{"small part, loose bound", []byte("<a/>"), 40 << 20, "", 64 << 10},
		{"empty part", nil, 0, "", 0},
		{"large part, exact bound", big, int64(len(big)), "", 0},
		{"large part, bound a little larger", big, int64(len(big)) + 300, "", 300},
		{"large part, far larger bound", big, int64(len(big)) + 8<<20, "", 16 << 10}, // trimmed; the allocator rounds up
		{"unknown bound", big, -1, "", len(big)},
		{"part longer than the body", big, int64(len(big)) - 1, "longer than the request body", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readPart(bytes.NewReader(tc.data), tc.bound)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.data) {
				t.Fatalf("got %d bytes, want %d", len(got), len(tc.data))
			}
			if slack := cap(got) - len(got); slack > tc.maxSlack {
				t.Errorf("buffer is %d bytes larger than the part, want at most %d", slack, tc.maxSlack)
			}
		})
	}
}
