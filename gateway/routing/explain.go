package routing

import (
	"fmt"
	"strconv"
	"strings"
)

// Explanation shows how the router treats one message: every rule in order
// and the decision. It is what `drehscheibe routes explain` prints.
type Explanation struct {
	Input Input
	// Rules holds one result per rule, in order.
	Rules []RuleResult
	// Decision is what Route returns for Input; Err is its error.
	Decision Decision
	Err      error
	// ViaTestTarget reports that a test message went to the deciding
	// rule's test_target rather than its target.
	ViaTestTarget bool
}

// RuleResult is how one rule compares with the message.
type RuleResult struct {
	// Index is the rule's position in routes, from 0.
	Index int
	Name  string
	// Matched reports whether every condition of the rule matched.
	Matched bool
	// Deciding marks the first matching rule, the one that decided.
	Deciding bool
	// Field, Value and Pattern describe the first condition that did not
	// match (Field is "test" for the test flag), when Matched is false.
	Field, Value, Pattern string
}

// Explain evaluates every rule against in, also those after the deciding
// one, so that an operator sees rules that an earlier rule shadows.
func (r *Router) Explain(in Input) Explanation {
	ex := Explanation{Input: in}
	decided := false
	for i := range r.rules {
		ru := &r.rules[i]
		m := ru.match(&in)
		res := RuleResult{Index: i, Name: ru.name, Matched: m.ok, Field: m.field, Value: m.value, Pattern: m.pattern}
		if m.ok && !decided {
			decided = true
			res.Deciding = true
			ex.Decision, ex.Err = ru.decide(&in)
			ex.ViaTestTarget = ex.Err == nil && in.Test && ru.testTarget != ""
		}
		ex.Rules = append(ex.Rules, res)
	}
	if !decided {
		ex.Decision, ex.Err = r.Route(in)
	}
	return ex
}

// String renders the explanation as a report, one line per rule.
func (ex Explanation) String() string {
	var b strings.Builder
	in := ex.Input
	fmt.Fprintf(&b, "facts: namespace=%q standard=%q message_type=%q reader=%q service=%q sender=%q test=%t\n",
		in.Namespace, in.Standard, in.MessageType, in.Reader, in.Service, in.Sender, in.Test)
	if len(ex.Rules) == 0 {
		b.WriteString("  (no rules)\n")
	}
	width := 0
	for _, res := range ex.Rules {
		width = max(width, len(res.Name))
	}
	deciding := -1
	for _, res := range ex.Rules {
		fmt.Fprintf(&b, "  %2d %-*s  ", res.Index+1, width, res.Name)
		switch {
		case res.Deciding:
			b.WriteString("match, decides")
			deciding = res.Index
		case res.Matched:
			fmt.Fprintf(&b, "match, but rule %d decided first", deciding+1)
		case res.Field == "test" && ex.Input.Test:
			b.WriteString("no match: a test message, and the rule takes production messages only (match.test: false)")
		case res.Field == "test":
			b.WriteString("no match: a production message, and the rule takes test messages only (match.test: true)")
		default:
			fmt.Fprintf(&b, "no match: %s %s does not match %s", res.Field, strconv.Quote(res.Value), strconv.Quote(res.Pattern))
		}
		b.WriteByte('\n')
	}
	b.WriteString("decision: ")
	d := ex.Decision
	switch {
	case ex.Err != nil:
		b.WriteString(ex.Err.Error())
	case ex.ViaTestTarget:
		fmt.Fprintf(&b, "deliver to test target %q (rule %q, its test_target)", d.Target, d.Rule)
	case d.Test:
		fmt.Fprintf(&b, "deliver to test target %q (rule %q, its target is a test target)", d.Target, d.Rule)
	default:
		fmt.Fprintf(&b, "deliver to target %q (rule %q)", d.Target, d.Rule)
	}
	if ex.Err == nil && d.Sync {
		b.WriteString(", synchronous for XTA sendMessageSync")
	}
	b.WriteByte('\n')
	return b.String()
}
