package delivery

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestContentReadersAreChecked(t *testing.T) {
	ctx := context.Background()
	good := BytesContent([]byte("<antrag/>"))
	b, err := good.ReadAll(ctx)
	if err != nil || string(b) != "<antrag/>" || good.Size != 9 {
		t.Fatalf("ReadAll = %q, %v (size %d)", b, err, good.Size)
	}
	for name, data := range map[string]string{
		"shorter":                "<antrag",
		"longer":                 "<antrag/>\n",
		"same size, other bytes": "<antrax/>",
	} {
		c := NewContent(good.Size, good.SHA256, func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader(data)), nil
		})
		if _, err := c.ReadAll(ctx); !errors.Is(err, ErrContentMismatch) {
			t.Errorf("%s: ReadAll error %v, want ErrContentMismatch", name, err)
		}
		rc, _ := c.Open(ctx)
		if _, err := io.Copy(io.Discard, rc); !errors.Is(err, ErrContentMismatch) {
			t.Errorf("%s: copy error %v, want ErrContentMismatch", name, err)
		}
	}
}
