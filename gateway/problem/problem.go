// Package problem holds the one catalogue of problem types that drehscheibe
// answers with (RFC 9457 application/problem+json). Every error a REST client
// can see comes from the table in catalogue.go; docs/problems.md documents the
// same table and a test keeps the two in step.
package problem

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
)

// BaseURI prefixes every problem type; the fragment names the entry in docs/problems.md.
const BaseURI = "https://github.com/drehscheibe/drehscheibe/blob/main/docs/problems.md#"

// Type is one entry of the catalogue.
type Type struct {
	Slug   string // stable identifier, also the anchor in docs/problems.md
	Status int    // HTTP status
	Title  string // short, human-readable summary that never changes between occurrences
	Doc    string // what it means and what to do, for docs/problems.md
}

// URI is the problem type URI clients switch on.
func (t Type) URI() string { return BaseURI + t.Slug }

// Problem is one occurrence, rendered as application/problem+json.
// Extension members (errors, facts, …) go into Ext.
type Problem struct {
	Type   Type
	Detail string
	Ext    map[string]any
}

// New makes a problem of type t with a detail message.
func New(t Type, format string, args ...any) *Problem {
	return &Problem{Type: t, Detail: fmt.Sprintf(format, args...)}
}

// With adds an extension member and returns p.
func (p *Problem) With(key string, value any) *Problem {
	if p.Ext == nil {
		p.Ext = map[string]any{}
	}
	p.Ext[key] = value
	return p
}

// Error makes a Problem usable as an error inside the gateway.
func (p *Problem) Error() string { return p.Type.Slug + ": " + p.Detail }

// MarshalJSON renders the RFC 9457 members first (type, title, status,
// detail, instance), then the extension members in name order.
func (p *Problem) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	member := func(k string, v any) error {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("problem member %s: %w", k, err)
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
		return nil
	}
	b.WriteByte('{')
	_ = member("type", p.Type.URI())
	_ = member("title", p.Type.Title)
	_ = member("status", p.Type.Status)
	if p.Detail != "" {
		_ = member("detail", p.Detail)
	}
	if v, ok := p.Ext["instance"]; ok {
		_ = member("instance", v)
	}
	keys := make([]string, 0, len(p.Ext))
	for k := range p.Ext {
		if k != "instance" && k != "type" && k != "title" && k != "status" && k != "detail" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := member(k, p.Ext[k]); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Write sends p as the response; instance is the request path.
func (p *Problem) Write(w http.ResponseWriter, instance string) {
	if p.Ext == nil || p.Ext["instance"] == nil {
		p = p.With("instance", instance)
	}
	body, err := json.Marshal(p)
	if err != nil {
		body = []byte(`{"type":"` + Internal.URI() + `","title":"Internal error","status":500}`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Type.Status)
	_, _ = w.Write(body)
}
