package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/drehscheibe/drehscheibe/schemas"
)

type fileReport struct {
	File string `json:"file"`
	*schemas.Report
}

func runValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", "[--schemas DIR]... [--config FILE] [--json] FILE...", stderr)
	var dirs multi
	fs.Var(&dirs, "schemas", "schema directory (repeatable); default: schemas.dirs of the config")
	cfgPath := fs.String("config", "", "configuration file to take schemas.dirs and the XML limits from")
	asJSON := fs.Bool("json", false, "print the reports as JSON")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "drehscheibe validate: name at least one FILE")
		fs.Usage()
		return exitUsage
	}
	for _, f := range fs.Args() {
		if _, err := os.Stat(f); err != nil {
			fmt.Fprintf(stderr, "drehscheibe validate: %v\n", err)
			return exitUsage
		}
	}
	cat, err := loadCatalog(dirs, *cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "drehscheibe validate: %v\n", err)
		return exitUsage
	}
	defer cat.Close()

	code := exitOK
	var reports []fileReport
	for _, f := range fs.Args() {
		r := cat.ValidateFile(f)
		if !r.Valid() {
			code = exitInvalid
		}
		reports = append(reports, fileReport{File: f, Report: r})
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(reports)
		return code
	}
	for _, r := range reports {
		printReport(stdout, r)
	}
	return code
}

func printReport(w io.Writer, r fileReport) {
	what := r.Root
	if r.Standard != "" {
		what = fmt.Sprintf("%s %s %s", r.Standard, r.Version, r.Root)
	}
	switch r.Outcome {
	case schemas.OutcomeValid:
		fmt.Fprintf(w, "%s: valid (%s)\n", r.File, what)
		return
	case schemas.OutcomeUnknownRoot:
		fmt.Fprintf(w, "%s: unknown message: no loaded standard declares {%s}%s\n", r.File, r.Namespace, r.Root)
		for _, ns := range r.Known {
			fmt.Fprintf(w, "  loaded: %s\n", ns)
		}
	default:
		fmt.Fprintf(w, "%s: %s (%s), %d errors\n", r.File, r.Outcome, what, len(r.Errors))
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  %s:%d:%d: %s: %s\n", r.File, e.Line, e.Column, e.Level, e.Message)
	}
}
