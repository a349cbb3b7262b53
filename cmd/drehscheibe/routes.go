package main

import (
	"fmt"
	"io"
	"os"

	"github.com/drehscheibe/drehscheibe/gateway/config"
	"github.com/drehscheibe/drehscheibe/gateway/identify"
	"github.com/drehscheibe/drehscheibe/gateway/routing"
	"github.com/drehscheibe/drehscheibe/schemas"
)

func runRoutes(args []string, stdout, stderr io.Writer) int {
	const use = "explain [--config FILE] [--sender NAME] [--metadata FILE] FILE"
	if len(args) == 0 || args[0] != "explain" {
		fmt.Fprintln(stderr, "Usage: drehscheibe routes "+use)
		return exitUsage
	}
	fs := newFlags("routes explain", "[--config FILE] [--sender NAME] [--metadata FILE] FILE", stderr)
	cfgPath := fs.String("config", "", "configuration file (default $DREHSCHEIBE_CONFIG or ./"+defaultConfig+")")
	sender := fs.String("sender", "", "the sender to assume (routes may match on it)")
	metaPath := fs.String("metadata", "", "a metadata JSON file as sent in a multipart submission")
	if code, ok := parse(fs, args[1:]); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "drehscheibe routes explain: name exactly one message FILE")
		return exitUsage
	}
	cfg, err := config.Load(configPath(*cfgPath))
	if err != nil {
		fmt.Fprintf(stderr, "drehscheibe routes explain: invalid configuration:\n%v\n", err)
		return exitUsage
	}
	router, err := routing.New(cfg.Routes, cfg.Targets)
	if err != nil {
		fmt.Fprintf(stderr, "drehscheibe routes explain: %v\n", err)
		return exitUsage
	}
	doc, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "drehscheibe routes explain: %v\n", err)
		return exitUsage
	}
	facts, err := identify.Identify(doc)
	if err != nil {
		fmt.Fprintf(stderr, "drehscheibe routes explain: %s: %v\n", fs.Arg(0), err)
		return exitUsage
	}
	// The standard's name and version come from the schema catalog.
	if cat, err := schemas.Load(cfg.Schemas.Dirs...); err == nil {
		if p, ok := cat.Lookup(facts.Namespace); ok {
			facts.Standard, facts.Version = p.Standard, p.Version
		}
		cat.Close()
	} else {
		fmt.Fprintf(stderr, "drehscheibe routes explain: warning: schemas not loaded (%v); rules on standard cannot match\n", err)
	}
	if *metaPath != "" {
		raw, err := os.ReadFile(*metaPath)
		if err != nil {
			fmt.Fprintf(stderr, "drehscheibe routes explain: %v\n", err)
			return exitUsage
		}
		m, err := identify.ParseMetadata(raw)
		if err != nil {
			fmt.Fprintf(stderr, "drehscheibe routes explain: %s: %v\n", *metaPath, err)
			return exitUsage
		}
		merged, conflicts := identify.Merge(facts, m)
		for _, c := range conflicts {
			fmt.Fprintf(stderr, "drehscheibe routes explain: metadata conflict: %s: document %q, metadata %q\n", c.Field, c.Document, c.Metadata)
		}
		if len(conflicts) > 0 {
			return exitInvalid
		}
		facts = merged
	}
	in := routing.Input{Namespace: facts.Namespace, Standard: facts.Standard, MessageType: facts.MessageType,
		Reader: facts.Reader, Service: facts.Service, Sender: *sender, Test: facts.Test}
	fmt.Fprintf(stdout, "message: %s\n", fs.Arg(0))
	ex := router.Explain(in)
	fmt.Fprint(stdout, ex.String())
	if _, err := router.Route(in); err != nil {
		return exitInvalid
	}
	return exitOK
}
