// Command drehscheibe is the XÖV/XTA message gateway. Run "drehscheibe help"
// for its commands; docs/operators.md documents them with their exit codes.
package main

import (
	"fmt"
	"io"
	"os"

	// Adapters register themselves with the delivery registry.
	_ "github.com/drehscheibe/drehscheibe/adapters/filedrop"
	_ "github.com/drehscheibe/drehscheibe/adapters/webhook"
)

// Exit codes.
const (
	exitOK      = 0
	exitInvalid = 1 // validate: some document is invalid; routes explain: no route; xta check: a check failed; dlq: a dead letter refused
	exitUsage   = 2 // usage or setup error
)

// version is set by the build (-ldflags "-X main.version=…").
var version = "dev"

type command struct {
	name, args, summary string
	run                 func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"serve", "[--config FILE]", "run the gateway", runServe},
		{"validate", "[--schemas DIR]... [--config FILE] [--json] FILE...", "validate XÖV messages offline (exit 0 valid, 1 invalid, 2 usage/setup error)", runValidate},
		{"schemas", "list [--schemas DIR]... [--config FILE] [--json]", "show the loaded standards, versions, namespaces and message types", runSchemas},
		{"routes", "explain [--config FILE] [--sender NAME] [--metadata FILE] FILE", "show which routing rule a message matches and why", runRoutes},
		{"xta", xtaArgs, "run the XTA 2 Version 3 conformance suite against a server (exit 0 all passed, 1 a check failed, 2 usage)", runXTA},
		{"keys", "hash [KEY]", "print the api_key_sha256 value for an API key (reads stdin without KEY)", runKeys},
		{"dlq", "list|show|replay|discard [--url URL] [--key KEY] [ID...]", "list, show, replay and discard dead letters through the admin API", runDLQ},
		{"version", "", "print the version", func([]string, io.Writer, io.Writer) int { fmt.Println("drehscheibe", version); return exitOK }},
	}
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "--version", "-version", "-v":
		fmt.Fprintln(stdout, "drehscheibe", version)
		return exitOK
	case "help", "--help", "-h":
		usage(stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "drehscheibe: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "drehscheibe — XÖV/XTA message gateway")
	fmt.Fprintln(w, "\nUsage: drehscheibe <command> [flags]   (drehscheibe <command> --help for details)")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n            %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintln(w, "\n  --version  print the version")
}
