package routing

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/drehscheibe/drehscheibe/gateway/config"
)

func TestMatchGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"*", "", true},
		{"*", "a.b.c", true},
		{"a*", "a", true},
		{"a*", "ba", false},
		{"*.0200", "baugenehmigung.antrag.0200", true},
		{"*.0200", "baugenehmigung.antrag.02000", false},
		{"baugenehmigung.*.0200", "baugenehmigung.antrag.0200", true},
		{"?", "", false},
		{"?", "ä", true}, // one character, two bytes
		{"??", "ä", false},
		{"psw:0100311?", "psw:01003110", true},
		{"psw:0100311?", "psw:0100311", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"*a*a*a*a*b", strings.Repeat("a", 40), false}, // backtracking stays cheap
		{"Straße*", "Straße 1", true},
		{"XBau", "xbau", false},
		{"a.b", "aXb", false}, // a dot is a dot
	} {
		if got := MatchGlob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("MatchGlob(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func targets() []config.Target {
	return []config.Target{
		{Name: "fachverfahren", Type: "filedrop"},
		{Name: "testsystem", Type: "filedrop", Test: true},
	}
}

func TestRouteErrorsAreTyped(t *testing.T) {
	r, err := New([]config.Route{
		{Name: "bau", Match: config.Match{Standard: "xbau"}, Target: "fachverfahren"},
	}, targets())
	if err != nil {
		t.Fatal(err)
	}

	_, err = r.Route(Input{Standard: "xmeld", MessageType: "anmeldung.datenanforderung.0300", Reader: "psw:01003110"})
	var re *Error
	if !errors.Is(err, ErrNoRoute) || !errors.As(err, &re) {
		t.Fatalf("want *Error wrapping ErrNoRoute, got %#v", err)
	}
	if re.MessageType != "anmeldung.datenanforderung.0300" || re.Reader != "psw:01003110" {
		t.Errorf("error details = %+v", re)
	}
	for _, want := range []string{"anmeldung.datenanforderung.0300", "psw:01003110"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not name %s", err, want)
		}
	}

	_, err = r.Route(Input{Standard: "xbau", Test: true})
	if !errors.Is(err, ErrTestRefused) || errors.Is(err, ErrNoRoute) || !errors.As(err, &re) {
		t.Fatalf("want *Error wrapping ErrTestRefused, got %#v", err)
	}
	if re.Rule != "bau" || re.Target != "fachverfahren" {
		t.Errorf("error details = %+v", re)
	}
	if !strings.Contains(err.Error(), `rule "bau"`) || !strings.Contains(err.Error(), "no test_target") {
		t.Errorf("%q does not name the rule and its missing test target", err)
	}
}

func TestNewRefusesInvalidRoutes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		route config.Route
		want  string
	}{
		{"unknown target", config.Route{Name: "r", Target: "x"}, `routes[0].target: unknown target "x"`},
		{"missing target", config.Route{Name: "r"}, `routes[0].target: required`},
		{"unknown test target", config.Route{Name: "r", Target: "fachverfahren", TestTarget: "y"}, `routes[0].test_target: unknown target "y"`},
		{"production test target", config.Route{Name: "r", Target: "fachverfahren", TestTarget: "fachverfahren"}, `routes[0].test_target: target "fachverfahren" is not a test target`},
		{"test target without match.test", config.Route{Name: "r", Target: "testsystem"}, `routes[0].match.test: must be true`},
		{"test target with match.test false", config.Route{Name: "r", Target: "testsystem", Match: config.Match{Test: ptr(false)}}, `routes[0].match.test: must be true`},
		{"bad name", config.Route{Name: "Bau Antrag", Target: "fachverfahren"}, `routes[0].name: "Bau Antrag" must be lower-case`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New([]config.Route{tc.route}, targets())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New() error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestTestAndProductionStayApart routes random messages through random
// valid rule sets and checks the one promise that matters most: a test
// message is only ever delivered to a test target and a production message
// only to a production target.
func TestTestAndProductionStayApart(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tgts := []config.Target{
		{Name: "prod-a", Type: "filedrop"},
		{Name: "prod-b", Type: "filedrop"},
		{Name: "test-a", Type: "filedrop", Test: true},
		{Name: "test-b", Type: "filedrop", Test: true},
	}
	isTest := map[string]bool{"test-a": true, "test-b": true}
	pick := func(vals ...string) string { return vals[rng.IntN(len(vals))] }
	built := 0
	for range 2000 {
		var routes []config.Route
		for i := range 1 + rng.IntN(4) {
			r := config.Route{
				Name:   fmt.Sprintf("r%d", i),
				Target: pick("prod-a", "prod-b", "test-a", "test-b"),
				Match:  config.Match{Standard: pick("", "xbau", "x*")},
			}
			switch rng.IntN(3) {
			case 0:
				r.Match.Test = ptr(true)
			case 1:
				r.Match.Test = ptr(false)
			}
			if rng.IntN(2) == 0 {
				r.TestTarget = pick("test-a", "test-b", "prod-a")
			}
			routes = append(routes, r)
		}
		r, err := New(routes, tgts)
		if err != nil {
			continue // an invalid combination; the config refuses it
		}
		built++
		for _, in := range []Input{{Standard: "xbau"}, {Standard: "xbau", Test: true}, {Standard: "xmeld", Test: true}, {Standard: "xmeld"}} {
			d, err := r.Route(in)
			if err != nil {
				continue
			}
			if isTest[d.Target] != in.Test || d.Test != in.Test {
				t.Fatalf("routes %+v: input %+v went to %+v", routes, in, d)
			}
		}
	}
	if built < 100 {
		t.Fatalf("only %d of the random rule sets were valid; the test exercises too little", built)
	}
}

func TestRouterConcurrentUse(t *testing.T) {
	r, err := New([]config.Route{
		{Name: "bau", Match: config.Match{MessageType: "baugenehmigung.*"}, Target: "fachverfahren", TestTarget: "testsystem"},
	}, targets())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				in := Input{MessageType: "baugenehmigung.antrag.0200", Test: (g+i)%2 == 0}
				d, err := r.Route(in)
				if err != nil || d.Test != in.Test {
					t.Errorf("Route(%+v) = %+v, %v", in, d, err)
					return
				}
				_ = r.Explain(in).String()
			}
		})
	}
	wg.Wait()
}

func BenchmarkRoute(b *testing.B) {
	var routes []config.Route
	for i := range 50 {
		routes = append(routes, config.Route{
			Name:   fmt.Sprintf("r%d", i),
			Match:  config.Match{Standard: "xbau", Reader: fmt.Sprintf("psw:%08d*", i)},
			Target: "fachverfahren",
		})
	}
	routes = append(routes, config.Route{Name: "catch-all", Target: "fachverfahren"})
	r, err := New(routes, targets())
	if err != nil {
		b.Fatal(err)
	}
	in := Input{Standard: "xbau", MessageType: "baugenehmigung.antrag.0200", Reader: "psw:01003110"}
	for b.Loop() {
		if _, err := r.Route(in); err != nil {
			b.Fatal(err)
		}
	}
}

func TestServes(t *testing.T) {
	targets := []config.Target{{Name: "fv", Type: "filedrop"}, {Name: "test", Type: "filedrop", Test: true}}
	yes := true
	r, err := New([]config.Route{
		{Name: "bau", Match: config.Match{Reader: "psw:0100*", Service: "urn:bau"}, Target: "fv"},
		{Name: "tests", Match: config.Match{Reader: "ags:1", Test: &yes}, Target: "test"},
		{Name: "xmeld", Match: config.Match{Reader: "ags:2", MessageType: "meld.*"}, Target: "fv"},
	}, targets)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		reader, service string
		want            bool
	}{
		{"psw:01003110", "urn:bau", true},
		{"psw:01003110", "urn:other", false},
		{"ags:1", "", false}, // only test messages
		{"ags:2", "anything", true},
		{"ags:3", "", false},
	} {
		if got := r.Serves(tc.reader, tc.service); got != tc.want {
			t.Errorf("Serves(%q, %q) = %v, want %v", tc.reader, tc.service, got, tc.want)
		}
	}
}

func TestSyncRoutes(t *testing.T) {
	r, err := New([]config.Route{
		{Name: "sync", Match: config.Match{Reader: "ags:1"}, Target: "fachverfahren", TestTarget: "testsystem", Sync: true},
		{Name: "async", Target: "fachverfahren", TestTarget: "testsystem"},
	}, targets())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		in   Input
		sync bool
	}{{Input{Reader: "ags:1"}, true}, {Input{Reader: "ags:1", Test: true}, true}, {Input{Reader: "ags:2"}, false}} {
		d, err := r.Route(c.in)
		if err != nil || d.Sync != c.sync {
			t.Errorf("%+v: %+v, %v; want sync %v", c.in, d, err, c.sync)
		}
	}
	if ex := r.Explain(Input{Reader: "ags:1"}); !strings.Contains(ex.String(), `deliver to target "fachverfahren" (rule "sync"), synchronous for XTA sendMessageSync`) {
		t.Errorf("explain: %s", ex)
	}
}
