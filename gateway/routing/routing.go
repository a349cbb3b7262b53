// Package routing decides which delivery target a message goes to.
//
// The rules come from the routes of the configuration and are tried in
// order; the first rule whose conditions all match decides. A rule's
// conditions are glob patterns on the message's facts (see config.Match);
// a rule without conditions matches every message.
//
// Test messages never reach a production target, and production messages
// never reach a test target. A test message matched by a rule goes to the
// rule's test_target if it has one, to its target if that is a test target,
// and is refused otherwise: it does not fall through to later rules, so
// that the rule an operator reads as responsible is the one that decided.
// The configuration checks guarantee the other direction: a rule whose
// target is a test target matches test messages only.
package routing

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/drehscheibe/drehscheibe/gateway/config"
)

// Input holds the facts of a message that rules match on.
type Input struct {
	// Namespace is the XML namespace of the message's root element.
	Namespace string
	// Standard is the XÖV standard, e.g. "xbau".
	Standard string
	// MessageType is the message type as identified, e.g.
	// "baugenehmigung.antrag.0200".
	MessageType string
	// Reader is the addressee (Leser) as prefix:id, e.g. "psw:01003110".
	Reader string
	// Service is the online service (EfA) the message came from.
	Service string
	// Sender is the configured name of the authenticated sender.
	Sender string
	// Test marks a test message.
	Test bool
}

// Decision is where a message goes.
type Decision struct {
	// Rule is the name of the rule that decided.
	Rule string
	// Target is the name of the target the message is delivered to.
	Target string
	// Test reports that the message is a test message and Target a test target.
	Test bool
	// Sync reports that the rule is synchronous for XTA sendMessageSync (routes[].sync).
	Sync bool
}

// ErrNoRoute means that no rule matches the message.
var ErrNoRoute = errors.New("no route")

// ErrTestRefused means that a test message matched a rule that has no test
// target, so it cannot be delivered without reaching a production system.
var ErrTestRefused = errors.New("test message refused")

// Error is a message the router cannot place. Its Kind is ErrNoRoute or
// ErrTestRefused; errors.Is tells them apart, errors.As gives the details
// for a problem response.
type Error struct {
	Kind error
	// Rule and Target name the rule that matched and its target
	// (ErrTestRefused only).
	Rule, Target string
	// MessageType and Reader are those of the message.
	MessageType, Reader string
}

// Error describes the problem for the sender and the operator.
func (e *Error) Error() string {
	if e.Kind == ErrTestRefused {
		return fmt.Sprintf("test message refused: rule %q matches it but has no test_target, and its target %q is a production target", e.Rule, e.Target)
	}
	return fmt.Sprintf("no route for message type %q to reader %q: no routing rule matches", e.MessageType, e.Reader)
}

// Unwrap returns Kind.
func (e *Error) Unwrap() error { return e.Kind }

// Router applies the routing rules. It is immutable and safe for concurrent use.
type Router struct {
	rules []rule
}

// rule is a compiled config.Route.
type rule struct {
	name         string
	conds        []cond
	test         *bool
	target       string
	testTarget   string
	targetIsTest bool
	sync         bool
}

// cond is one non-empty pattern of a rule.
type cond struct {
	field   int // index into fields
	pattern string
	glob    bool // false: compare exactly
}

// fields lists the matchable facts in the order rules check them and
// Explain reports them, by the key under match that the configuration uses.
var fields = []string{"namespace", "standard", "message_type", "reader", "service", "sender"}

// pattern returns the pattern of field i of m.
func pattern(m *config.Match, i int) string {
	return [...]string{m.Namespace, m.Standard, m.MessageType, m.Reader, m.Service, m.Sender}[i]
}

// value returns the value of field i of in. A switch rather than a table of
// funcs keeps in on the stack: Route does not allocate.
func (in *Input) value(i int) string {
	switch i {
	case 0:
		return in.Namespace
	case 1:
		return in.Standard
	case 2:
		return in.MessageType
	case 3:
		return in.Reader
	case 4:
		return in.Service
	default:
		return in.Sender
	}
}

// New compiles the routes. It fails, naming the key, on rules that
// config.Validate would refuse, so a Router built from a loaded
// configuration never fails.
func New(routes []config.Route, targets []config.Target) (*Router, error) {
	if err := config.ValidateRoutes(routes, targets); err != nil {
		return nil, err
	}
	isTest := map[string]bool{}
	for _, t := range targets {
		isTest[t.Name] = t.Test
	}
	r := &Router{rules: make([]rule, 0, len(routes))}
	for _, rt := range routes {
		ru := rule{
			name:         rt.Name,
			target:       rt.Target,
			testTarget:   rt.TestTarget,
			targetIsTest: isTest[rt.Target],
			sync:         rt.Sync,
		}
		if rt.Match.Test != nil {
			b := *rt.Match.Test
			ru.test = &b
		}
		for i := range fields {
			if p := pattern(&rt.Match, i); p != "" {
				ru.conds = append(ru.conds, cond{field: i, pattern: p, glob: strings.ContainsAny(p, "*?")})
			}
		}
		r.rules = append(r.rules, ru)
	}
	return r, nil
}

// Route returns the decision for a message, or an *Error wrapping
// ErrNoRoute or ErrTestRefused.
func (r *Router) Route(in Input) (Decision, error) {
	for i := range r.rules {
		if m := r.rules[i].match(&in); m.ok {
			return r.rules[i].decide(&in)
		}
	}
	return Decision{}, &Error{Kind: ErrNoRoute, MessageType: in.MessageType, Reader: in.Reader}
}

// mismatch describes the first condition of a rule that a message fails.
type mismatch struct {
	ok             bool
	field          string
	value, pattern string
}

func (ru *rule) match(in *Input) mismatch {
	for _, c := range ru.conds {
		v := in.value(c.field)
		if c.glob && MatchGlob(c.pattern, v) || !c.glob && c.pattern == v {
			continue
		}
		return mismatch{field: fields[c.field], value: v, pattern: c.pattern}
	}
	if ru.test != nil && *ru.test != in.Test {
		return mismatch{field: "test", value: fmt.Sprint(in.Test), pattern: fmt.Sprint(*ru.test)}
	}
	return mismatch{ok: true}
}

// decide applies a matching rule, keeping test and production apart.
func (ru *rule) decide(in *Input) (Decision, error) {
	if !in.Test {
		// New guarantees !ru.targetIsTest here: such a rule requires match.test: true.
		return Decision{Rule: ru.name, Target: ru.target, Sync: ru.sync}, nil
	}
	switch {
	case ru.testTarget != "":
		return Decision{Rule: ru.name, Target: ru.testTarget, Test: true, Sync: ru.sync}, nil
	case ru.targetIsTest:
		return Decision{Rule: ru.name, Target: ru.target, Test: true, Sync: ru.sync}, nil
	}
	return Decision{}, &Error{Kind: ErrTestRefused, Rule: ru.name, Target: ru.target, MessageType: in.MessageType, Reader: in.Reader}
}

// MatchGlob reports whether s matches pattern, where '*' matches any run of
// characters (dots and colons included) and '?' exactly one character.
// There is no escape: XÖV identifiers contain neither character.
func MatchGlob(pattern, s string) bool {
	px, sx := 0, 0
	starPx, starSx := -1, 0
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			switch c := pattern[px]; {
			case c == '*':
				starPx, starSx = px, sx
				px++
				continue
			case c == '?' && sx < len(s):
				px++
				sx += runeLen(s[sx:])
				continue
			case c != '?' && sx < len(s) && s[sx] == c:
				// Byte-wise comparison is rune-wise for valid UTF-8.
				px++
				sx++
				continue
			}
		}
		if starPx >= 0 && starSx < len(s) {
			starSx += runeLen(s[starSx:])
			px, sx = starPx+1, starSx
			continue
		}
		return false
	}
	return true
}

// runeLen is the length in bytes of the first character of s.
func runeLen(s string) int {
	_, n := utf8.DecodeRuneInString(s)
	return n
}

// Serves reports whether a production message for reader with service
// would be taken by a rule: the first rule whose reader and service
// conditions match, ignoring its other conditions (the message itself is
// not known yet), and that is not restricted to test messages. XTA
// lookupService answers with it.
func (r *Router) Serves(reader, service string) bool {
	in := Input{Reader: reader, Service: service}
	for i := range r.rules {
		ru := &r.rules[i]
		if ru.test != nil && *ru.test {
			continue
		}
		ok := true
		for _, c := range ru.conds {
			if c.field != 3 && c.field != 4 {
				continue
			}
			v := in.value(c.field)
			if !(c.glob && MatchGlob(c.pattern, v) || !c.glob && c.pattern == v) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
