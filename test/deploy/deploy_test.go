// Package deploy checks the files in deploy/ against the code they configure:
// the NATS cluster configs load in nats-server, the Kubernetes ConfigMap is a
// valid drehscheibe config for a cluster, the systemd unit passes
// systemd-analyze and gives a graceful stop the time it needs, and the alert
// rules name only metrics the gateway exports.
package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"gopkg.in/yaml.v3"

	"github.com/drehscheibe/drehscheibe/gateway/config"
)

func root(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "..", "..")
}

func TestNATSClusterConfigsLoad(t *testing.T) {
	for _, v := range []string{"DREHSCHEIBE_NATS_PASSWORD", "NATS_SYS_PASSWORD", "NATS_ROUTE_PASSWORD"} {
		t.Setenv(v, "secret-"+strings.ToLower(v))
	}
	names := map[string]bool{}
	for i := 1; i <= 3; i++ {
		f := filepath.Join(root(t), "deploy", "nats-cluster", "nats-"+string(rune('0'+i))+".conf")
		o, err := server.ProcessConfigFile(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		names[o.ServerName] = true
		if !o.JetStream || !o.SyncAlways || o.Cluster.Name != "drehscheibe" || len(o.Routes) != 3 {
			t.Errorf("%s: jetstream %v, sync always %v, cluster %q with %d routes; want JetStream with fsync and 3 routes",
				f, o.JetStream, o.SyncAlways, o.Cluster.Name, len(o.Routes))
		}
		if o.MaxPayload != 1<<20 {
			t.Errorf("%s: max_payload %d; the gateway's object-store threshold assumes 1 MiB", f, o.MaxPayload)
		}
		found := false
		for _, u := range o.Users {
			if u.Username == "drehscheibe" && u.Password == "secret-drehscheibe_nats_password" && u.Account != nil && u.Account.Name == "DREHSCHEIBE" {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no user drehscheibe in account DREHSCHEIBE with the password from the environment", f)
		}
	}
	if len(names) != 3 {
		t.Errorf("server names %v are not three distinct names", names)
	}
}

// k8sDocs reads every YAML document of the Kubernetes manifests.
func k8sDocs(t *testing.T) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	files, err := filepath.Glob(filepath.Join(root(t), "deploy", "kubernetes", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); err != nil {
				break
			}
			if kind, _ := doc["kind"].(string); kind != "" {
				out[kind] = doc
			}
		}
	}
	return out
}

func dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func TestKubernetesManifests(t *testing.T) {
	docs := k8sDocs(t)
	cm := docs["ConfigMap"]
	raw, _ := dig(cm, "data", "drehscheibe.yaml").(string)
	if raw == "" {
		t.Fatal("the ConfigMap has no drehscheibe.yaml")
	}
	schemas := t.TempDir()
	cfg, err := config.Parse([]byte(raw), func(k string) (string, bool) {
		if k == "DREHSCHEIBE_SCHEMAS_DIRS" {
			return schemas, true // the volume /schemas does not exist here
		}
		return "", false
	})
	if err != nil {
		t.Fatalf("the ConfigMap's drehscheibe.yaml is not a valid config:\n%v", err)
	}
	if cfg.NATS.Embedded || cfg.NATS.Replicas != 3 || cfg.NATS.PasswordEnv == "" {
		t.Errorf("nats: embedded %v, replicas %d, password_env %q; want an external cluster with R3 and a password from the Secret",
			cfg.NATS.Embedded, cfg.NATS.Replicas, cfg.NATS.PasswordEnv)
	}

	dep := docs["Deployment"]
	if r, _ := dig(dep, "spec", "replicas").(int); r != 2 {
		t.Errorf("Deployment replicas = %v, want 2", dig(dep, "spec", "replicas"))
	}
	grace, _ := dig(dep, "spec", "template", "spec", "terminationGracePeriodSeconds").(int)
	if time.Duration(grace)*time.Second < cfg.Server.ShutdownTimeout+10*time.Second {
		t.Errorf("terminationGracePeriodSeconds %d leaves a graceful stop (server.shutdown_timeout %s) too little time", grace, cfg.Server.ShutdownTimeout)
	}
	containers, _ := dig(dep, "spec", "template", "spec", "containers").([]any)
	if len(containers) != 1 {
		t.Fatalf("%d containers, want 1", len(containers))
	}
	c := containers[0]
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if got := dig(c, probe, "httpGet", "path"); got != path {
			t.Errorf("%s path = %v, want %s", probe, got, path)
		}
	}
	if dig(c, "securityContext", "readOnlyRootFilesystem") != true || dig(c, "securityContext", "allowPrivilegeEscalation") != false {
		t.Error("the container must run with a read-only root file system and without privilege escalation")
	}
	if ref := dig(c, "envFrom"); !strings.Contains(yamlString(t, ref), "drehscheibe-secrets") {
		t.Error("the container does not take its environment from the Secret drehscheibe-secrets")
	}
	if docs["Service"] == nil || docs["PodDisruptionBudget"] == nil {
		t.Error("Service or PodDisruptionBudget missing")
	}
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		out, err := exec.Command(kubectl, "kustomize", filepath.Join(root(t), "deploy", "kubernetes")).CombinedOutput()
		if err != nil {
			t.Errorf("kubectl kustomize: %v\n%s", err, out)
		}
	}
}

func yamlString(t *testing.T, v any) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSystemdUnit(t *testing.T) {
	unit := filepath.Join(root(t), "deploy", "systemd", "drehscheibe.service")
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			settings[k] = v
		}
	}
	for k, want := range map[string]string{
		"Restart": "on-failure", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
		"DynamicUser": "yes", "StateDirectory": "drehscheibe", "KillSignal": "SIGTERM",
	} {
		if settings[k] != want {
			t.Errorf("%s=%q, want %q", k, settings[k], want)
		}
	}
	if !strings.Contains(string(b), "DREHSCHEIBE_NATS_DATA_DIR=/var/lib/drehscheibe/") {
		t.Error("the embedded JetStream store is not under /var/lib/drehscheibe")
	}
	stop, err := time.ParseDuration(settings["TimeoutStopSec"])
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	if def := config.Default().Server.ShutdownTimeout; stop < def+10*time.Second {
		t.Errorf("TimeoutStopSec=%s leaves a graceful stop (server.shutdown_timeout %s by default) too little time", stop, def)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	// verify wants the binary to exist; point it at one that does.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "drehscheibe.service")
	if err := os.WriteFile(tmp, bytes.ReplaceAll(b, []byte("/usr/local/bin/drehscheibe"), []byte(self)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", "--man=no", tmp).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

var metricName = regexp.MustCompile(`drehscheibe_[a-z_]+`)

func TestAlertRulesNameExportedMetrics(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(root(t), "gateway", "metrics", "metrics.go"))
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, m := range regexp.MustCompile(`Name:\s+"(drehscheibe_[a-z_]+)"`).FindAllSubmatch(src, -1) {
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			exported[string(m[1])+suffix] = true
		}
	}
	b, err := os.ReadFile(filepath.Join(root(t), "deploy", "prometheus", "drehscheibe-alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root(t), "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || r.Expr == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %+v lacks alert, expr or summary", r)
			}
			for _, m := range metricName.FindAllString(r.Expr, -1) {
				if !exported[m] {
					t.Errorf("%s: metric %s is not exported by the gateway", r.Alert, m)
				}
			}
			if !bytes.Contains(doc, []byte("`"+r.Alert+"`")) {
				t.Errorf("%s is not explained in docs/operations.md", r.Alert)
			}
		}
	}
	if n == 0 {
		t.Error("no alert rules")
	}
}
