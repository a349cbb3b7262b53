package delivery

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"2":                               2 * time.Second,
		" 120 ":                           2 * time.Minute,
		"Tue, 01 Dec 2026 12:00:05 GMT":   5 * time.Second,
		"Tuesday, 01-Dec-26 12:01:00 GMT": time.Minute,
		"99999999999999999999":            0, // not a uint64: unreadable
		"9999999999":                      24 * time.Hour,
		"0":                               0,
		"-3":                              0,
		"1.5":                             0,
		"soon":                            0,
		"":                                0,
		"Tue, 01 Dec 2026 11:59:00 GMT":   0, // passed
	} {
		got, ok := ParseRetryAfter(v, now)
		if got != want || ok != (want > 0) {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v", v, got, ok, want)
		}
	}
}

func TestRetryAfterTravelsWithTheError(t *testing.T) {
	base := errors.New("receiver answered 503")
	err := fmt.Errorf("webhook: %w", RetryAfter(base, 2*time.Second))
	if d, ok := RetryAfterOf(err); !ok || d != 2*time.Second {
		t.Fatalf("RetryAfterOf = %v, %v", d, ok)
	}
	if !errors.Is(err, base) || err.Error() != "webhook: receiver answered 503" {
		t.Fatalf("the marked error changed: %v", err)
	}
	if IsPermanent(err) {
		t.Fatal("a refusal for now is not permanent")
	}
	if _, ok := RetryAfterOf(base); ok {
		t.Fatal("an unmarked error asks for no wait")
	}
	if RetryAfter(base, 0) != base || RetryAfter(nil, time.Second) != nil {
		t.Fatal("no wait, or no error, leaves the error as it is")
	}
}
