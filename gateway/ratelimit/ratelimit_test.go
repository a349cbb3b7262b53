package ratelimit

import "testing"

func TestNoLimit(t *testing.T) {
	b := New(0, 5)
	if b != nil {
		t.Fatalf("New(0, 5) = %v, want nil (no limit)", b)
	}
	for i := 0; i < 100; i++ {
		if secs := b.Take(); secs != 0 {
			t.Fatalf("take %d on no limit: retry after %d s, want 0", i, secs)
		}
	}
}

func TestBurstThenRetryAfter(t *testing.T) {
	b := New(1, 3)
	for i := 0; i < 3; i++ {
		if secs := b.Take(); secs != 0 {
			t.Fatalf("take %d within the burst of 3: retry after %d s, want 0", i, secs)
		}
	}
	if secs := b.Take(); secs != 1 {
		t.Fatalf("take after the burst at 1/s: retry after %d s, want 1", secs)
	}
	// A refused take takes no token: the next one waits no longer.
	if secs := b.Take(); secs != 1 {
		t.Fatalf("second refused take: retry after %d s, want 1 (the refusal must not consume a token)", secs)
	}
}
