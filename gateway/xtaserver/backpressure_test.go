package xtaserver_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
	"github.com/drehscheibe/drehscheibe/gateway/store"
)

// When JetStream cannot store (here: the submissions stream is at an
// operator's limit), sendMessage answers the technical fault 9030, a SOAP
// Receiver fault the client retries, and stores nothing: once there is room
// again, the same message id is accepted and delivered.
func TestSendMessageRefusedWhenStreamIsFull(t *testing.T) {
	e := startWith(t, "", `nats: {data_dir: %q, listen: "127.0.0.1:0"}`, "256KiB")
	nc, err := nats.Connect(e.g.Store.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, store.SubmissionsStream)
	require.NoError(t, err)
	msgs := func() uint64 {
		info, err := stream.Info(ctx)
		require.NoError(t, err)
		return info.State.Msgs
	}
	limit := func(maxMsgs int64) {
		c := stream.CachedInfo().Config
		c.MaxMsgs, c.Discard = maxMsgs, jetstream.DiscardNew
		_, err := js.UpdateStream(ctx, c)
		require.NoError(t, err)
	}

	require.NoError(t, e.send("before-the-limit", readerA, e.demo))
	limit(1)
	err = e.send("above-the-limit", readerA, e.demo)
	f := fault(t, err, xta.Internal.Code)
	assert.Equal(t, string(xta.TechnicalProblem), f.Exception)
	assert.Contains(t, f.SOAPCode, "Receiver", "a fault the client may retry")
	assert.True(t, xta.Temporary(err))
	assert.Equal(t, uint64(1), msgs(), "the refused message is not stored")

	limit(-1)
	require.NoError(t, e.send("above-the-limit", readerA, e.demo), "the refused message id is free")
	assert.Equal(t, uint64(2), msgs())
	require.NotEmpty(t, e.delivered())
}
