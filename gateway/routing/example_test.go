package routing

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/drehscheibe/drehscheibe/gateway/config"
)

const exampleConfig = "../../deploy/examples/drehscheibe.yaml"

// TestExampleConfig loads the demo configuration that `make run` uses and
// checks what its routes promise: production messages reach the demo
// Fachverfahren, test messages the test system.
func TestExampleConfig(t *testing.T) {
	// The demo schemas may not be unpacked where the test runs.
	t.Setenv("DREHSCHEIBE_SCHEMAS_DIRS", t.TempDir())
	c, err := config.Load(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Senders) != 1 || c.Senders[0].APIKeySHA256 != config.HashAPIKey("demo-key-change-me") {
		t.Errorf("demo sender: %+v", c.Senders)
	}
	var opts struct {
		Dir string `yaml:"dir"`
	}
	if err := c.Targets[0].DecodeOptions(&opts); err != nil || opts.Dir != "./data/outbox/fachverfahren-demo" {
		t.Errorf("fachverfahren-demo options: %v %+v", err, opts)
	}
	r, err := New(c.Routes, c.Targets)
	if err != nil {
		t.Fatal(err)
	}
	in := Input{Standard: "demo", MessageType: "demo.antrag.0001", Reader: "psw:01003110", Sender: "demo-portal"}
	if d, err := r.Route(in); err != nil || d.Target != "fachverfahren-demo" || d.Test {
		t.Errorf("production message: %+v, %v", d, err)
	}
	in.Test = true
	if d, err := r.Route(in); err != nil || d.Target != "testsystem" || !d.Test {
		t.Errorf("test message: %+v, %v", d, err)
	}
}

// TestExampleConfigCommentedExamples uncomments the commented examples
// (webhook and xta-push targets, XBau and XMeld rules, an XTA party and a
// pull source) and checks that they are valid too, so that an operator who
// enables them gets a working file.
func TestExampleConfigCommentedExamples(t *testing.T) {
	data, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	// Commented YAML lines are "  # - name: …" or "  #   key: …"; prose
	// comments start with a capital letter. Only targets and routes are
	// uncommented: nats.url is an alternative to the embedded server, not
	// an addition.
	code := regexp.MustCompile(`(?m)^(\s*)# (\s*(- )?[a-z_]+:( |$))`)
	i := bytes.Index(data, []byte("\ntargets:"))
	if i < 0 {
		t.Fatal("no targets section")
	}
	data = append(data[:i:i], code.ReplaceAll(data[i:], []byte("$1$2"))...)
	// The certificate files the examples name exist on the operator's machine.
	etc := t.TempDir()
	for _, f := range []string{"xta-client.pem", "xta-client-key.pem", "intermediaer-ca.pem"} {
		if err := os.WriteFile(filepath.Join(etc, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	data = bytes.ReplaceAll(data, []byte("/etc/drehscheibe/"), []byte(etc+"/"))
	t.Setenv("DREHSCHEIBE_SCHEMAS_DIRS", t.TempDir())
	c, err := config.Parse(data, os.LookupEnv)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if err := c.ValidateTargetTypes(func(typ string) bool {
		return typ == "filedrop" || typ == "webhook" || typ == "external" || typ == "xta-push"
	}); err != nil {
		t.Fatal(err)
	}
	if len(c.Targets) != 4 || len(c.Routes) != 3 || len(c.XTA.Parties) != 1 || len(c.XTA.Pull) != 1 {
		t.Fatalf("uncommented %d targets, %d routes, %d parties and %d pull sources, want 4, 3, 1 and 1",
			len(c.Targets), len(c.Routes), len(c.XTA.Parties), len(c.XTA.Pull))
	}
	r, err := New(c.Routes, c.Targets)
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.Route(Input{Namespace: "http://www.xleitstelle.de/xbau/2/6", Standard: "xbau", MessageType: "baugenehmigung.antrag.0200", Reader: "psw:01003110"})
	if err != nil || d.Target != "bauamt-webhook" {
		t.Errorf("XBau Bauantrag: %+v, %v", d, err)
	}
	d, err = r.Route(Input{Namespace: "http://www.osci.de/xmeld2611", Standard: "xmeld", Service: "anmeldung-online", Sender: "demo-portal"})
	if err != nil || d.Rule != "xmeld-anmeldung" || d.Target != "fachverfahren-demo" {
		t.Errorf("XMeld production message: %+v, %v", d, err)
	}
	// The XMeld rule takes production messages only; a test message falls
	// through to the catch-all and its test target.
	d, err = r.Route(Input{Namespace: "http://www.osci.de/xmeld2611", Standard: "xmeld", Service: "anmeldung-online", Sender: "demo-portal", Test: true})
	if err != nil || d.Rule != "catch-all" || d.Target != "testsystem" {
		t.Errorf("XMeld test message: %+v, %v", d, err)
	}
}
