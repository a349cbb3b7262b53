package identify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxMetadataSize is the largest metadata document that ParseMetadata reads.
const MaxMetadataSize = 64 << 10

// MaxMetadataValue is the largest value, in bytes, of one metadata key.
const MaxMetadataValue = 2048

// Metadata is what a client states about a message beside the document, as
// the JSON object of the "metadata" part of a multipart submission, with the
// keys reader, author, service, test, reply_to, nachrichten_uuid and
// message_type. An empty string means that the key was not given.
type Metadata struct {
	Reader          string `json:"reader,omitempty"`
	Author          string `json:"author,omitempty"`
	Service         string `json:"service,omitempty"`
	ReplyTo         string `json:"reply_to,omitempty"`
	NachrichtenUUID string `json:"nachrichten_uuid,omitempty"`
	MessageType     string `json:"message_type,omitempty"`
	// Test is nil when the key test was not given.
	Test *bool `json:"test,omitempty"`
}

// MetadataError reports why a metadata document was refused. Key names the
// offending key; it is empty when the document as a whole is at fault.
type MetadataError struct {
	Key string
	Msg string
}

// Error returns the message, naming the key.
func (e *MetadataError) Error() string {
	if e.Key == "" {
		return "metadata: " + e.Msg
	}
	return fmt.Sprintf("metadata: key %q: %s", e.Key, e.Msg)
}

// ParseMetadata parses a metadata document strictly. It must be one JSON
// object and nothing else; every key must be one of the keys of Metadata and
// may appear once; test must be a boolean and every other key a string.
// A null value counts as not given. Strings are trimmed; they must not contain
// control characters nor be longer than MaxMetadataValue bytes, and
// nachrichten_uuid must be a UUID in the canonical 8-4-4-4-12 form. Every
// error is a *MetadataError that names the offending key.
func ParseMetadata(data []byte) (Metadata, error) {
	var m Metadata
	if len(data) > MaxMetadataSize {
		return m, &MetadataError{Msg: fmt.Sprintf("larger than %d bytes", MaxMetadataSize)}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return m, &MetadataError{Msg: "empty; send a JSON object such as {} or leave the part out"}
	}
	if !utf8.Valid(data) {
		return m, &MetadataError{Msg: "not valid UTF-8"}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return m, &MetadataError{Msg: "not valid JSON: " + jsonMsg(err)}
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return m, &MetadataError{Msg: "must be a JSON object, not " + jsonKind(tok)}
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return Metadata{}, &MetadataError{Msg: "not valid JSON: " + jsonMsg(err)}
		}
		key := tok.(string) // object keys are always strings
		target, known := m.fieldFor(key)
		if !known {
			return Metadata{}, &MetadataError{Key: key, Msg: "unknown key; the keys are " + strings.Join(metadataKeys, ", ")}
		}
		if seen[key] {
			return Metadata{}, &MetadataError{Key: key, Msg: "given more than once"}
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return Metadata{}, &MetadataError{Key: key, Msg: "not valid JSON: " + jsonMsg(err)}
		}
		if err := target(raw); err != nil {
			return Metadata{}, &MetadataError{Key: key, Msg: err.Error()}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return Metadata{}, &MetadataError{Msg: "not valid JSON: " + jsonMsg(err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return Metadata{}, &MetadataError{Msg: "unexpected data after the JSON object"}
	}
	return m, nil
}

// metadataKeys lists the keys of a metadata document in documentation order.
var metadataKeys = []string{"reader", "author", "service", "test", "reply_to", "nachrichten_uuid", "message_type"}

// fieldFor returns the function that stores the raw value of key in m.
func (m *Metadata) fieldFor(key string) (func(json.RawMessage) error, bool) {
	str := func(dst *string, check func(string) error) func(json.RawMessage) error {
		return func(raw json.RawMessage) error {
			s, err := metadataString(raw)
			if err == nil && s != "" && check != nil {
				err = check(s)
			}
			*dst = s
			return err
		}
	}
	switch key {
	case "reader":
		return str(&m.Reader, nil), true
	case "author":
		return str(&m.Author, nil), true
	case "service":
		return str(&m.Service, nil), true
	case "reply_to":
		return str(&m.ReplyTo, nil), true
	case "nachrichten_uuid":
		return str(&m.NachrichtenUUID, checkUUID), true
	case "message_type":
		return str(&m.MessageType, nil), true
	case "test":
		return func(raw json.RawMessage) error {
			switch string(raw) {
			case "true", "false":
				b := string(raw) == "true"
				m.Test = &b
				return nil
			case "null":
				return nil
			}
			return fmt.Errorf("must be a boolean (true or false), not %s", rawKind(raw))
		}, true
	}
	return nil, false
}

// metadataString decodes a string value, trims it and checks its characters.
func metadataString(raw json.RawMessage) (string, error) {
	if string(raw) == "null" {
		return "", nil
	}
	if len(raw) == 0 || raw[0] != '"' {
		return "", fmt.Errorf("must be a string, not %s", rawKind(raw))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errors.New("must be a string")
	}
	s = strings.TrimSpace(s)
	if len(s) > MaxMetadataValue {
		return "", fmt.Errorf("longer than %d bytes", MaxMetadataValue)
	}
	for _, r := range s {
		switch {
		case unicode.IsControl(r):
			return "", fmt.Errorf("contains the control character %U", r)
		case r == utf8.RuneError:
			return "", errors.New("contains the replacement character U+FFFD (an invalid character)")
		}
	}
	return s, nil
}

// checkUUID accepts a UUID in the canonical form, in either case.
func checkUUID(s string) error {
	if len(s) != 36 {
		return errors.New("must be a UUID such as 7f1c9a56-3b0e-4d7a-9c1e-2f4b8d6e0a13")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return errors.New("must be a UUID such as 7f1c9a56-3b0e-4d7a-9c1e-2f4b8d6e0a13")
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return errors.New("must be a UUID such as 7f1c9a56-3b0e-4d7a-9c1e-2f4b8d6e0a13")
			}
		}
	}
	return nil
}

// rawKind names the JSON type of a raw value.
func rawKind(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// jsonKind names the JSON type of a token.
func jsonKind(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			return "an array"
		}
		return "a " + string(t)
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "a number"
}

// jsonMsg returns the message of a JSON error without the package prefix.
func jsonMsg(err error) string {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return "unexpected end of input"
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (at byte %d)", strings.TrimPrefix(se.Error(), "json: "), se.Offset)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// Conflict is a contradiction between the document and its metadata. Field
// is the metadata key (for example "reader"); Document and Metadata are the
// two values as strings. The caller answers it with 422.
type Conflict struct {
	Field    string `json:"field"`
	Document string `json:"document"`
	Metadata string `json:"metadata"`
}

// Merge fills the facts that the document lacks from the metadata and reports
// every contradiction between the two. A value the document states wins and a
// different metadata value is a Conflict. Values are compared exactly, as they
// are identifiers, except nachrichten_uuid, whose hex digits may differ in
// case. Service and ReplyTo come only from metadata.
//
// The test flag counts as stated by the document when its root has a test
// attribute (Test is true or TestAttr is not empty). A document without one
// takes the flag from the metadata, so metadata can mark a message as a test
// message but cannot clear a test attribute.
//
// The conflicts come in a fixed order: message_type, nachrichten_uuid,
// author, reader, test, service, reply_to.
func Merge(f Facts, m Metadata) (Facts, []Conflict) {
	var cs []Conflict
	merge := func(key string, doc *string, meta string) {
		switch {
		case meta == "":
		case *doc == "":
			*doc = meta
		case *doc != meta && !(key == "nachrichten_uuid" && strings.EqualFold(*doc, meta)):
			cs = append(cs, Conflict{Field: key, Document: *doc, Metadata: meta})
		}
	}
	merge("message_type", &f.MessageType, m.MessageType)
	merge("nachrichten_uuid", &f.NachrichtenUUID, m.NachrichtenUUID)
	merge("author", &f.Author, m.Author)
	merge("reader", &f.Reader, m.Reader)
	if m.Test != nil {
		switch {
		case !f.Test && f.TestAttr == "":
			f.Test = *m.Test
		case f.Test != *m.Test:
			cs = append(cs, Conflict{Field: "test", Document: strconv.FormatBool(f.Test), Metadata: strconv.FormatBool(*m.Test)})
		}
	}
	merge("service", &f.Service, m.Service)
	merge("reply_to", &f.ReplyTo, m.ReplyTo)
	return f, cs
}
