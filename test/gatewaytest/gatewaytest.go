// Package gatewaytest starts the real gateway inside a test: from a YAML
// configuration (embedded NATS in the data directory it names, listeners on
// 127.0.0.1), shut down when the test ends. Only tests import it. It is not
// part of test/testenv because tests inside packages the gateway is built
// from (gateway/identify) import testenv, and testenv importing the gateway
// would be an import cycle.
package gatewaytest

import (
	"context"
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
