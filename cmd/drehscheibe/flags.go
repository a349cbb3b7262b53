package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/drehscheibe/drehscheibe/gateway"
	"github.com/drehscheibe/drehscheibe/gateway/config"
	"github.com/drehscheibe/drehscheibe/schemas"
)

// defaultConfig is used when --config is not given and DREHSCHEIBE_CONFIG is unset.
const defaultConfig = "drehscheibe.yaml"

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func newFlags(name, args string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: drehscheibe %s %s\n\nFlags:\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags; it reports whether to go on and, if not, the exit code.
func parse(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	return 0, true
}

func configPath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := os.Getenv("DREHSCHEIBE_CONFIG"); v != "" {
		return v
	}
	return defaultConfig
}

// loadCatalog compiles the schema packages of --schemas, or of the config's schemas.dirs.
func loadCatalog(dirs []string, cfgFlag string) (*schemas.Catalog, error) {
	limits := schemas.DefaultLimits()
	if len(dirs) == 0 {
		cfg, err := config.Load(configPath(cfgFlag))
		if err != nil {
			return nil, fmt.Errorf("no --schemas given and the config cannot be used: %w", err)
		}
		dirs = cfg.Schemas.Dirs
		limits = gateway.XMLLimits(cfg.Limits)
	}
	for _, d := range dirs {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("schema directory %s: not a readable directory", d)
		}
	}
	cat, err := schemas.Load(dirs...)
	if err != nil {
		return nil, err
	}
	if err := cat.SetLimits(limits); err != nil {
		cat.Close()
		return nil, err
	}
	return cat, nil
}
