package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// source records where a value came from: a line of the file or an
// environment variable.
type source struct {
	line int
	env  string
}

// parse is Load and Parse: file names the file for error messages, or is "".
func parse(data []byte, env func(string) (string, bool), file string) (*Config, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && err != io.EOF {
		return nil, syntaxError(err, file)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		if err != nil {
			return nil, syntaxError(err, file)
		}
		return nil, &Error{File: file, Line: extra.Line, Msg: "a second YAML document; the config file holds exactly one"}
	}

	c := Default()
	c.file = file
	c.src = map[string]source{}
	d := newDecoder(file, c.src, &doc)
	errs := d.decode(&doc, reflect.ValueOf(c).Elem(), "")
	if env != nil {
		errs = append(errs, applyEnv(reflect.ValueOf(c).Elem(), "", env, c.src)...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// Compared as strings by the authentication, so one spelling.
	for i := range c.Senders {
		c.Senders[i].APIKeySHA256 = strings.ToLower(c.Senders[i].APIKeySHA256)
	}
	for i := range c.Readers {
		c.Readers[i].APIKeySHA256 = strings.ToLower(c.Readers[i].APIKeySHA256)
	}
	for i := range c.Admins {
		c.Admins[i].APIKeySHA256 = strings.ToLower(c.Admins[i].APIKeySHA256)
	}
	for i := range c.Targets {
		t := &c.Targets[i]
		t.key = fmt.Sprintf("targets[%d]", i)
		t.file = file
		t.line = c.src[t.key].line
		t.optionsLine = c.src[t.key+".options"].line
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError rewrites a YAML syntax error as an *Error with its line.
func syntaxError(err error, file string) error {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return &Error{File: file, Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
}

// decoder fills Go values from YAML nodes strictly: unknown keys, duplicate
// keys and values of the wrong type are errors naming the key path. yaml.v3's
// own KnownFields reports neither the path nor, for nested structs, the
// field's place in the file, hence this walker.
type decoder struct {
	file string
	src  map[string]source // key path → line; nil to not record
	// budget is how many more nodes decode may visit. Aliases are
	// followed, so a few lines of anchors can stand for billions of values
	// ("billion laughs" in YAML); the budget stops that.
	budget    int
	exhausted bool
}

// aliasFactor is how many times over its own nodes a document may be
// visited through aliases.
const aliasFactor = 10

// newDecoder returns a decoder for the document n.
func newDecoder(file string, src map[string]source, n *yaml.Node) *decoder {
	return &decoder{file: file, src: src, budget: aliasFactor*countNodes(n) + 1000}
}

// spend charges one visit of n to the budget. It reports whether decoding
// must stop, with the error to return the first time.
func (d *decoder) spend(n *yaml.Node, path string) (bool, []error) {
	if d.exhausted {
		return true, nil
	}
	if d.budget--; d.budget < 0 {
		d.exhausted = true
		return true, []error{d.errorf(n, path, "YAML aliases expand the configuration to more than %d times its size; write the values out", aliasFactor)}
	}
	return false, nil
}

// countNodes counts the nodes of n without following aliases.
func countNodes(n *yaml.Node) int {
	c := 1
	for _, k := range n.Content {
		c += countNodes(k)
	}
	return c
}

var (
	nodeType     = reflect.TypeOf(yaml.Node{})
	durationType = reflect.TypeOf(time.Duration(0))
	yamlUnmarsh  = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	textUnmarsh  = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

// decodeInto decodes n into the value v points to; it returns the joined
// errors or nil.
func (d *decoder) decodeInto(n *yaml.Node, v any, path string) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("config: decode into non-pointer %T", v)
	}
	if n.Kind == 0 {
		return nil
	}
	return errors.Join(d.decode(n, rv.Elem(), path)...)
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) *Error {
	return &Error{Key: path, File: d.file, Line: n.Line, Msg: fmt.Sprintf(format, args...)}
}

func (d *decoder) record(path string, line int) {
	if d.src != nil && path != "" {
		d.src[path] = source{line: line}
	}
}

// decode fills v from n. A missing or null node leaves v as it is, so
// defaults survive an empty key.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) []error {
	if stop, errs := d.spend(n, path); stop {
		return errs
	}
	switch n.Kind {
	case 0:
		return nil
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return d.decode(n.Content[0], v, path)
	case yaml.AliasNode:
		return d.decode(n.Alias, v, path)
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" && v.Type() != nodeType {
		return nil
	}

	t := v.Type()
	switch {
	case t == nodeType:
		v.Set(reflect.ValueOf(*n))
		return nil
	case t == durationType:
		if n.Kind != yaml.ScalarNode {
			return []error{d.errorf(n, path, "want a duration such as \"30s\", got %s", kindName(n))}
		}
		dur, err := parseDuration(n.Value)
		if err != nil {
			return []error{d.errorf(n, path, "%s", err)}
		}
		v.SetInt(int64(dur))
		return nil
	case reflect.PointerTo(t).Implements(yamlUnmarsh):
		if err := n.Decode(v.Addr().Interface()); err != nil {
			return []error{d.errorf(n, path, "%s", cleanYAMLError(err))}
		}
		return nil
	case reflect.PointerTo(t).Implements(textUnmarsh):
		if n.Kind != yaml.ScalarNode {
			return []error{d.errorf(n, path, "want a single value, got %s", kindName(n))}
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			return []error{d.errorf(n, path, "%s", err)}
		}
		return nil
	}

	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		return d.decode(n, v.Elem(), path)
	case reflect.Struct:
		return d.decodeStruct(n, v, path)
	case reflect.Slice:
		return d.decodeSlice(n, v, path)
	case reflect.Map:
		return d.decodeMap(n, v, path)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return []error{d.errorf(n, path, "want a single value, got %s", kindName(n))}
		}
		v.SetString(n.Value)
		return nil
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			return []error{d.errorf(n, path, "want true or false, got %s", describe(n))}
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			return []error{d.errorf(n, path, "want true or false, got %s", describe(n))}
		}
		v.SetBool(b)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := parseInt(n)
		if err != nil || v.OverflowInt(i) {
			return []error{d.errorf(n, path, "want an integer, got %s", describe(n))}
		}
		v.SetInt(i)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		i, err := parseInt(n)
		if err != nil || i < 0 || v.OverflowUint(uint64(i)) {
			return []error{d.errorf(n, path, "want a non-negative integer, got %s", describe(n))}
		}
		v.SetUint(uint64(i))
		return nil
	}
	// Floats, interfaces and whatever else an adapter may use: yaml.v3's
	// own rules, with the error tied to the key.
	if err := n.Decode(v.Addr().Interface()); err != nil {
		return []error{d.errorf(n, path, "%s", cleanYAMLError(err))}
	}
	return nil
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) []error {
	if stop, errs := d.spend(n, path); stop {
		return errs
	}
	if n.Kind != yaml.MappingNode {
		return []error{d.errorf(n, path, "want a mapping of keys, got %s", kindName(n))}
	}
	fields := structFields(v.Type())
	var errs []error
	// Merge keys (<<: *anchor) first, so that explicit keys override them.
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.ShortTag() != "!!merge" {
			continue
		}
		for _, m := range mergeSources(val) {
			errs = append(errs, d.decodeStruct(m, v, path)...)
		}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.ShortTag() == "!!merge" {
			continue
		}
		p := join(path, k.Value)
		if prev, dup := seen[k.Value]; dup {
			errs = append(errs, d.errorf(k, p, "key given twice (first at line %d)", prev))
			continue
		}
		seen[k.Value] = k.Line
		f, ok := fields[k.Value]
		if !ok {
			if hint, gone := removedKeys[p]; gone {
				errs = append(errs, d.errorf(k, p, "no longer a key: %s", hint))
				continue
			}
			errs = append(errs, d.errorf(k, p, "unknown key%s", suggest(k.Value, fields, path)))
			continue
		}
		d.record(p, k.Line)
		errs = append(errs, d.decode(val, v.FieldByIndex(f), p)...)
	}
	return errs
}

// removedKeys explains keys that earlier versions took, so that an old file
// fails with what to write instead.
var removedKeys = map[string]string{
	"nats.max_age": "streams no longer drop messages by age, delivered or not; " +
		"use nats.payload_retention (content of finished submissions), nats.event_retention (event logs) " +
		"and targets[].max_age (when an undelivered submission becomes a dead letter)",
}

// mergeSources returns the mappings a merge key's value stands for.
func mergeSources(n *yaml.Node) []*yaml.Node {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.SequenceNode {
		var out []*yaml.Node
		for _, c := range n.Content {
			out = append(out, mergeSources(c)...)
		}
		return out
	}
	return []*yaml.Node{n}
}

// defaulter is implemented by list elements that have defaults of their own.
type defaulter interface{ setDefaults() }

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) []error {
	if n.Kind != yaml.SequenceNode {
		return []error{d.errorf(n, path, "want a list, got %s", kindName(n))}
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	var errs []error
	for i, c := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		e := s.Index(i)
		if df, ok := e.Addr().Interface().(defaulter); ok {
			df.setDefaults()
		}
		d.record(p, c.Line)
		errs = append(errs, d.decode(c, e, p)...)
	}
	v.Set(s)
	return errs
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) []error {
	if n.Kind != yaml.MappingNode {
		return []error{d.errorf(n, path, "want a mapping of keys, got %s", kindName(n))}
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	var errs []error
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		if prev, dup := seen[k.Value]; dup {
			errs = append(errs, d.errorf(k, p, "key given twice (first at line %d)", prev))
			continue
		}
		seen[k.Value] = k.Line
		key := reflect.New(v.Type().Key()).Elem()
		if ke := d.decode(k, key, p); len(ke) > 0 {
			errs = append(errs, ke...)
			continue
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		d.record(p, k.Line)
		if ee := d.decode(val, elem, p); len(ee) > 0 {
			errs = append(errs, ee...)
			continue
		}
		v.SetMapIndex(key, elem)
	}
	return errs
}

// structFields maps the YAML keys of a struct type to field indexes,
// following yaml.v3's conventions: the yaml tag's name, or the lower-cased
// field name; "-" skips a field; ",inline" flattens an embedded struct.
func structFields(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Struct {
			for k, idx := range structFields(f.Type) {
				out[k] = append([]int{i}, idx...)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = []int{i}
	}
	return out
}

// suggest explains an unknown key: the nearest known key if one is close,
// otherwise the keys the parent takes.
func suggest(key string, fields map[string][]int, parent string) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	best, bestDist := "", 3
	for _, k := range names {
		if dist := levenshtein(strings.ToLower(key), k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	where := parent
	if where == "" {
		where = "the top level"
	}
	return fmt.Sprintf("; %s takes: %s", where, strings.Join(names, ", "))
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// kindName says what a node is, for "want X, got Y" messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return describe(n)
	}
	return "an empty value"
}

// describe quotes a scalar for an error message, shortened so that a
// misplaced secret or a long blob does not end up whole in a log.
func describe(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return kindName(n)
	}
	s := n.Value
	if r := []rune(s); len(r) > 40 {
		s = string(r[:40]) + "…"
	}
	return strconv.Quote(s)
}

func parseInt(n *yaml.Node) (int64, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, errors.New("not a scalar")
	}
	if n.ShortTag() == "!!int" {
		var i int64
		err := n.Decode(&i)
		return i, err
	}
	// A quoted number ("3") is accepted too: it is what an operator meant.
	return strconv.ParseInt(strings.TrimSpace(n.Value), 10, 64)
}

// parseDuration parses a Go duration string and explains the usual mistake,
// a bare number.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	d, err := time.ParseDuration(s)
	if err == nil {
		return d, nil
	}
	if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
		return 0, fmt.Errorf("%q has no unit; write a duration such as \"30s\", \"5m\" or \"24h\"", s)
	}
	return 0, fmt.Errorf("%q is not a duration; write one such as \"30s\", \"5m\" or \"24h\"", s)
}

var yamlErrLine = regexp.MustCompile(`^(yaml: unmarshal errors:\n\s*)?(yaml: )?(line \d+: )?`)

// cleanYAMLError strips yaml.v3's prefixes; the key and line are added by
// the caller.
func cleanYAMLError(err error) string {
	return yamlErrLine.ReplaceAllString(err.Error(), "")
}

var keyPrefix = regexp.MustCompile(`^([a-z][a-z0-9_-]*(\[\d+\])*(\.[a-z][a-z0-9_-]*(\[\d+\])*)*): (.+)$`)

// splitKeyPrefix splits "dir: required" into "dir" and "required".
func splitKeyPrefix(msg string) (key, rest string, ok bool) {
	m := keyPrefix.FindStringSubmatch(msg)
	if m == nil {
		return "", "", false
	}
	return m[1], m[5], true
}

// optionsLine finds the line of sub (".dir", ".retry.delay") within the
// options node, or of the deepest part of it that exists; 0 if not even the
// first part exists.
func optionsLine(n *yaml.Node, sub string) int {
	line := 0
	for _, part := range strings.Split(strings.TrimPrefix(sub, "."), ".") {
		if part == "" || n.Kind != yaml.MappingNode {
			break
		}
		part, _, _ = strings.Cut(part, "[")
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				line, next = n.Content[i].Line, n.Content[i+1]
				break
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return line
}

// EnvVar is one environment variable that overrides a key.
type EnvVar struct {
	// Name is the variable, e.g. "DREHSCHEIBE_SERVER_LISTEN".
	Name string
	// Key is the key it overrides, e.g. "server.listen".
	Key string
}

// EnvVars lists every environment variable that overrides a key, in the
// order of the keys in Config.
func EnvVars() []EnvVar {
	var out []EnvVar
	walkEnv(reflect.ValueOf(Default()).Elem(), "", func(_ reflect.Value, key string) {
		out = append(out, EnvVar{Name: envName(key), Key: key})
	})
	return out
}

func envName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// walkEnv calls fn for every key an environment variable can override:
// scalars and lists of strings inside nested structs, but not the entries
// of lists of structs.
func walkEnv(v reflect.Value, path string, fn func(v reflect.Value, key string)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		key := join(path, name)
		fv := v.Field(i)
		switch {
		case f.Type == nodeType:
		case f.Type.Kind() == reflect.Struct:
			walkEnv(fv, key, fn)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() != reflect.String:
		case f.Type.Kind() == reflect.Pointer, f.Type.Kind() == reflect.Map:
		default:
			fn(fv, key)
		}
	}
}

// applyEnv overrides keys from environment variables and records them as
// the source of those keys.
func applyEnv(v reflect.Value, path string, env func(string) (string, bool), src map[string]source) []error {
	var errs []error
	walkEnv(v, path, func(fv reflect.Value, key string) {
		name := envName(key)
		val, ok := env(name)
		if !ok {
			return
		}
		src[key] = source{env: name}
		if err := setFromString(fv, val); err != nil {
			errs = append(errs, &Error{Key: key, Env: name, Msg: err.Error()})
		}
	})
	return errs
}

// setFromString sets a scalar or string list from an environment value.
func setFromString(v reflect.Value, s string) error {
	t := v.Type()
	switch {
	case t == durationType:
		d, err := parseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	case reflect.PointerTo(t).Implements(textUnmarsh):
		return v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s))
	}
	switch t.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || v.OverflowInt(i) {
			return fmt.Errorf("want an integer, got %q", s)
		}
		v.SetInt(i)
	case reflect.Slice: // of strings, comma-separated
		var list []string
		for _, part := range strings.Split(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				list = append(list, part)
			}
		}
		v.Set(reflect.ValueOf(list).Convert(t))
	default:
		return fmt.Errorf("config: cannot set %s from the environment", t)
	}
	return nil
}
