package intake

import (
	"strings"

	"github.com/drehscheibe/drehscheibe/gateway/identify"
	"github.com/drehscheibe/drehscheibe/gateway/problem"
	"github.com/drehscheibe/drehscheibe/gateway/routing"
)

// Permissions restrict what one sender may submit: glob patterns (as in
// routing rules) on the facts of a submission. A submission must match one
// pattern of every non-empty list; an empty list allows every value.
type Permissions struct {
	Services, Standards, Readers, MessageTypes []string
}

// check returns the problem naming the first permission f is outside of,
// or nil when every permission allows it.
func (p Permissions) check(sender string, f identify.Facts) *problem.Problem {
	for _, c := range []struct {
		name, value string
		allowed     []string
	}{
		{"services", f.Service, p.Services},
		{"standards", f.Standard, p.Standards},
		{"readers", f.Reader, p.Readers},
		{"message_types", f.MessageType, p.MessageTypes},
	} {
		if allowed(c.allowed, c.value) {
			continue
		}
		return problem.New(problem.NotAllowed, "sender %q may not submit this message: %s %q is not among its allowed %s (%s)",
			sender, strings.TrimSuffix(strings.ReplaceAll(c.name, "_", " "), "s"), c.value, c.name, strings.Join(c.allowed, ", ")).
			With("permission", c.name).With("value", c.value).With("allowed", c.allowed)
	}
	return nil
}

func allowed(patterns []string, v string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if routing.MatchGlob(p, v) {
			return true
		}
	}
	return false
}
