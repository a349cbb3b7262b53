// Package gatewaytest starts the real gateway inside a test: from a YAML
// configuration (embedded NATS in the data directory it names, listeners on
// 127.0.0.1), shut down when the test ends. Only tests import it. It is not
// part of test/testenv because tests inside packages the gateway is built
// from (gateway/identify) import testenv, and testenv importing the gateway
// would be an import cycle.
package gatewaytest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/drehscheibe/drehscheibe/gateway"
	"github.com/drehscheibe/drehscheibe/gateway/config"
	"github.com/drehscheibe/drehscheibe/test/testenv"
)

// Start starts the gateway yaml configures (no environment variable
// overrides it) like StartConfig.
func Start(t testing.TB, yaml string, logs *testenv.LogBuffer) *gateway.Gateway {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), nil)
	require.NoError(t, err)
	return StartConfig(t, cfg, logs)
}

// StartConfig starts the gateway of cfg and shuts it down (within 10 s)
// when the test ends. With logs it logs JSON at debug level into logs;
// with nil it logs nothing.
func StartConfig(t testing.TB, cfg *config.Config, logs *testenv.LogBuffer) *gateway.Gateway {
	t.Helper()
	log := zap.NewNop()
	if logs != nil {
		log = zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(logs), zap.DebugLevel))
	}
	ctx := context.Background()
	g, err := gateway.New(ctx, cfg, log)
	require.NoError(t, err)
	_, err = g.Start(ctx)
	require.NoError(t, err)
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = g.Shutdown(sctx)
	})
	return g
}

// Submit posts doc as application/xml to the REST API at base (the URL
// before /v1) with the sender's API key, requires 202 Accepted and returns
// the submission id.
func Submit(t testing.TB, base, key string, doc []byte) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/v1/submissions", bytes.NewReader(doc))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/xml")
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, res.StatusCode, string(body))
	var sub struct{ ID string }
	require.NoError(t, json.Unmarshal(body, &sub))
	return sub.ID
}
