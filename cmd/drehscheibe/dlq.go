package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// The dlq commands talk to a running gateway's admin REST API rather than to
// JetStream: they work against any replica, from any machine that reaches
// the API, with the same admin key checks and audit log as the API.
const (
	envURL      = "DREHSCHEIBE_URL"
	envAdminKey = "DREHSCHEIBE_ADMIN_KEY"
	defaultURL  = "http://127.0.0.1:8080"
	listPage    = 500
)

const dlqUsage = `Usage: drehscheibe dlq <list|show|replay|discard> [flags] [ID...]

  list    [--target T] [--limit N] [--json]     dead letters, oldest first
  show    ID [--json]                           one dead letter with the submission's status and events
  replay  ID... | --all [--target T]            deliver again under the same submission id
  discard ID...                                 give up: delete the content, keep record and events

Every subcommand takes --url (default $DREHSCHEIBE_URL or ` + defaultURL + `)
and --key (default $DREHSCHEIBE_ADMIN_KEY; prefer the variable, a flag is visible to other users).
Exit codes: 0 done, 1 the gateway refused a dead letter (not found, cannot be replayed, unavailable),
2 usage error, gateway unreachable or admin key refused.`

// errRefusedKey marks answers 401 and 403: nothing else will work either.
var errRefusedKey = errors.New("admin key refused")

func runDLQ(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, dlqUsage)
		return exitUsage
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "help", "--help", "-h":
		fmt.Fprintln(stdout, dlqUsage)
		return exitOK
	case "list", "show", "replay", "discard":
	default:
		fmt.Fprintf(stderr, "drehscheibe dlq: unknown subcommand %q\n\n%s\n", sub, dlqUsage)
		return exitUsage
	}
	fs := newFlags("dlq "+sub, "[flags] [ID...]", stderr)
	base := fs.String("url", envOr(envURL, defaultURL), "base URL of the gateway's REST API")
	key := fs.String("key", os.Getenv(envAdminKey), "admin API key (default $"+envAdminKey+")")
	timeout := fs.Duration("timeout", 30*time.Second, "time allowed for each request")
	asJSON := fs.Bool("json", false, "print the gateway's JSON answer (list, show)")
	target := fs.String("target", "", "only dead letters of this target (list, replay --all)")
	limit := fs.Int("limit", 0, "show at most this many (list; 0: all)")
	all := fs.Bool("all", false, "replay every dead letter (of --target, if given)")
	ids, code, ok := parseInterspersed(fs, args)
	if !ok {
		return code
	}
	if *key == "" {
		fmt.Fprintf(stderr, "drehscheibe dlq %s: no admin key: set $%s or --key\n", sub, envAdminKey)
		return exitUsage
	}
	u, err := url.Parse(strings.TrimRight(*base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "drehscheibe dlq %s: --url %q is not an http or https URL\n", sub, *base)
		return exitUsage
	}
	c := &adminClient{base: u.String(), key: *key, http: &http.Client{Timeout: *timeout}}
	d := &dlqCmd{c: c, stdout: stdout, stderr: stderr, name: "drehscheibe dlq " + sub}
	switch {
	case sub == "list" && len(ids) == 0:
		return d.list(*target, *limit, *asJSON)
	case sub == "show" && len(ids) == 1:
		return d.show(ids[0], *asJSON)
	case sub == "replay" && *all && len(ids) == 0:
		return d.replayAll(*target)
	case (sub == "replay" || sub == "discard") && !*all && len(ids) > 0:
		return d.each(sub, ids)
	}
	fmt.Fprintf(stderr, "drehscheibe dlq %s: wrong arguments\n\n%s\n", sub, dlqUsage)
	return exitUsage
}

// parseInterspersed parses flags that may stand before, between or after
// the positional arguments, which it returns.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, int, bool) {
	var pos []string
	for {
		if code, ok := parse(fs, args); !ok {
			return nil, code, false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, exitOK, true
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// adminClient calls the admin endpoints.
type adminClient struct {
	base, key string
	http      *http.Client
}

// apiProblem is the part of a problem document the CLI shows.
type apiProblem struct {
	Type   string `json:"type"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

func (p *apiProblem) Error() string {
	slug := p.Type[strings.LastIndex(p.Type, "#")+1:]
	return fmt.Sprintf("%s (%d %s)", p.Detail, p.Status, slug)
}

// do sends a request and returns the body of a 2xx answer. Other answers
// are an *apiProblem, wrapped in errRefusedKey for 401 and 403.
func (c *adminClient) do(method, path string) ([]byte, error) {
	req, err := http.NewRequest(method, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	res, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode/100 == 2 {
		return body, nil
	}
	p := &apiProblem{Status: res.StatusCode}
	if json.Unmarshal(body, p) != nil || p.Detail == "" {
		p.Detail = strings.TrimSpace(string(body))
	}
	if res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden {
		return nil, fmt.Errorf("%w: %w", errRefusedKey, p)
	}
	return nil, p
}

// dlqCmd runs one subcommand.
type dlqCmd struct {
	c              *adminClient
	stdout, stderr io.Writer
	name           string
}

// fail reports err and returns the exit code it stands for.
func (d *dlqCmd) fail(err error, what string) int {
	if what != "" {
		what += ": "
	}
	fmt.Fprintf(d.stderr, "%s: %s%v\n", d.name, what, err)
	var p *apiProblem
	if errors.As(err, &p) && !errors.Is(err, errRefusedKey) {
		return exitInvalid
	}
	return exitUsage
}

// deadLetter is the JSON of a dead letter as the admin API answers it.
type deadLetter struct {
	ID             string    `json:"id"`
	Target         string    `json:"target"`
	Reason         string    `json:"reason"`
	Error          string    `json:"error"`
	Attempts       int       `json:"attempts"`
	DeadLetteredAt time.Time `json:"dead_lettered_at"`
	QueuedAt       time.Time `json:"queued_at"`
	Sender         string    `json:"sender"`
	Facts          struct {
		Standard    string `json:"standard"`
		Version     string `json:"version"`
		MessageType string `json:"message_type"`
		Reader      string `json:"reader"`
		Test        bool   `json:"test"`
	} `json:"facts"`
	Status string `json:"status"`
	Events []struct {
		Type    string    `json:"type"`
		At      time.Time `json:"at"`
		Target  string    `json:"target"`
		Attempt int       `json:"attempt"`
		Error   string    `json:"error"`
		Detail  string    `json:"detail"`
	} `json:"events"`
}

// fetchAll reads every page of the list, up to limit entries (0: all).
func (d *dlqCmd) fetchAll(target string, limit int) ([]json.RawMessage, error) {
	var out []json.RawMessage
	after := ""
	for {
		q := url.Values{"limit": {fmt.Sprint(listPage)}}
		if target != "" {
			q.Set("target", target)
		}
		if after != "" {
			q.Set("after", after)
		}
		body, err := d.c.do(http.MethodGet, "/v1/admin/deadletters?"+q.Encode())
		if err != nil {
			return nil, err
		}
		var page struct {
			DeadLetters []json.RawMessage `json:"dead_letters"`
			Next        string            `json:"next"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, fmt.Errorf("unreadable answer: %w", err)
		}
		out = append(out, page.DeadLetters...)
		if limit > 0 && len(out) >= limit {
			return out[:limit], nil
		}
		if page.Next == "" {
			return out, nil
		}
		after = page.Next
	}
}

func (d *dlqCmd) list(target string, limit int, asJSON bool) int {
	raw, err := d.fetchAll(target, limit)
	if err != nil {
		return d.fail(err, "")
	}
	if asJSON {
		if raw == nil {
			raw = []json.RawMessage{}
		}
		b, _ := json.MarshalIndent(raw, "", "  ")
		fmt.Fprintln(d.stdout, string(b))
		return exitOK
	}
	if len(raw) == 0 {
		fmt.Fprintln(d.stdout, "no dead letters")
		return exitOK
	}
	tw := tabwriter.NewWriter(d.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTARGET\tREASON\tATTEMPTS\tDEAD-LETTERED\tERROR")
	for _, r := range raw {
		var dl deadLetter
		if err := json.Unmarshal(r, &dl); err != nil {
			return d.fail(fmt.Errorf("unreadable answer: %w", err), "")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", dl.ID, dl.Target, dl.Reason, dl.Attempts,
			dl.DeadLetteredAt.Local().Format(time.DateTime), shorten(rootCause(dl.Error), 60))
	}
	_ = tw.Flush()
	return exitOK
}

func (d *dlqCmd) show(id string, asJSON bool) int {
	body, err := d.c.do(http.MethodGet, "/v1/admin/deadletters/"+url.PathEscape(id))
	if err != nil {
		return d.fail(err, id)
	}
	if asJSON {
		_, _ = d.stdout.Write(body)
		return exitOK
	}
	var dl deadLetter
	if err := json.Unmarshal(body, &dl); err != nil {
		return d.fail(fmt.Errorf("unreadable answer: %w", err), id)
	}
	tw := tabwriter.NewWriter(d.stdout, 0, 4, 1, ' ', 0)
	for _, kv := range [][2]string{
		{"id", dl.ID}, {"status", dl.Status}, {"target", dl.Target}, {"reason", dl.Reason},
		{"attempts", fmt.Sprint(dl.Attempts)}, {"error", dl.Error},
		{"dead-lettered", dl.DeadLetteredAt.Local().Format(time.RFC3339)}, {"queued", dl.QueuedAt.Local().Format(time.RFC3339)},
		{"sender", dl.Sender}, {"message", strings.TrimSpace(dl.Facts.Standard + " " + dl.Facts.Version + " " + dl.Facts.MessageType)},
		{"reader", dl.Facts.Reader}, {"test", fmt.Sprint(dl.Facts.Test)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
	}
	_ = tw.Flush()
	fmt.Fprintln(d.stdout, "events:")
	for _, e := range dl.Events {
		var b bytes.Buffer
		fmt.Fprintf(&b, "  %s  %s", e.At.Local().Format(time.RFC3339), e.Type)
		if e.Attempt > 0 {
			fmt.Fprintf(&b, "  attempt %d", e.Attempt)
		}
		for _, s := range []string{e.Error, e.Detail} {
			if s != "" {
				b.WriteString("  " + s)
			}
		}
		fmt.Fprintln(d.stdout, b.String())
	}
	return exitOK
}

// each replays or discards every id, going on after a refusal; the exit
// code is the worst outcome.
func (d *dlqCmd) each(sub string, ids []string) int {
	code := exitOK
	for _, id := range ids {
		var err error
		if sub == "replay" {
			_, err = d.c.do(http.MethodPost, "/v1/admin/deadletters/"+url.PathEscape(id)+"/replay")
		} else {
			_, err = d.c.do(http.MethodDelete, "/v1/admin/deadletters/"+url.PathEscape(id))
		}
		if err != nil {
			code = max(code, d.fail(err, id))
			if code == exitUsage {
				return code // unreachable or the key is refused: the rest fails alike
			}
			continue
		}
		verb := map[string]string{"replay": "replayed", "discard": "discarded"}[sub]
		fmt.Fprintf(d.stdout, "%s %s\n", verb, id)
	}
	return code
}

func (d *dlqCmd) replayAll(target string) int {
	raw, err := d.fetchAll(target, 0)
	if err != nil {
		return d.fail(err, "")
	}
	ids := make([]string, 0, len(raw))
	for _, r := range raw {
		var dl deadLetter
		if err := json.Unmarshal(r, &dl); err != nil {
			return d.fail(fmt.Errorf("unreadable answer: %w", err), "")
		}
		ids = append(ids, dl.ID)
	}
	if len(ids) == 0 {
		fmt.Fprintln(d.stdout, "no dead letters")
		return exitOK
	}
	return d.each("replay", ids)
}

// rootCause is the last part of a wrapped error text ("a: b: cause"): in
// the list it says more than the adapter and submission that lead it.
func rootCause(s string) string {
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// shorten cuts s to n runes on one line.
func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
