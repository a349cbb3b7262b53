package schemas

import (
	"bufio"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Package describes one target namespace found in the schema directories.
type Package struct {
	// Standard is the short name of the standard, from
	// xs:appinfo/standard/nameKurz, else from the directory path.
	Standard string `json:"standard"`
	// Version is from xs:appinfo/versionStandard/version, else from
	// xs:schema/@version, else from the directory path.
	Version   string `json:"version"`
	Namespace string `json:"namespace"`
	// Dir is the directory holding the files of this namespace.
	Dir string `json:"dir"`
	// MessageTypes are the local names of all global elements of this
	// namespace, sorted; each can be the root of a message.
	MessageTypes []string `json:"message_types"`
}

// xsdFile is what Load needs to know of one schema file.
type xsdFile struct {
	path, dir  string
	namespace  string
	version    string // xs:schema/@version
	standard   string // xs:appinfo/standard/nameKurz
	stdVersion string // xs:appinfo/versionStandard/version
	elements   []string
}

// readXSD reads the target namespace, version, XÖV appinfo and global element
// names of one schema file. It returns nil for a file that is no XML Schema.
func readXSD(path string) (*xsdFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("schemas: %w", err)
	}
	defer f.Close()
	d := xml.NewDecoder(bufio.NewReaderSize(f, 64<<10))
	d.CharsetReader = charsetReader
	d.Strict = false // entities declared in a DOCTYPE are libxml2's business
	x := &xsdFile{path: path, dir: filepath.Dir(path)}
	var stack []string // local names of the open elements
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return x, nil
		}
		if err != nil {
			return nil, fmt.Errorf("schemas: %s: %w", path, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch depth := len(stack); {
			case depth == 0:
				if t.Name.Space != xsdNS || t.Name.Local != "schema" {
					return nil, nil
				}
				x.namespace = attr(t, "", "targetNamespace")
				x.version = attr(t, "", "version")
			case depth == 1 && t.Name.Space == xsdNS && t.Name.Local == "element":
				if name := attr(t, "", "name"); name != "" {
					x.elements = append(x.elements, name)
				}
				if err := d.Skip(); err != nil {
					return nil, fmt.Errorf("schemas: %s: %w", path, err)
				}
				continue
			case depth == 1 && !(t.Name.Space == xsdNS && t.Name.Local == "annotation"):
				if err := d.Skip(); err != nil {
					return nil, fmt.Errorf("schemas: %s: %w", path, err)
				}
				continue
			}
			stack = append(stack, t.Name.Local)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) != 5 || stack[1] != "annotation" || stack[2] != "appinfo" {
				continue
			}
			switch stack[3] + "/" + stack[4] {
			case "standard/nameKurz":
				x.standard = firstNonEmpty(x.standard, string(t))
			case "versionStandard/version":
				x.stdVersion = firstNonEmpty(x.stdVersion, string(t))
			}
		}
	}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return strings.TrimSpace(b)
}

// charsetReader lets encoding/xml read the single-byte encodings schema
// files are written in besides UTF-8.
func charsetReader(label string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "us-ascii", "ascii":
		return in, nil
	case "iso-8859-1", "iso_8859-1", "latin1", "l1":
		return &latin1Reader{r: bufio.NewReader(in)}, nil
	}
	return nil, fmt.Errorf("unsupported encoding %q", label)
}

// latin1Reader converts ISO-8859-1 to UTF-8.
type latin1Reader struct {
	r       io.ByteReader
	pending byte // the second byte of a character not yet returned
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	n := 0
	for ; n < len(p); n++ {
		if l.pending != 0 {
			p[n], l.pending = l.pending, 0
			continue
		}
		c, err := l.r.ReadByte()
		if err != nil {
			return n, err
		}
		if c < 0x80 {
			p[n] = c
		} else {
			p[n], l.pending = 0xc0|c>>6, 0x80|c&0x3f
		}
	}
	return n, nil
}

// versionLike matches directory names such as 2.6, 1.0.0, V1_0_0 or v3.
var versionLike = regexp.MustCompile(`^[vV]?\d+([._-]\d+)*$`)

// describe derives the Package of a group. Standard and version come from
// the most frequent value among the files. When no file has
// xs:appinfo/standard/nameKurz, the standard is the nearest directory below
// the configured dir whose name occurs in the namespace
// (xdomea/2.3.0/xsd/2.3.0 → "xdomea"), else empty (as for the XÖV library,
// GML or XLink). The version falls back to xs:schema/@version and then to the
// nearest version-like directory name.
func (g *group) describe(roots []string) Package {
	p := Package{Namespace: g.namespace, Dir: g.dir, MessageTypes: []string{}}
	var standards, stdVersions, versions []string
	seen := map[string]bool{}
	for _, f := range g.files {
		standards = append(standards, f.standard)
		stdVersions = append(stdVersions, f.stdVersion)
		versions = append(versions, f.version)
		for _, e := range f.elements {
			if !seen[e] {
				seen[e] = true
				p.MessageTypes = append(p.MessageTypes, e)
			}
		}
	}
	sort.Strings(p.MessageTypes)
	p.Standard = mostFrequent(standards)
	p.Version = firstNonEmpty(mostFrequent(stdVersions), mostFrequent(versions))
	ns := strings.ToLower(g.namespace)
	for d := g.dir; g.root < len(roots) && d != roots[g.root]; d = filepath.Dir(d) {
		n := filepath.Base(d)
		if p.Version == "" && versionLike.MatchString(n) {
			p.Version = strings.ReplaceAll(strings.TrimLeft(n, "vV"), "_", ".")
		}
		if p.Standard == "" && !versionLike.MatchString(n) && strings.Contains(ns, strings.ToLower(n)) {
			p.Standard = n
		}
	}
	return p
}

// mostFrequent returns the most frequent non-empty value, the first one on a tie.
func mostFrequent(vals []string) string {
	count := map[string]int{}
	best := ""
	for _, v := range vals {
		if v == "" {
			continue
		}
		count[v]++
		if count[v] > count[best] {
			best = v
		}
	}
	return best
}

func lessPackage(a, b Package) bool {
	if s, t := strings.ToLower(a.Standard), strings.ToLower(b.Standard); s != t {
		return s < t
	}
	if a.Standard != b.Standard {
		return a.Standard < b.Standard
	}
	if c := compareVersions(a.Version, b.Version); c != 0 {
		return c < 0
	}
	return a.Namespace < b.Namespace
}

// compareVersions compares version strings part by part, numerically where
// both parts are numbers: 2.9 < 2.10.
func compareVersions(a, b string) int {
	pa, pb := versionParts.FindAllString(a, -1), versionParts.FindAllString(b, -1)
	for i := 0; i < len(pa) && i < len(pb); i++ {
		x, y := pa[i], pb[i]
		if isDigits(x) && isDigits(y) {
			x, y = strings.TrimLeft(x, "0"), strings.TrimLeft(y, "0")
			if len(x) != len(y) {
				return len(x) - len(y)
			}
		}
		if c := strings.Compare(x, y); c != 0 {
			return c
		}
	}
	return len(pa) - len(pb)
}

var versionParts = regexp.MustCompile(`\d+|[^\d.]+`)

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
