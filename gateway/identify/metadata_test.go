package identify

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func ptr(b bool) *bool { return &b }

func TestParseMetadata(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Metadata
	}{
		{"empty object", `{}`, Metadata{}},
		{"all keys", `{
			"reader": "ags:09162000", "author": " mbp:00000001 ", "service": "urn:example:service",
			"test": true, "reply_to": "https://portal.example.org/reply",
			"nachrichten_uuid": "7F1C9A56-3b0e-4d7a-9c1e-2f4b8d6e0a13", "message_type": "anmeldung.datenanforderung.0300"}`,
			Metadata{Reader: "ags:09162000", Author: "mbp:00000001", Service: "urn:example:service", Test: ptr(true),
				ReplyTo: "https://portal.example.org/reply", NachrichtenUUID: "7F1C9A56-3b0e-4d7a-9c1e-2f4b8d6e0a13",
				MessageType: "anmeldung.datenanforderung.0300"}},
		{"test false", `{"test": false}`, Metadata{Test: ptr(false)}},
		{"null counts as not given", `{"reader": null, "test": null, "nachrichten_uuid": null}`, Metadata{}},
		{"empty string counts as not given", `{"reader": "", "nachrichten_uuid": "  "}`, Metadata{}},
		{"white space around the object", " \n {\"reader\":\"a\"} \n", Metadata{Reader: "a"}},
		{"escaped characters", `{"reader": "ags:\u0030916"}`, Metadata{Reader: "ags:0916"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMetadata([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseMetadataErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		key  string
		msg  string // a part of the message
	}{
		{"unknown key", `{"reader": "a", "leser": "b"}`, "leser", `metadata: key "leser": unknown key; the keys are reader, author, service, test, reply_to, nachrichten_uuid, message_type`},
		{"key in the wrong case", `{"Reader": "a"}`, "Reader", "unknown key"},
		{"test as a string", `{"test": "true"}`, "test", `metadata: key "test": must be a boolean (true or false), not a string`},
		{"test as a number", `{"test": 1}`, "test", "must be a boolean (true or false), not a number"},
		{"reader as a number", `{"reader": 9162000}`, "reader", `metadata: key "reader": must be a string, not a number`},
		{"author as an object", `{"author": {"kennung": "x"}}`, "author", "must be a string, not an object"},
		{"service as an array", `{"service": ["a"]}`, "service", "must be a string, not an array"},
		{"reply_to as a boolean", `{"reply_to": true}`, "reply_to", "must be a string, not a boolean"},
		{"message_type as a number", `{"message_type": 300}`, "message_type", "must be a string, not a number"},
		{"bad uuid", `{"nachrichten_uuid": "1234"}`, "nachrichten_uuid", "must be a UUID"},
		{"uuid with a bad digit", `{"nachrichten_uuid": "7f1c9a56-3b0e-4d7a-9c1e-2f4b8d6e0a1g"}`, "nachrichten_uuid", "must be a UUID"},
		{"duplicate key", `{"reader": "a", "reader": "b"}`, "reader", "given more than once"},
		{"control character", `{"reader": "a\nb"}`, "reader", "control character U+000A"},
		{"too long", `{"reply_to": "` + strings.Repeat("x", MaxMetadataValue+1) + `"}`, "reply_to", "longer than 2048 bytes"},
		{"empty", ``, "", "metadata: empty"},
		{"array", `[{"reader": "a"}]`, "", "must be a JSON object, not an array"},
		{"string", `"reader"`, "", "must be a JSON object, not a string"},
		{"null", `null`, "", "must be a JSON object, not null"},
		{"two objects", `{} {}`, "", "unexpected data after the JSON object"},
		{"truncated", `{"reader": "a"`, "", "not valid JSON"},
		{"missing colon", `{"reader" "a"}`, "reader", "not valid JSON: expected colon after object key"},
		{"invalid UTF-8", "{\"reader\": \"\xff\"}", "", "not valid UTF-8"},
		{"too large", `{"reader": "` + strings.Repeat("x", MaxMetadataSize) + `"}`, "", "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMetadata([]byte(tt.in))
			if err == nil {
				t.Fatalf("no error; got %+v", m)
			}
			var me *MetadataError
			if !errors.As(err, &me) {
				t.Fatalf("error %T is not a *MetadataError", err)
			}
			if me.Key != tt.key {
				t.Errorf("Key = %q, want %q (%v)", me.Key, tt.key, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
			if tt.key != "" && !strings.Contains(err.Error(), `"`+tt.key+`"`) {
				t.Errorf("error %q does not name the key", err)
			}
			if !reflect.DeepEqual(m, Metadata{}) {
				t.Errorf("metadata with an error: %+v", m)
			}
		})
	}
}

func TestMetadataJSONRoundTrip(t *testing.T) {
	in := Metadata{Reader: "ags:09162000", Test: ptr(false), MessageType: "x.0001"}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ParseMetadata(b)
	if err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("%s: got %+v", b, out)
	}
}

func TestMerge(t *testing.T) {
	doc := Facts{
		Namespace: "http://www.osci.de/xmeld2611", MessageType: "anmeldung.datenanforderung.0300",
		NachrichtenUUID: "7f1c9a56-3b0e-4d7a-9c1e-2f4b8d6e0a13",
		Author:          "ags:09162000", Reader: "ags:09761000",
	}
	tests := []struct {
		name      string
		facts     Facts
		meta      Metadata
		want      Facts
		conflicts []Conflict
	}{{
		name:  "no metadata",
		facts: doc, want: doc,
	}, {
		name:  "metadata agrees and adds service and reply_to",
		facts: doc,
		meta: Metadata{Reader: "ags:09761000", Author: "ags:09162000", MessageType: "anmeldung.datenanforderung.0300",
			NachrichtenUUID: "7F1C9A56-3B0E-4D7A-9C1E-2F4B8D6E0A13", Service: "urn:s", ReplyTo: "https://r.example"},
		want: func() Facts { f := doc; f.Service, f.ReplyTo = "urn:s", "https://r.example"; return f }(),
	}, {
		name:  "metadata fills what the document lacks",
		facts: Facts{MessageType: "m"},
		meta:  Metadata{Reader: "psw:1", Author: "psw:2", NachrichtenUUID: "u", Test: ptr(true)},
		want:  Facts{MessageType: "m", Reader: "psw:1", Author: "psw:2", NachrichtenUUID: "u", Test: true},
	}, {
		name:  "every contradiction is a conflict, and the document wins",
		facts: func() Facts { f := doc; f.Service = "urn:doc"; return f }(),
		meta: Metadata{Reader: "ags:09162000", Author: "ags:09761000", MessageType: "anmeldung.datenbereitstellung.0301",
			NachrichtenUUID: "00000000-0000-0000-0000-000000000000", Service: "urn:meta"},
		want: func() Facts { f := doc; f.Service = "urn:doc"; return f }(),
		conflicts: []Conflict{
			{Field: "message_type", Document: "anmeldung.datenanforderung.0300", Metadata: "anmeldung.datenbereitstellung.0301"},
			{Field: "nachrichten_uuid", Document: "7f1c9a56-3b0e-4d7a-9c1e-2f4b8d6e0a13", Metadata: "00000000-0000-0000-0000-000000000000"},
			{Field: "author", Document: "ags:09162000", Metadata: "ags:09761000"},
			{Field: "reader", Document: "ags:09761000", Metadata: "ags:09162000"},
			{Field: "service", Document: "urn:doc", Metadata: "urn:meta"},
		},
	}, {
		name:      "test attribute true, metadata false",
		facts:     Facts{MessageType: "m", TestAttr: "true", Test: true},
		meta:      Metadata{Test: ptr(false)},
		want:      Facts{MessageType: "m", TestAttr: "true", Test: true},
		conflicts: []Conflict{{Field: "test", Document: "true", Metadata: "false"}},
	}, {
		name:      "test attribute false, metadata true",
		facts:     Facts{MessageType: "m", TestAttr: "false"},
		meta:      Metadata{Test: ptr(true)},
		want:      Facts{MessageType: "m", TestAttr: "false"},
		conflicts: []Conflict{{Field: "test", Document: "false", Metadata: "true"}},
	}, {
		name:  "empty test attribute marks a test message and agrees with true",
		facts: Facts{MessageType: "m", Test: true},
		meta:  Metadata{Test: ptr(true)},
		want:  Facts{MessageType: "m", Test: true},
	}, {
		name:  "no test attribute, metadata false",
		facts: Facts{MessageType: "m"},
		meta:  Metadata{Test: ptr(false)},
		want:  Facts{MessageType: "m"},
	}, {
		name:      "kennung differs only in case",
		facts:     Facts{MessageType: "m", Reader: "ags:09162000"},
		meta:      Metadata{Reader: "AGS:09162000"},
		want:      Facts{MessageType: "m", Reader: "ags:09162000"},
		conflicts: []Conflict{{Field: "reader", Document: "ags:09162000", Metadata: "AGS:09162000"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, cs := Merge(tt.facts, tt.meta)
			if got != tt.want {
				t.Errorf("facts\n got %+v\nwant %+v", got, tt.want)
			}
			if !reflect.DeepEqual(cs, tt.conflicts) {
				t.Errorf("conflicts\n got %+v\nwant %+v", cs, tt.conflicts)
			}
		})
	}
}

// TestMergeWithIdentify runs the pipeline the intake runs: identify the
// document, parse the metadata part, merge.
func TestMergeWithIdentify(t *testing.T) {
	f, err := Identify([]byte(g2gQualified))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseMetadata([]byte(`{"reader": "ags:09162000", "author": "mbp:00000002", "test": true, "service": "urn:demo"}`))
	if err != nil {
		t.Fatal(err)
	}
	got, cs := Merge(f, m)
	want := []Conflict{{Field: "author", Document: "mbp:00000001", Metadata: "mbp:00000002"}}
	if !reflect.DeepEqual(cs, want) {
		t.Errorf("conflicts %+v, want %+v", cs, want)
	}
	if !got.Test || got.Service != "urn:demo" {
		t.Errorf("merged facts %+v", got)
	}
}

func FuzzParseMetadata(f *testing.F) {
	for _, s := range []string{
		`{"reader": "a", "test": true}`, `{"x": 1}`, `{}`,
		`{"nachrichten_uuid":"3f2b8c1e-6d4a-4f0b-9a7e-5c1d2e3f4a5b","reply_to":null,"service":"urn:de:demo:dienst:bauantrag"}`,
		`{"reader":"a","reader":"b"}`, `[]`, `{"test":"yes"}`, `{"author":"\u0000"}`, "\xff",
		`{"message_type":"antrag.einreichen.0100"} {}`, strings.Repeat("[", 1000),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMetadata(data)
		if err != nil {
			var me *MetadataError
			if !errors.As(err, &me) {
				t.Errorf("error %T is not a *MetadataError", err)
			}
			return
		}
		// Whatever is accepted survives a round trip.
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := ParseMetadata(b)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Errorf("round trip of %q: %+v, %v", b, m2, err)
		}
	})
}
