package inflight

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLimiterBoundsCountAndBytes(t *testing.T) {
	l := New(2, 100)
	r1, no := l.Acquire(60)
	require.Nil(t, no)
	_, no = l.Acquire(50)
	require.NotNil(t, no, "60+50 bytes exceed 100")
	assert.Equal(t, Refusal{Key: "server.max_in_flight_bytes", Limit: 100}, *no)
	r2, no := l.Acquire(40)
	require.Nil(t, no)
	_, no = l.Acquire(0)
	require.NotNil(t, no, "a third request exceeds the count")
	assert.Equal(t, Refusal{Key: "server.max_in_flight", Limit: 2}, *no)

	r1()
	r1() // a second release changes nothing
	r3, no := l.Acquire(60)
	require.Nil(t, no, "the released reservation is free again")
	_, no = l.Acquire(0)
	require.NotNil(t, no, "the double release did not free a second slot")
	r2()
	r3()
	assert.Zero(t, l.count)
	assert.Zero(t, l.bytes)
}

func TestNilLimiterAdmitsAll(t *testing.T) {
	var l *Limiter
	release, no := l.Acquire(1 << 40)
	require.Nil(t, no)
	release()
}
