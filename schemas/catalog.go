package schemas

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// oasisNS is the namespace of OASIS XML Catalogs 1.1.
const oasisNS = "urn:oasis:names:tc:entity:xmlns:xml:catalog"

// oasisCatalog is one parsed OASIS XML catalog file. Targets are absolute URIs,
// already resolved against the catalog's location or xml:base.
type oasisCatalog struct {
	path   string
	system map[string]string
	uri    map[string]string
	// Prefix and suffix rules; on several matches the longest match wins.
	rewriteSystem, rewriteURI []catalogRule
	systemSuffix, uriSuffix   []catalogRule
	next                      []string // nextCatalog files, absolute paths
}

type catalogRule struct {
	match, target string
}

// catalogSet holds every catalog Load has read, keyed by absolute path.
type catalogSet map[string]*oasisCatalog

// load parses the catalog file at path and every catalog it chains to with
// nextCatalog. Files that are not OASIS catalogs are recorded as nil so that a
// catalog.xml of some other vocabulary is ignored. Catalogs must lie under
// one of roots.
func (s catalogSet) load(path string, roots []string) error {
	if _, seen := s[path]; seen {
		return nil
	}
	if !under(path, roots) {
		return fmt.Errorf("catalog %s is outside the configured schema directories", path)
	}
	c, err := parseCatalog(path)
	if err != nil {
		return err
	}
	s[path] = c
	if c == nil {
		return nil
	}
	for _, n := range c.next {
		if err := s.load(n, roots); err != nil {
			return fmt.Errorf("%s: nextCatalog: %w", path, err)
		}
	}
	return nil
}

// governing returns the catalog.xml files that apply to dir, the nearest first:
// a catalog.xml governs the directory it is in and every directory below.
func (s catalogSet) governing(dir string, roots []string) []*oasisCatalog {
	var chain []*oasisCatalog
	for d := dir; under(d, roots); d = filepath.Dir(d) {
		if c := s[filepath.Join(d, "catalog.xml")]; c != nil {
			chain = append(chain, c)
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return chain
}

// resolve maps a system identifier or URI through chain as libxml2 does:
// first as a system identifier through all catalogs, then as a URI.
func (s catalogSet) resolve(chain []*oasisCatalog, id string) (string, bool) {
	id = normalizeCatalogID(id)
	for _, system := range []bool{true, false} {
		for _, c := range chain {
			if t, ok := s.lookup(c, id, system, map[*oasisCatalog]bool{}); ok {
				return t, true
			}
		}
	}
	return "", false
}

// lookup resolves id in c and, failing that, in the catalogs c chains to.
func (s catalogSet) lookup(c *oasisCatalog, id string, system bool, seen map[*oasisCatalog]bool) (string, bool) {
	if c == nil || seen[c] {
		return "", false
	}
	seen[c] = true
	exact, rewrite, suffix := c.uri, c.rewriteURI, c.uriSuffix
	if system {
		exact, rewrite, suffix = c.system, c.rewriteSystem, c.systemSuffix
	}
	if t, ok := exact[id]; ok {
		return t, true
	}
	if r, ok := longest(rewrite, id, strings.HasPrefix); ok {
		return r.target + id[len(r.match):], true
	}
	if r, ok := longest(suffix, id, strings.HasSuffix); ok {
		return r.target, true
	}
	for _, n := range c.next {
		if t, ok := s.lookup(s[n], id, system, seen); ok {
			return t, true
		}
	}
	return "", false
}

// longest returns the rule with the longest match string that matches id.
func longest(rules []catalogRule, id string, matches func(s, affix string) bool) (catalogRule, bool) {
	best, found := catalogRule{}, false
	for _, r := range rules {
		if matches(id, r.match) && (!found || len(r.match) > len(best.match)) {
			best, found = r, true
		}
	}
	return best, found
}

// parseCatalog reads one catalog file. It returns nil, nil when the root
// element is not an OASIS catalog.
func parseCatalog(path string) (*oasisCatalog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c := &oasisCatalog{path: path, system: map[string]string{}, uri: map[string]string{}}
	d := xml.NewDecoder(f)
	d.CharsetReader = charsetReader
	d.Strict = false // a catalog may name the OASIS DTD; it is never read
	bases := []*url.URL{fileURL(path)}
	for depth := 0; ; {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return c, nil
		}
		if err != nil {
			return nil, fmt.Errorf("catalog %s: %w", path, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 1 && (t.Name.Space != oasisNS || t.Name.Local != "catalog") {
				return nil, nil
			}
			base := bases[len(bases)-1]
			if b := attr(t, xmlNS, "base"); b != "" {
				if u, err := base.Parse(b); err == nil {
					base = u
				}
			}
			bases = append(bases, base)
			if t.Name.Space == oasisNS {
				if err := c.add(t, base); err != nil {
					return nil, fmt.Errorf("catalog %s: %w", path, err)
				}
			}
		case xml.EndElement:
			depth--
			bases = bases[:len(bases)-1]
		}
	}
}

const xmlNS = "http://www.w3.org/XML/1998/namespace"

// add records the entry t, resolving its targets against base.
func (c *oasisCatalog) add(t xml.StartElement, base *url.URL) error {
	target := func(name string) (string, error) {
		v := attr(t, "", name)
		if v == "" {
			return "", fmt.Errorf("%s entry without %s", t.Name.Local, name)
		}
		u, err := base.Parse(v)
		if err != nil {
			return "", fmt.Errorf("%s entry: %w", t.Name.Local, err)
		}
		return u.String(), nil
	}
	rule := func(list *[]catalogRule, matchAttr, targetAttr string) error {
		tg, err := target(targetAttr)
		if err == nil {
			*list = append(*list, catalogRule{normalizeCatalogID(attr(t, "", matchAttr)), tg})
		}
		return err
	}
	switch t.Name.Local {
	case "system":
		tg, err := target("uri")
		c.system[normalizeCatalogID(attr(t, "", "systemId"))] = tg
		return err
	case "uri":
		tg, err := target("uri")
		c.uri[normalizeCatalogID(attr(t, "", "name"))] = tg
		return err
	case "rewriteSystem":
		return rule(&c.rewriteSystem, "systemIdStartString", "rewritePrefix")
	case "rewriteURI":
		return rule(&c.rewriteURI, "uriStartString", "rewritePrefix")
	case "systemSuffix":
		return rule(&c.systemSuffix, "systemIdSuffix", "uri")
	case "uriSuffix":
		return rule(&c.uriSuffix, "uriSuffix", "uri")
	case "nextCatalog":
		tg, err := target("catalog")
		if err != nil {
			return err
		}
		p, err := localPath(tg)
		if err != nil {
			return fmt.Errorf("nextCatalog %s: %w", tg, err)
		}
		c.next = append(c.next, p)
	}
	return nil
}

func attr(t xml.StartElement, space, local string) string {
	for _, a := range t.Attr {
		if a.Name.Space == space && a.Name.Local == local {
			return strings.TrimSpace(a.Value)
		}
	}
	return ""
}

// normalizeCatalogID normalizes a system identifier or URI as OASIS XML
// Catalogs 1.1 section 6.3 requires before comparing: characters outside
// printable ASCII and a few unsafe ones are percent-encoded, existing
// percent-encodings get upper-case hex digits.
func normalizeCatalogID(id string) string {
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c == '%' && i+2 < len(id) && isHex(id[i+1]) && isHex(id[i+2]):
			b.WriteByte('%')
			b.WriteString(strings.ToUpper(id[i+1 : i+3]))
			i += 2
		case c <= ' ' || c >= 0x7f || strings.IndexByte(`"<>\^`+"`{|}", c) >= 0:
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// fileURL returns the file: URL of an absolute path.
func fileURL(path string) *url.URL {
	return &url.URL{Scheme: "file", Path: filepath.ToSlash(path)}
}

// localPath returns the file system path a file: URL or an absolute,
// possibly percent-encoded path names. Any other URL is an error: the
// network is never used.
func localPath(ref string) (string, error) {
	u, err := url.Parse(ref)
	if err != nil {
		return "", err
	}
	switch {
	case u.Scheme == "file" && (u.Host == "" || u.Host == "localhost"):
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(ref, "/"):
	default:
		return "", fmt.Errorf("%s is not a local file; the network is never used", ref)
	}
	p := filepath.Clean(filepath.FromSlash(u.Path))
	if u.Scheme == "" {
		// A path whose file name contains a literal '%' is taken as it is.
		if _, err := os.Stat(p); err != nil {
			if _, rawErr := os.Stat(ref); rawErr == nil {
				p = filepath.Clean(ref)
			}
		}
	}
	return p, nil
}

// under reports whether path is one of roots or lies below one of them.
func under(path string, roots []string) bool {
	for _, r := range roots {
		if path == r || strings.HasPrefix(path, r+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// resolver decides which local file libxml2 may open for a URL while the
// schema of one directory compiles.
type resolver struct {
	roots    []string
	catalogs catalogSet
	chain    []*oasisCatalog // the catalogs governing dir, nearest first
	dir      string
}

func (r *resolver) resolve(ref string) (string, error) {
	target, mapped := r.catalogs.resolve(r.chain, ref)
	if !mapped {
		target = ref
	}
	p, err := localPath(target)
	if err != nil {
		if !mapped {
			return "", fmt.Errorf("%s: no catalog.xml governing %s maps it, and the network is never used", ref, r.dir)
		}
		return "", fmt.Errorf("%s: catalog maps it to %s: %w", ref, target, err)
	}
	if real, err := filepath.EvalSymlinks(p); err == nil {
		p = real
	}
	if !under(p, r.roots) {
		return "", fmt.Errorf("%s: %s is outside the configured schema directories", ref, p)
	}
	return p, nil
}
