package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

func runSchemas(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "list" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
			fmt.Fprintln(stdout, "Usage: drehscheibe schemas list [--schemas DIR]... [--config FILE] [--json]")
			return exitOK
		}
		fmt.Fprintln(stderr, "Usage: drehscheibe schemas list [--schemas DIR]... [--config FILE] [--json]")
		return exitUsage
	}
	fs := newFlags("schemas list", "[--schemas DIR]... [--config FILE] [--json]", stderr)
	var dirs multi
	fs.Var(&dirs, "schemas", "schema directory (repeatable); default: schemas.dirs of the config")
	cfgPath := fs.String("config", "", "configuration file to take schemas.dirs from")
	asJSON := fs.Bool("json", false, "print JSON")
	verbose := fs.Bool("types", false, "list every message type")
	if code, ok := parse(fs, args[1:]); !ok {
		return code
	}
	cat, err := loadCatalog(dirs, *cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "drehscheibe schemas list: %v\n", err)
		return exitUsage
	}
	defer cat.Close()
	pkgs := cat.Packages()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(pkgs)
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STANDARD\tVERSION\tNAMESPACE\tMESSAGE TYPES")
	for _, p := range pkgs {
		types := fmt.Sprintf("%d", len(p.MessageTypes))
		if *verbose {
			types = strings.Join(p.MessageTypes, " ")
		} else if len(p.MessageTypes) > 0 {
			types += " (" + p.MessageTypes[0]
			if len(p.MessageTypes) > 1 {
				types += ", …"
			}
			types += ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Standard, p.Version, p.Namespace, types)
	}
	_ = tw.Flush()
	return exitOK
}
