package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// env returns an environment lookup over a map.
func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// schemaDir returns a directory that satisfies schemas.dirs.
func schemaDir(t *testing.T) string {
	t.Helper()
	return t.TempDir()
}

// minimal is the smallest valid file: everything else has a default.
func minimal(t *testing.T) string {
	return "schemas:\n  dirs: [" + schemaDir(t) + "]\n"
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal(t)+`
targets:
  - name: fv
    type: filedrop
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	if !reflect.DeepEqual(c.Server, want.Server) || !reflect.DeepEqual(c.NATS, want.NATS) || c.Log != want.Log || c.Limits != want.Limits {
		t.Errorf("defaults not applied:\n got %+v %+v %+v\nwant %+v %+v %+v", c.Server, c.NATS, c.Log, want.Server, want.NATS, want.Log)
	}
	if c.Server.Listen != "127.0.0.1:8080" || c.Server.MaxBodyBytes != 16<<20 || c.Server.MaxAttachments != 32 ||
		!c.NATS.Embedded || !c.NATS.SyncAlways || c.NATS.DataDir != "./data/nats" || c.NATS.Listen != "" ||
		c.NATS.DuplicateWindow != 24*time.Hour || c.NATS.PayloadRetention != 168*time.Hour ||
		c.NATS.EventRetention != 720*time.Hour || c.NATS.JanitorInterval != 10*time.Minute {
		t.Errorf("unexpected defaults: %+v %+v", c.Server, c.NATS)
	}
	tg := c.Targets[0]
	if tg.Concurrency != 4 || tg.MaxAttempts != 10 || tg.AckWait != 60*time.Second || tg.Test ||
		tg.Retry != (Retry{Initial: time.Second, Max: 5 * time.Minute}) || tg.MaxAge != 168*time.Hour {
		t.Errorf("target defaults: %+v", tg)
	}
}

func TestExplicitFalseAndZeroSurvive(t *testing.T) {
	c, err := Parse([]byte(minimal(t)+`
nats:
  embedded: false
  url: nats://a:4222,nats://b:4222
  sync_always: false
  replicas: 3
server:
  max_attachments: 0
  max_body_bytes: 1MiB
  read_timeout: 90s
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.NATS.Embedded || c.NATS.SyncAlways || c.NATS.Replicas != 3 || c.Server.MaxAttachments != 0 ||
		c.Server.MaxBodyBytes != MiB || c.Server.ReadTimeout != 90*time.Second {
		t.Errorf("file values lost: %+v %+v", c.NATS, c.Server)
	}
}

func TestEnvOverrides(t *testing.T) {
	d1, d2 := schemaDir(t), schemaDir(t)
	c, err := Parse([]byte(`
server:
  listen: 127.0.0.1:8080
nats:
  data_dir: /var/lib/x
schemas:
  dirs: [/does/not/exist]
`), env(map[string]string{
		"DREHSCHEIBE_SERVER_LISTEN":         ":9090",
		"DREHSCHEIBE_SERVER_MAX_BODY_BYTES": "32MiB",
		"DREHSCHEIBE_SERVER_WRITE_TIMEOUT":  "2m",
		"DREHSCHEIBE_NATS_DATA_DIR":         "/srv/nats",
		"DREHSCHEIBE_NATS_SYNC_ALWAYS":      "false",
		"DREHSCHEIBE_SCHEMAS_DIRS":          d1 + ", " + d2 + ",",
		"DREHSCHEIBE_LOG_LEVEL":             "debug",
		"DREHSCHEIBE_UNRELATED":             "ignored",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Listen != ":9090" || c.Server.MaxBodyBytes != 32*MiB || c.Server.WriteTimeout != 2*time.Minute ||
		c.NATS.DataDir != "/srv/nats" || c.NATS.SyncAlways || c.Log.Level != "debug" ||
		!reflect.DeepEqual(c.Schemas.Dirs, []string{d1, d2}) {
		t.Errorf("overrides not applied: %+v %+v %+v %+v", c.Server, c.NATS, c.Schemas, c.Log)
	}
}

func TestEnvErrorsNameVariableAndKey(t *testing.T) {
	_, err := Parse([]byte(minimal(t)), env(map[string]string{
		"DREHSCHEIBE_NATS_REPLICAS":         "three",
		"DREHSCHEIBE_SERVER_READ_TIMEOUT":   "30",
		"DREHSCHEIBE_NATS_EMBEDDED":         "ja",
		"DREHSCHEIBE_SERVER_MAX_BODY_BYTES": "16M",
	}))
	for _, want := range []string{
		`nats.replicas: want an integer, got "three" (from DREHSCHEIBE_NATS_REPLICAS)`,
		`server.read_timeout: "30" has no unit; write a duration such as "30s", "5m" or "24h" (from DREHSCHEIBE_SERVER_READ_TIMEOUT)`,
		`nats.embedded: want true or false, got "ja" (from DREHSCHEIBE_NATS_EMBEDDED)`,
		`server.max_body_bytes: "16M" has an unknown unit "M"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nlacks %q", err, want)
		}
	}
	// A valid value from the environment that Validate refuses names the variable too.
	_, err = Parse([]byte(minimal(t)), env(map[string]string{"DREHSCHEIBE_SERVER_LISTEN": "localhost"}))
	if want := `server.listen: "localhost" is not host:port, e.g. "127.0.0.1:8080" or ":8080" (from DREHSCHEIBE_SERVER_LISTEN)`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestEnvVars(t *testing.T) {
	got := map[string]string{}
	for _, v := range EnvVars() {
		got[v.Name] = v.Key
	}
	for name, key := range map[string]string{
		"DREHSCHEIBE_SERVER_LISTEN":           "server.listen",
		"DREHSCHEIBE_SERVER_PUBLIC_URL":       "server.public_url",
		"DREHSCHEIBE_SERVER_MAX_BODY_BYTES":   "server.max_body_bytes",
		"DREHSCHEIBE_NATS_DATA_DIR":           "nats.data_dir",
		"DREHSCHEIBE_NATS_DUPLICATE_WINDOW":   "nats.duplicate_window",
		"DREHSCHEIBE_NATS_LISTEN":             "nats.listen",
		"DREHSCHEIBE_SCHEMAS_DIRS":            "schemas.dirs",
		"DREHSCHEIBE_LOG_LEVEL":               "log.level",
		"DREHSCHEIBE_SERVER_SHUTDOWN_TIMEOUT": "server.shutdown_timeout",
		"DREHSCHEIBE_NATS_CREDS_FILE":         "nats.creds_file",
		"DREHSCHEIBE_NATS_PASSWORD_ENV":       "nats.password_env",
		"DREHSCHEIBE_NATS_TLS_CA_FILE":        "nats.tls.ca_file",
		"DREHSCHEIBE_NATS_TLS_KEY_FILE":       "nats.tls.key_file",
		"DREHSCHEIBE_XTA_TLS_CLIENT_CA_FILE":  "xta.tls.client_ca_file",
		"DREHSCHEIBE_XTA_ALLOW_PLAIN_HTTP":    "xta.allow_plain_http",
		"DREHSCHEIBE_XTA_SYNC_TIMEOUT":        "xta.sync_timeout",
		"DREHSCHEIBE_SERVER_MAX_IN_FLIGHT":    "server.max_in_flight",
		"DREHSCHEIBE_XTA_RATE_LIMIT_BURST":    "xta.rate_limit.burst",
	} {
		if got[name] != key {
			t.Errorf("EnvVars: %s → %q, want %q", name, got[name], key)
		}
	}
	for name := range got {
		for _, list := range []string{"SENDERS", "ADMINS", "TARGETS", "ROUTES", "XTA_PARTIES", "XTA_PULL"} {
			if strings.HasPrefix(name, EnvPrefix+list) {
				t.Errorf("EnvVars lists %s, but list entries are not overridable", name)
			}
		}
	}
	if len(got) != 57 {
		t.Errorf("EnvVars has %d variables, want 57 (17 server, 19 nats, 3 schemas, 4 limits, 2 log, 12 xta); update the count when adding keys", len(got))
	}
}

func TestUnknownKeysFailWithLine(t *testing.T) {
	dir := schemaDir(t)
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"top level", "schemas: {dirs: [" + dir + "]}\nroute: []\n", `line 2: route: unknown key (did you mean "routes"?)`},
		{"top level far off", "schemas: {dirs: [" + dir + "]}\nrouting: []\n", `line 2: routing: unknown key; the top level takes: admins, limits, log, nats, readers, routes, schemas, senders, server, targets`},
		{"removed key", "schemas: {dirs: [" + dir + "]}\nnats:\n  max_age: 720h\n", `line 3: nats.max_age: no longer a key: streams no longer drop messages by age, delivered or not; use nats.payload_retention`},
		{"nested", "schemas: {dirs: [" + dir + "]}\nserver:\n  lisen: :80\n", `line 3: server.lisen: unknown key (did you mean "listen"?)`},
		{"far off", "schemas: {dirs: [" + dir + "]}\nnats:\n  cluster: x\n", `line 3: nats.cluster: unknown key; nats takes: creds_file, data_dir, duplicate_window, embedded`},
		{"in a list entry", "schemas: {dirs: [" + dir + "]}\ntargets:\n  - name: a\n    type: filedrop\n  - name: b\n    type: filedrop\n    retries: 3\n", `line 7: targets[1].retries: unknown key`},
		{"in a route match", "schemas: {dirs: [" + dir + "]}\nroutes:\n  - name: a\n    target: a\n    match:\n      messagetype: x\n", `line 6: routes[0].match.messagetype: unknown key (did you mean "message_type"?)`},
		{"duplicate key", "schemas: {dirs: [" + dir + "]}\nlog:\n  level: info\n  level: debug\n", `line 4: log.level: key given twice (first at line 3)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), env(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nlacks %q", err, tc.want)
			}
		})
	}
}

func TestTypeErrorsNameKey(t *testing.T) {
	dir := schemaDir(t)
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"duration without unit", "server:\n  read_timeout: 30\n", `line 2: server.read_timeout: "30" has no unit`},
		{"bad duration", "nats:\n  payload_retention: forever\n", `line 2: nats.payload_retention: "forever" is not a duration`},
		{"bad int", "targets:\n  - name: a\n    type: filedrop\n    concurrency: many\n", `line 4: targets[0].concurrency: want an integer, got "many"`},
		{"bad bool", "nats:\n  embedded: yes\n", `line 2: nats.embedded: want true or false, got "yes"`},
		{"bad size", "server:\n  max_body_bytes: 16 megs\n", `line 2: server.max_body_bytes: "16 megs" has an unknown unit "megs"`},
		{"list wanted", "schemas:\n  dirs: " + dir + "\n", `line 2: schemas.dirs: want a list, got "`},
		{"mapping wanted", "server: fast\n", `line 1: server: want a mapping of keys, got "fast"`},
		{"yaml syntax", "server:\n  listen: [\n", `line 2: invalid YAML: did not find expected node content`},
		{"two documents", "log: {level: info}\n---\nlog: {level: debug}\n", `line 2: a second YAML document`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), env(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nlacks %q", err, tc.want)
			}
		})
	}
}

// TestValidationErrorsNameKeys gives one invalid value per case and checks
// that the error names its key (and, for values from the file, its line).
func TestValidationErrorsNameKeys(t *testing.T) {
	dir := schemaDir(t)
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	base := "schemas: {dirs: [" + dir + "]}\n"
	hash := HashAPIKey("k")
	targets := "targets:\n  - {name: fv, type: filedrop}\n  - {name: test, type: filedrop, test: true}\n"
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"listen", base + "server: {listen: localhost}\n", `line 2: server.listen: "localhost" is not host:port`},
		{"listen port", base + "server: {listen: ':http'}\n", `server.listen: ":http" has no valid port number`},
		{"public url", base + "server: {public_url: gateway.example.de}\n", `server.public_url: "gateway.example.de" is not an absolute http or https URL`},
		{"public url query", base + "server: {public_url: 'https://x.de/?a=b'}\n", `server.public_url: "https://x.de/?a=b" must not have a user, query or fragment`},
		{"timeout", base + "server: {write_timeout: 0s}\n", `line 2: server.write_timeout: must be positive`},
		{"body", base + "server: {max_body_bytes: 0}\n", `server.max_body_bytes: must be positive`},
		{"attachments", base + "server: {max_attachments: -1}\n", `server.max_attachments: must not be negative`},
		{"attachment bytes", base + "server: {max_attachment_bytes: 0}\n", `line 2: server.max_attachment_bytes: must be positive`},
		{"tls key missing", base + "server: {tls: {cert_file: config.go}}\n", `server.tls.key_file: required when server.tls.cert_file is set`},
		{"tls cert missing", base + "server: {tls: {client_ca_file: config.go}}\n", `server.tls.cert_file: required when server.tls.key_file or server.tls.client_ca_file is set`},
		{"tls no such file", base + "server: {tls: {cert_file: /nonexistent/tls.crt, key_file: /nonexistent/tls.key}}\n", `line 2: server.tls.cert_file: "/nonexistent/tls.crt": no such file`},
		{"xml depth", base + "limits: {max_xml_depth: 0}\n", `line 2: limits.max_xml_depth: must be between 1 and 100000, got 0`},
		{"xml depth too deep", base + "limits: {max_xml_depth: 1000000}\n", `limits.max_xml_depth: must be between 1 and 100000, got 1000000`},
		{"xml attributes", base + "limits: {max_xml_attributes: -3}\n", `limits.max_xml_attributes: must be at least 1, got -3`},
		{"xml attribute bytes", base + "limits: {max_xml_attribute_bytes: 0}\n", `limits.max_xml_attribute_bytes: must be between 1 and 1GiB`},
		{"xml namespaces", base + "limits: {max_xml_namespaces: 0}\n", `limits.max_xml_namespaces: must be at least 1, got 0`},
		{"nats url while embedded", base + "nats: {url: 'nats://x:4222'}\n", `nats.url: is set, but nats.embedded is true`},
		{"nats url required", base + "nats: {embedded: false}\n", `nats.url: required when nats.embedded is false`},
		{"nats url scheme", base + "nats: {embedded: false, url: 'http://x:4222'}\n", `nats.url: "http://x:4222" is not a NATS URL`},
		{"nats listen", base + "nats: {listen: '4222'}\n", `nats.listen: "4222" is not host:port`},
		{"nats listen external", base + "nats: {embedded: false, url: 'nats://x', listen: ':4222'}\n", `nats.listen: applies to the embedded server only`},
		{"nats data dir", base + "nats: {data_dir: ''}\n", `nats.data_dir: required for the embedded server`},
		{"replicas embedded", base + "nats: {replicas: 3}\n", `line 2: nats.replicas: must be 1 for the embedded server`},
		{"replicas range", base + "nats: {embedded: false, url: 'nats://x', replicas: 7}\n", `nats.replicas: must be between 1 and 5, got 7`},
		{"dup window", base + "nats: {duplicate_window: 48h, payload_retention: 24h}\n", `nats.duplicate_window: 48h0m0s is longer than nats.payload_retention 24h0m0s`},
		{"payload retention", base + "nats: {payload_retention: 0s}\n", `line 2: nats.payload_retention: must be positive`},
		{"event retention", base + "nats: {event_retention: 100h}\n", `nats.event_retention: 100h0m0s must be longer than nats.payload_retention 168h0m0s`},
		{"janitor interval", base + "nats: {janitor_interval: 0s}\n", `nats.janitor_interval: must be positive`},
		{"creds while embedded", base + "nats: {creds_file: " + file + "}\n", `line 2: nats.creds_file: applies to an external NATS server only`},
		{"tls while embedded", base + "nats:\n  tls: {ca_file: " + file + "}\n", `line 3: nats.tls.ca_file: applies to an external NATS server only`},
		{"creds missing", base + "nats: {embedded: false, url: 'nats://x', creds_file: /no/such.creds}\n", `nats.creds_file: "/no/such.creds": no such file or directory`},
		{"creds and user", base + "nats: {embedded: false, url: 'nats://x', creds_file: " + file + ", user: gw, password_env: PW}\n", `nats.user: is set together with nats.creds_file`},
		{"user without password", base + "nats: {embedded: false, url: 'nats://x', user: gw}\n", `nats.password_env: required with nats.user`},
		{"password without user", base + "nats: {embedded: false, url: 'nats://x', password_env: PW}\n", `nats.user: required with nats.password_env`},
		{"password in the file", base + "nats: {embedded: false, url: 'nats://x', user: gw, password_env: 's3cr3t!'}\n", `nats.password_env: "s3cr3t!" is not an environment variable name`},
		{"cert without key", base + "nats:\n  embedded: false\n  url: 'nats://x'\n  tls: {cert_file: " + file + "}\n", `line 5: nats.tls: cert_file and key_file go together`},
		{"ca is a dir", base + "nats:\n  embedded: false\n  url: 'nats://x'\n  tls: {ca_file: " + dir + "}\n", `nats.tls.ca_file: "` + dir + `" is a directory`},
		{"schemas required", "log: {level: info}\n", `schemas.dirs: required`},
		{"schemas missing", "schemas: {dirs: [" + dir + ", ./no/such/dir]}\n", `line 1: schemas.dirs[1]: "./no/such/dir": no such directory (relative to the working directory`},
		{"schemas file", "schemas:\n  dirs:\n    - " + file + "\n", `line 3: schemas.dirs[0]: "` + file + `" is not a directory`},
		{"schemas dup", "schemas: {dirs: [" + dir + ", " + dir + "/]}\n", `schemas.dirs[1]: "` + dir + `/" is already listed as schemas.dirs[0]`},
		{"log level", base + "log: {level: verbose}\n", `line 2: log.level: "verbose" is not a level; use one of debug, info, warn, error`},
		{"sender name", base + "senders:\n  - {name: Portal, api_key_sha256: " + hash + "}\n", `line 3: senders[0].name: "Portal" must be lower-case`},
		{"sender dup", base + "senders:\n  - {name: p, api_key_sha256: " + hash + "}\n  - {name: p, api_key_sha256: " + HashAPIKey("j") + "}\n", `line 4: senders[1].name: "p" is already used by senders[0]`},
		{"sender key plain", base + "senders:\n  - {name: p, api_key_sha256: secret-key}\n", `senders[0].api_key_sha256: must be 64 hex digits, the SHA-256 of the API key (printf %s "$KEY" | sha256sum), not the key itself; got 10 characters`},
		{"sender key missing", base + "senders:\n  - {name: p}\n", `senders[0].api_key_sha256: required`},
		{"sender allow empty pattern", base + "senders:\n  - {name: p, api_key_sha256: " + hash + ", allow: {readers: [\"dst:*\", \"\"]}}\n", `senders[0].allow.readers[1]: empty pattern`},
		{"sender allow unknown permission", base + "senders:\n  - {name: p, api_key_sha256: " + hash + ", allow: {authors: [\"x\"]}}\n", `authors`},
		{"sender cert without client CA", base + "senders:\n  - {name: p, client_cert: {subject_cn: p}}\n", `senders[0].client_cert: needs server.tls.client_ca_file`},
		{"sender require without cert", base + "senders:\n  - {name: p, api_key_sha256: " + hash + ", require_client_cert: true}\n", `senders[0].require_client_cert: needs senders[0].client_cert`},
		{"sender cert cn and san", base + "senders:\n  - {name: p, client_cert: {subject_cn: p, san: p.example.org}}\n", `senders[0].client_cert: give subject_cn or san, not both`},
		{"admin cert shared", base + "senders:\n  - {name: p, client_cert: {san: x.example.org}}\nadmins:\n  - {name: ops, client_cert: {san: x.example.org}}\n", `admins[0].client_cert: same certificate as senders[0]`},
		{"sender neither key nor cert", base + "senders:\n  - {name: p}\n", `senders[0].api_key_sha256: required`},
		{"sender rate limit without burst", base + "senders:\n  - {name: p, api_key_sha256: " + hash + ", rate_limit: {per_second: 5}}\n", `senders[0].rate_limit.burst: must be at least 1`},
		{"default rate limit negative", base + "server: {rate_limit: {per_second: -1}}\n", `server.rate_limit.per_second: must not be negative`},
		{"encryption key for external", base + "nats: {embedded: false, url: \"nats://n:4222\", encryption_key_env: K}\n", `nats.encryption_key_env: applies to the embedded server only`},
		{"encryption key twice", base + "nats: {encryption_key_env: K, encryption_key_file: /etc/hostname}\n", `nats.encryption_key_env: give nats.encryption_key_file or nats.encryption_key_env, not both`},
		{"encryption key file missing", base + "nats: {encryption_key_file: /nonexistent/key}\n", `nats.encryption_key_file: "/nonexistent/key": no such file`},
		{"encryption cipher", base + "nats: {encryption_key_env: K, encryption_cipher: des}\n", `nats.encryption_cipher: must be "chacha" or "aes"`},
		{"sender key shared", base + "senders:\n  - {name: p, api_key_sha256: " + hash + "}\n  - {name: q, api_key_sha256: " + strings.ToUpper(hash) + "}\n", `senders[1].api_key_sha256: same API key as senders[0]`},
		{"target name", base + "targets:\n  - {name: 'fach verfahren', type: filedrop}\n", `targets[0].name: "fach verfahren" must be lower-case`},
		{"target name dup", base + "targets:\n  - {name: a, type: filedrop}\n  - {name: a, type: webhook}\n", `targets[1].name: "a" is already used by targets[0]`},
		{"target type", base + "targets:\n  - {name: a}\n", `line 3: targets[0].type: required`},
		{"target concurrency", base + "targets:\n  - {name: a, type: filedrop, concurrency: 0}\n", `targets[0].concurrency: must be between 1 and 1024, got 0`},
		{"target attempts", base + "targets:\n  - {name: a, type: filedrop, max_attempts: 0}\n", `targets[0].max_attempts: must be at least 1, got 0`},
		{"target ack wait", base + "targets:\n  - {name: a, type: filedrop, ack_wait: -1s}\n", `targets[0].ack_wait: must be positive`},
		{"target retry initial", base + "targets:\n  - {name: a, type: filedrop, retry: {initial: 0s}}\n", `line 3: targets[0].retry.initial: must be positive`},
		{"target retry max", base + "targets:\n  - {name: a, type: filedrop, retry: {initial: 10s, max: 1s}}\n", `targets[0].retry.max: 1s is shorter than retry.initial 10s`},
		{"target max age", base + "targets:\n  - {name: a, type: filedrop, max_age: 0s}\n", `targets[0].max_age: must be positive`},
		{"target max age short", base + "targets:\n  - {name: a, type: filedrop, max_age: 1h}\n", `targets[0].max_age: 1h0m0s is shorter than nats.duplicate_window 24h0m0s`},
		{"target max age long", base + "targets:\n  - {name: a, type: filedrop, max_age: 720h}\n", `targets[0].max_age: 720h0m0s must be shorter than nats.event_retention 720h0m0s`},
		{"admin name", base + "admins:\n  - {name: Ops, api_key_sha256: " + hash + "}\n", `line 3: admins[0].name: "Ops" must be lower-case`},
		{"admin key plain", base + "admins:\n  - {name: ops, api_key_sha256: secret-key}\n", `admins[0].api_key_sha256: must be 64 hex digits`},
		{"admin key missing", base + "admins:\n  - {name: ops}\n", `admins[0].api_key_sha256: required: the hex SHA-256 of the admin's API key`},
		{"admin key is a sender's", base + "senders:\n  - {name: p, api_key_sha256: " + hash + "}\nadmins:\n  - {name: ops, api_key_sha256: " + hash + "}\n", `line 5: admins[0].api_key_sha256: same API key as senders[0]; every sender, reader and admin needs its own key`},
		{"admin dup", base + "admins:\n  - {name: ops, api_key_sha256: " + hash + "}\n  - {name: ops, api_key_sha256: " + HashAPIKey("j") + "}\n", `admins[1].name: "ops" is already used by admins[0]`},
		{"target options", base + "targets:\n  - {name: a, type: filedrop, options: [x]}\n", `targets[0].options: want a mapping`},
		{"route target", base + targets + "routes:\n  - {name: r, target: x}\n", `line 6: routes[0].target: unknown target "x" (configured targets: fv, test)`},
		{"route test target", base + targets + "routes:\n  - {name: r, target: fv, test_target: fv}\n", `routes[0].test_target: target "fv" is not a test target`},
		{"route to test target", base + targets + "routes:\n  - {name: r, target: test}\n", `routes[0].match.test: must be true: target "test" is a test target`},
		{"route name", base + targets + "routes:\n  - {target: fv}\n", `routes[0].name: required`},
		{"xta box without xta", base + "targets:\n  - {name: box, type: xta-box}\n", `targets[0].type: a xta-box target needs readers (REST) or xta.enabled: true (XTA)`},
		{"box without readers", base + "targets:\n  - {name: box, type: box}\n", `targets[0].type: a box target needs readers (REST) or xta.enabled: true (XTA)`},
		{"reader identifiers missing", base + "readers:\n  - {name: fv, api_key_sha256: " + hash + "}\n", `line 3: readers[0].identifiers: required: the reader ids (Behördenkennung or XTA party identifier`},
		{"reader identifier empty", base + "readers:\n  - {name: fv, identifiers: ['ags:1', ' '], api_key_sha256: " + hash + "}\n", `readers[0].identifiers[1]: " ": a reader id without surrounding blanks`},
		{"reader identifier shared", base + "readers:\n  - {name: a, identifiers: ['ags:1'], api_key_sha256: " + hash + "}\n  - {name: b, identifiers: ['ags:1'], api_key_sha256: " + HashAPIKey("j") + "}\n", `readers[1].identifiers[0]: "ags:1" is already readers[0].identifiers[0]: every reader id belongs to one reader`},
		{"reader name", base + "readers:\n  - {name: FV, identifiers: ['ags:1'], api_key_sha256: " + hash + "}\n", `readers[0].name: "FV" must be lower-case`},
		{"reader dup", base + "readers:\n  - {name: fv, identifiers: ['ags:1'], api_key_sha256: " + hash + "}\n  - {name: fv, identifiers: ['ags:2'], api_key_sha256: " + HashAPIKey("j") + "}\n", `readers[1].name: "fv" is already used by readers[0]`},
		{"reader key missing", base + "readers:\n  - {name: fv, identifiers: ['ags:1']}\n", `readers[0].api_key_sha256: required: the hex SHA-256 of the reader's API key`},
		{"reader key plain", base + "readers:\n  - {name: fv, identifiers: ['ags:1'], api_key_sha256: secret-key}\n", `readers[0].api_key_sha256: must be 64 hex digits`},
		{"reader key is a sender's", base + "senders:\n  - {name: p, api_key_sha256: " + hash + "}\nreaders:\n  - {name: fv, identifiers: ['ags:1'], api_key_sha256: " + hash + "}\n", `line 5: readers[0].api_key_sha256: same API key as senders[0]; every sender, reader and admin needs its own key`},
		{"admin key is a reader's", base + "readers:\n  - {name: fv, identifiers: ['ags:1'], api_key_sha256: " + hash + "}\nadmins:\n  - {name: ops, api_key_sha256: " + hash + "}\n", `admins[0].api_key_sha256: same API key as readers[0]`},
		{"reader cert shared", base + "senders:\n  - {name: p, client_cert: {san: x.example.org}}\nreaders:\n  - {name: fv, identifiers: ['ags:1'], client_cert: {san: x.example.org}}\n", `readers[0].client_cert: same certificate as senders[0]`},
		{"reader require without cert", base + "readers:\n  - {name: fv, identifiers: ['ags:1'], api_key_sha256: " + hash + ", require_client_cert: true}\n", `readers[0].require_client_cert: needs readers[0].client_cert`},
		{"reader rate limit", base + "readers:\n  - {name: fv, identifiers: ['ags:1'], api_key_sha256: " + hash + ", rate_limit: {per_second: 5}}\n", `readers[0].rate_limit.burst: must be at least 1`},
		{"reader unknown key", base + "readers:\n  - {name: fv, identifiers: ['ags:1'], api_key_sha256: " + hash + ", allow: {readers: ['x']}}\n", `allow`},
		{"xta tls", base + "xta: {enabled: true, listen: ':8443'}\n", `xta.tls.cert_file: required: XTA runs over HTTPS with client certificates`},
		{"xta tls file", base + "xta: {enabled: true, tls: {cert_file: /no/such.pem}}\n", `xta.tls.cert_file: stat /no/such.pem: no such file or directory`},
		{"xta instance", base + "xta: {enabled: true, allow_plain_http: true, instance_id: 'a:b'}\n", `xta.instance_id: "a:b" must be 1 to 41 letters`},
		{"xta same listener", base + "xta: {enabled: true, allow_plain_http: true, listen: '127.0.0.1:8080'}\n", `xta.listen: "127.0.0.1:8080" is also server.listen`},
		{"xta party client", base + "xta:\n  enabled: true\n  allow_plain_http: true\n  parties:\n    - {identifier: 'ags:1'}\n", `xta.parties[0].client: required`},
		{"xta party dup", base + "xta:\n  enabled: true\n  allow_plain_http: true\n  parties:\n    - {identifier: 'ags:1', client: a}\n    - {identifier: 'ags:1', client: b}\n", `xta.parties[1].identifier: "ags:1" is already xta.parties[0]`},
		{"xta sync timeout", base + "xta: {enabled: true, allow_plain_http: true, sync_timeout: 90s}\n", `xta.sync_timeout: 1m30s must be shorter than server.write_timeout (1m0s)`},
		{"xta rate limit", base + "xta: {enabled: true, allow_plain_http: true, rate_limit: {per_second: -2}}\n", `xta.rate_limit.per_second: must not be negative`},
		{"xta party rate limit", base + "xta:\n  enabled: true\n  allow_plain_http: true\n  parties:\n    - {identifier: 'ags:1', client: a, rate_limit: {per_second: 5}}\n", `xta.parties[0].rate_limit.burst: must be at least 1 with a per_second limit, got 0`},
		{"xta shared client rate limits", base + "xta:\n  enabled: true\n  allow_plain_http: true\n  parties:\n    - {identifier: 'ags:1', client: a}\n    - {identifier: 'ags:2', client: a, rate_limit: {per_second: 5, burst: 5}}\n", `xta.parties[1].rate_limit: client "a" shares one bucket with xta.parties[0], whose rate limit differs`},
		{"validation workers", "schemas: {dirs: [" + dir + "], validation_workers: -1}\n", `schemas.validation_workers: -1: want 0 (one per core) or a positive number`},
		{"validation nice", "schemas: {dirs: [" + dir + "], validation_nice: 20}\n", `schemas.validation_nice: 20: want 0 (the process's priority) to 19 (the lowest)`},
		{"in flight zero", base + "server: {max_in_flight: 0}\n", `server.max_in_flight: must be at least 1, got 0`},
		{"in flight bytes below body", base + "server: {max_in_flight_bytes: 8MiB}\n", `server.max_in_flight_bytes: 8MiB is less than server.max_body_bytes (16MiB)`},
		{"in flight bytes below xta request", base + "server: {max_in_flight_bytes: 20MiB}\nxta: {enabled: true, allow_plain_http: true}\n", `server.max_in_flight_bytes: 20MiB is less than the largest XTA request (56972628 bytes`},
		{"xta pull url", base + "xta:\n  pull:\n    - {name: b, url: 'http://xta.example.de/', reader: 'ags:1'}\n", `xta.pull[0].url: "http://xta.example.de/": want https (http only to a loopback address)`},
		{"xta pull cert", base + "xta:\n  pull:\n    - {name: b, url: 'https://xta.example.de/', reader: 'ags:1'}\n", `xta.pull[0].tls.cert_file: required: XTA servers authenticate clients by certificate`},
		{"xta pull reader", base + "xta:\n  pull:\n    - {name: b, url: 'http://127.0.0.1:1/'}\n", `xta.pull[0].reader: required`},
		{"xta pull interval", base + "xta:\n  pull:\n    - {name: b, url: 'http://127.0.0.1:1/', reader: 'ags:1', interval: 10ms}\n", `xta.pull[0].interval: 10ms is too short`},
		{"xta pull name", base + "xta:\n  pull:\n    - {name: b, url: 'http://127.0.0.1:1/', reader: 'ags:1'}\n    - {name: b, url: 'http://127.0.0.1:1/', reader: 'ags:2'}\n", `xta.pull[1].name: "b" is already used by xta.pull[0]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), env(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nlacks %q", err, tc.want)
			}
			for _, p := range Problems(err) {
				if p.Key == "" {
					t.Errorf("problem without a key: %v", p)
				}
			}
		})
	}
}

// TestValidationReport checks the whole report for a file with many
// problems against testdata/invalid.golden: every problem at once, in file
// order, each with its line and key.
func TestValidationReport(t *testing.T) {
	t.Chdir("testdata") // so that schemas.dirs "." exists and "missing" does not
	_, err := Load("invalid.yaml")
	if err == nil {
		t.Fatal("Load accepted invalid.yaml")
	}
	got := err.Error() + "\n"
	// The working directory differs between machines.
	wd, _ := os.Getwd()
	got = strings.ReplaceAll(got, wd, "$WD")
	if *update {
		if err := os.WriteFile("invalid.golden", []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile("invalid.golden")
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("report differs (run go test ./gateway/config -update to accept)\n--- got\n%s--- want\n%s", got, want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "drehscheibe.yaml")
	if err := os.WriteFile(path, []byte("schemas: {dirs: ["+dir+"]}\nserver:\n  listen: nowhere\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if want := path + `:3: server.listen: "nowhere" is not host:port`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v, want prefix %s", err, want)
	}
	t.Setenv("DREHSCHEIBE_SERVER_LISTEN", "127.0.0.1:0")
	c, err := Load(path)
	if err != nil || c.Server.Listen != "127.0.0.1:0" {
		t.Errorf("Load with env: %v, %+v", err, c)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

func TestValidateTargetTypes(t *testing.T) {
	c, err := Parse([]byte(minimal(t)+"targets:\n  - {name: a, type: filedrop}\n  - {name: b, type: ftp}\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	known := func(typ string) bool { return typ == "filedrop" || typ == "webhook" || typ == "external" }
	if err := c.ValidateTargetTypes(known); err == nil ||
		err.Error() != `line 5: targets[1].type: unknown adapter type "ftp"; this binary has no such adapter (check the spelling)` {
		t.Errorf("got %v", err)
	}
	if err := c.ValidateTargetTypes(func(string) bool { return true }); err != nil {
		t.Errorf("got %v", err)
	}
}

type fileDropOptions struct {
	Dir   string            `yaml:"dir"`
	Mode  int               `yaml:"mode"`
	Extra map[string]string `yaml:"extra"`
	Retry struct {
		Delay time.Duration `yaml:"delay"`
	} `yaml:"retry"`
}

func TestDecodeOptions(t *testing.T) {
	c, err := Parse([]byte(minimal(t)+`
targets:
  - name: a
    type: filedrop
    options:
      dir: /out
      extra: {k: v}
      retry: {delay: 5s}
  - name: b
    type: filedrop
    options:
      dri: /out
      mode: rw
      retry: {delay: 5}
  - name: c
    type: filedrop
    options:
      mode: 0o640
  - name: d
    type: filedrop
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	var a fileDropOptions
	if err := c.Targets[0].DecodeOptions(&a); err != nil || a.Dir != "/out" || a.Extra["k"] != "v" || a.Retry.Delay != 5*time.Second {
		t.Errorf("targets[0]: %v %+v", err, a)
	}

	var b fileDropOptions
	err = c.Targets[1].DecodeOptions(&b)
	for _, want := range []string{
		`line 14: targets[1].options.dri: unknown key (did you mean "dir"?)`,
		`line 15: targets[1].options.mode: want an integer, got "rw"`,
		`line 16: targets[1].options.retry.delay: "5" has no unit`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nlacks %q", err, want)
		}
	}
	if got := c.Targets[1].OptionsError(err); got != err {
		t.Errorf("OptionsError changed a decode error: %v", got)
	}

	// An adapter's own check becomes an error naming the key and its line.
	var cc fileDropOptions
	if err := c.Targets[2].DecodeOptions(&cc); err != nil || cc.Mode != 0o640 {
		t.Fatalf("targets[2]: %v %+v", err, cc)
	}
	if got := c.Targets[2].OptionsError(errors.New("dir: required")).Error(); got != "line 19: targets[2].options.dir: required" {
		t.Errorf("OptionsError = %s", got)
	}
	if got := c.Targets[2].OptionsError(errors.New("mode: must allow the owner to write")).Error(); got != "line 20: targets[2].options.mode: must allow the owner to write" {
		t.Errorf("OptionsError = %s", got)
	}
	if got := c.Targets[2].OptionsError(errors.New("the directory is not writable")).Error(); got != "line 19: targets[2].options: the directory is not writable" {
		t.Errorf("OptionsError = %s", got)
	}

	// Absent options leave the adapter's defaults alone.
	d := fileDropOptions{Dir: "default"}
	if err := c.Targets[3].DecodeOptions(&d); err != nil || d.Dir != "default" {
		t.Errorf("targets[3]: %v %+v", err, d)
	}
	if got := c.Targets[3].OptionsError(errors.New("dir: required")).Error(); got != "line 21: targets[3].options.dir: required" {
		t.Errorf("OptionsError = %s", got)
	}
}

func TestMergeKeys(t *testing.T) {
	c, err := Parse([]byte(minimal(t)+`
x-defaults: &slow
  concurrency: 1
  ack_wait: 5m
`), env(nil))
	if err == nil || !strings.Contains(err.Error(), "x-defaults: unknown key") {
		t.Fatalf("want unknown key for a top-level anchor holder, got %v %v", c, err)
	}
	c, err = Parse([]byte(minimal(t)+`
targets:
  - &slow {name: a, type: filedrop, concurrency: 1, ack_wait: 5m}
  - <<: *slow
    name: b
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if b := c.Targets[1]; b.Name != "b" || b.Type != "filedrop" || b.Concurrency != 1 || b.AckWait != 5*time.Minute {
		t.Errorf("merged target: %+v", b)
	}
}

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ByteSize
		err  bool
	}{
		{"0", 0, false},
		{"1048576", MiB, false},
		{"16MiB", 16 * MiB, false},
		{"16 MiB", 16 * MiB, false},
		{"16mib", 16 * MiB, false},
		{"512KiB", 512 * KiB, false},
		{"1GiB", GiB, false},
		{"500kB", 500000, false},
		{"16MB", 16000000, false},
		{"10B", 10, false},
		{"16M", 0, true},
		{"1.5MiB", 0, true},
		{"-1", 0, true},
		{"", 0, true},
		{"99999999999TiB", 0, true},
	} {
		got, err := ParseByteSize(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseByteSize(%q) = %d, %v", tc.in, got, err)
		}
	}
	if s := (16 * MiB).String(); s != "16MiB" {
		t.Errorf("String = %s", s)
	}
	if s := ByteSize(1000).String(); s != "1000" {
		t.Errorf("String = %s", s)
	}
}

func TestHashAPIKey(t *testing.T) {
	// printf %s demo-key-change-me | sha256sum
	if got, want := HashAPIKey("demo-key-change-me"), "090d1548c9d65f413a1a2c828a0bee3a7ae02d2137caf51e6029e6c3cb1f1fa4"; got != want {
		t.Errorf("HashAPIKey = %s, want %s", got, want)
	}
}

func TestExternalNATSWithCredentialsAndTLS(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{}
	for _, n := range []string{"gw.creds", "ca.pem", "cert.pem", "key.pem"} {
		files[n] = filepath.Join(dir, n)
		if err := os.WriteFile(files[n], []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Parse([]byte(minimal(t)+`
nats:
  embedded: false
  url: tls://nats-1:4222,tls://nats-2:4222
  replicas: 3
  user: drehscheibe
  password_env: NATS_PASSWORD
  tls:
    ca_file: `+files["ca.pem"]+`
    cert_file: `+files["cert.pem"]+`
    key_file: `+files["key.pem"]+`
`), env(map[string]string{"DREHSCHEIBE_NATS_TLS_CA_FILE": files["gw.creds"]}))
	if err != nil {
		t.Fatal(err)
	}
	n := c.NATS
	if n.User != "drehscheibe" || n.PasswordEnv != "NATS_PASSWORD" || !n.TLS.Enabled() ||
		n.TLS.CAFile != files["gw.creds"] || n.TLS.CertFile != files["cert.pem"] || n.TLS.KeyFile != files["key.pem"] {
		t.Errorf("nats auth not read: %+v", n)
	}
	if _, err := Parse([]byte(minimal(t)+"nats: {embedded: false, url: 'nats://x', creds_file: "+files["gw.creds"]+"}\n"), env(nil)); err != nil {
		t.Errorf("creds file refused: %v", err)
	}
}

// A YAML "billion laughs" — merge keys over anchors over anchors, hidden in
// a target's options, which Parse keeps undecoded — is refused quickly
// instead of being expanded to 10^9 values.
func TestAliasBomb(t *testing.T) {
	opts := "m0: &m0 {level: info}\n"
	for i := 1; i <= 9; i++ {
		opts += fmt.Sprintf("      m%d: &m%d {<<: [%s]}\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*m%d, ", i-1), 10), ", "))
	}
	doc := minimal(t) + "targets:\n  - name: fv\n    type: filedrop\n    options:\n      " + opts + "log: *m9\n"
	start := time.Now()
	_, err := Parse([]byte(doc), nil)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	if err == nil || !strings.Contains(err.Error(), "log: YAML aliases expand the configuration") {
		t.Fatalf("error %v", err)
	}
}

func TestXTAPullDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal(t)+`
targets: [{name: fv, type: filedrop}]
xta:
  pull:
    - {name: intermediaer, url: "http://127.0.0.1:9443/xta", reader: "ags:09999000"}
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	p := c.XTA.Pull[0]
	if p.ReaderType != "xoev" || p.Interval != 30*time.Second || p.Timeout != time.Minute || p.MaxContainerBytes != 40*MiB || p.SenderName() != "xta-pull-intermediaer" {
		t.Errorf("pull defaults: %+v, sender %s", p, p.SenderName())
	}
}
