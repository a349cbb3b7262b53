package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
	"github.com/drehscheibe/drehscheibe/adapters/xta/xtacheck"
)

const xtaArgs = "check --url URL [--cert FILE --key FILE] [--ca FILE] --author ID --reader ID [--message FILE] [--service URI] [--wait DURATION]"

// runXTA runs "xta check": the conformance suite against an XTA 2 v3 server.
// Exit 0: every check passed (or was skipped), 1: a check failed, 2: usage.
func runXTA(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintf(stderr, "Usage: drehscheibe xta %s\n", xtaArgs)
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
			return exitOK
		}
		return exitUsage
	}
	fs := newFlags("xta", xtaArgs, stderr)
	url := fs.String("url", "", "endpoint of the XTA server (https://…; one URL for all ports)")
	cert := fs.String("cert", "", "client certificate (PEM) that may act for --author and --reader")
	key := fs.String("key", "", "private key of --cert (PEM)")
	ca := fs.String("ca", "", "CA certificate(s) to verify the server with (PEM); default: the system's")
	author := fs.String("author", "", "party identifier that sends (oscimeta:Author), e.g. efa:demo-portal")
	reader := fs.String("reader", "", "party identifier whose message box is read, e.g. ags:09999000")
	idType := fs.String("type", "xoev", "type attribute of both party identifiers")
	message := fs.String("message", "", "XÖV message the server accepts from --author for --reader's box; without it the send and box checks are skipped")
	service := fs.String("service", "", "service URI for sendMessage and lookupService")
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for the sent message in the box")
	if code, ok := parse(fs, args[1:]); !ok {
		return code
	}
	if *url == "" || *author == "" || *reader == "" || (*cert == "") != (*key == "") {
		fmt.Fprintln(stderr, "drehscheibe xta check: --url, --author and --reader are required; --cert and --key go together")
		fs.Usage()
		return exitUsage
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if *cert != "" {
		c, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			fmt.Fprintf(stderr, "drehscheibe xta check: --cert/--key: %v\n", err)
			return exitUsage
		}
		tc.Certificates = []tls.Certificate{c}
	}
	if *ca != "" {
		pem, err := os.ReadFile(*ca)
		if err != nil {
			fmt.Fprintf(stderr, "drehscheibe xta check: --ca: %v\n", err)
			return exitUsage
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			fmt.Fprintf(stderr, "drehscheibe xta check: --ca: no PEM certificate in %s\n", *ca)
			return exitUsage
		}
	}
	cfg := xtacheck.Config{
		URL: *url, HTTP: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}},
		Author: xta.PartyIdentifier{Value: *author, Type: *idType}, Reader: xta.PartyIdentifier{Value: *reader, Type: *idType},
		Service: *service, Wait: *wait,
	}
	if *message != "" {
		b, err := os.ReadFile(*message)
		if err != nil {
			fmt.Fprintf(stderr, "drehscheibe xta check: --message: %v\n", err)
			return exitUsage
		}
		cfg.Message = b
	}
	failed := 0
	for _, r := range xtacheck.Run(context.Background(), cfg) {
		if r.Reason == "" {
			fmt.Fprintf(stdout, "%s  %s\n", r.Status, r.Name)
		} else {
			fmt.Fprintf(stdout, "%s  %s: %s\n", r.Status, r.Name, r.Reason)
		}
		if r.Status == "FAIL" {
			failed++
		}
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "%d checks failed\n", failed)
		return exitInvalid
	}
	return exitOK
}
