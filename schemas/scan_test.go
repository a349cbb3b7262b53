package schemas

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

const qualityRoot = `<nachricht xmlns="urn:drehscheibe:test:quality" version="1"`

func attrs(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " a%d=\"\"", i)
	}
	return b.String()
}

func nsDecls(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " xmlns:p%d=\"urn:p:%d\"", i, i)
	}
	return b.String()
}

func encodeUTF16(s string, bigEndian, bom bool) []byte {
	var b bytes.Buffer
	var order binary.ByteOrder = binary.LittleEndian
	if bigEndian {
		order = binary.BigEndian
	}
	if bom {
		_ = binary.Write(&b, order, uint16(0xFEFF))
	}
	for _, u := range utf16.Encode([]rune(s)) {
		_ = binary.Write(&b, order, u)
	}
	return b.Bytes()
}

// TestLimits checks each limit at its value and one beyond, in memory, from
// a file and in UTF-16, and that the refusal names the limit.
func TestLimits(t *testing.T) {
	c := quality(t)
	l := Limits{MaxDepth: 256, MaxAttributes: 8, MaxAttributeBytes: 100, MaxNamespaces: 4}
	if err := c.SetLimits(l); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.SetLimits(DefaultLimits()) }()
	// The root's default namespace declaration counts too.
	nestedNS := func(levels int) string {
		var b strings.Builder
		b.WriteString(qualityRoot + ">")
		for i := 0; i < levels; i++ {
			fmt.Fprintf(&b, "<eintrag xmlns:l%d=\"urn:l\">", i)
		}
		return b.String() + strings.Repeat("</eintrag>", levels) + "</nachricht>"
	}
	for _, tc := range []struct {
		name  string
		doc   string
		limit string // "" when the document passes the scanner
		line  int
	}{
		{"attributes at the limit", qualityRoot + attrs(6) + "/>", "", 0},
		{"attributes beyond the limit", qualityRoot + "\n" + attrs(7) + "/>", LimitAttributes, 2},
		{"attributes beyond the limit on a child", qualityRoot + "><eintrag" + attrs(9) + "/></nachricht>", LimitAttributes, 1},
		{"attribute value at the limit", qualityRoot + ` x="` + strings.Repeat("a", 100) + `"/>`, "", 0},
		{"attribute value beyond the limit", qualityRoot + ` x='` + strings.Repeat("a", 101) + `'/>`, LimitAttributeBytes, 1},
		{"namespaces at the limit", qualityRoot + nsDecls(3) + "/>", "", 0},
		{"namespaces beyond the limit", qualityRoot + nsDecls(4) + "/>", LimitNamespaces, 1},
		{"namespaces in scope add up", nestedNS(4), LimitNamespaces, 1},
		{"namespaces of closed elements leave scope", qualityRoot + ">" + strings.Repeat("<eintrag"+nsDecls(3)+"/>", 50) +
			strings.Repeat("<eintrag"+nsDecls(3)+"></eintrag>", 50) + "</nachricht>", "", 0},
		{"quotes hide markup", qualityRoot + ` x="a>b c=d e=f g=h i=j k=l m=n o=p q=r"/>`, "", 0},
		{"comments hide markup", qualityRoot + "><!-- <a" + attrs(20) + "> --></nachricht>", "", 0},
		{"CDATA hides markup", qualityRoot + "><![CDATA[<a" + attrs(20) + ">]]></nachricht>", "", 0},
		{"markup after a comment counts", qualityRoot + "><!-- x --><eintrag" + attrs(9) + "/></nachricht>", LimitAttributes, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs := map[string][]byte{
				"utf-8":    []byte(tc.doc),
				"utf-16le": encodeUTF16(`<?xml version="1.0" encoding="UTF-16"?>`+tc.doc, false, true),
				"utf-16be": encodeUTF16(tc.doc, true, false),
			}
			for enc, doc := range docs {
				for mode, validate := range map[string]func([]byte) *Report{
					"memory": c.Validate,
					"file": func(doc []byte) *Report {
						return c.ValidateFile(writeFile(t, t.TempDir(), "doc.xml", string(doc)))
					},
				} {
					r := validate(doc)
					if tc.limit == "" {
						if r.Outcome == OutcomeForbidden {
							t.Errorf("%s %s: refused: %+v", enc, mode, r.Errors)
						}
						continue
					}
					if r.Outcome != OutcomeForbidden || r.Limit == nil || r.Limit.Name != tc.limit || len(r.Errors) != 1 {
						t.Fatalf("%s %s: %s %+v %+v", enc, mode, r.Outcome, r.Limit, r.Errors)
					}
					if enc == "utf-8" && r.Errors[0].Line != tc.line {
						t.Errorf("%s %s: line %d, want %d", enc, mode, r.Errors[0].Line, tc.line)
					}
				}
			}
		})
	}
}

// TestScannerPieces feeds documents in pieces of every size from one byte
// up: the verdict must not depend on where the pieces end.
func TestScannerPieces(t *testing.T) {
	l := Limits{MaxDepth: 256, MaxAttributes: 3, MaxAttributeBytes: 10, MaxNamespaces: 2}
	docs := []string{
		`<?xml version="1.0" encoding="UTF-8"?><a x="1" y="2" z="3"/>`,
		`<?xml version="1.0" encoding="UTF-8"?><a x="1" y="2" z="3" w="4"/>`,
		`<?xml version="1.0" encoding="IBM037"?><a/>`,
		`<!-- c --><?pi?><!DOCTYPE a><a/>`,
		`<a><!-- --x> --><![CDATA[ ]] ]]><b xmlns:p="u" xmlns:q="v"/><c xmlns:r="w"></c></a>`,
		`<a xmlns:p="u"><b xmlns:q="v"><c xmlns:r="w"/></b></a>`,
		`<a x="` + strings.Repeat("ä", 6) + `"/>`,
		"  \n <!-- only a comment -->\n",
		"<a>\xe4\x80x\n\xc3<b x='\xff\xfe\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80'/></a>",
	}
	for _, doc := range docs {
		for _, variant := range [][]byte{[]byte(doc), encodeUTF16(doc, false, true), encodeUTF16(doc, true, false)} {
			whole := scan(variant, l)
			for size := 1; size <= len(variant); size++ {
				s := newScanner(l)
				var r *Report
				for i := 0; i < len(variant) && r == nil; i += size {
					r = s.feed(variant[i:min(i+size, len(variant))])
				}
				if r == nil {
					r = s.end()
				}
				if r != nil {
					s.locate(r, bytes.NewReader(variant))
				}
				if !reflect.DeepEqual(r, whole) {
					t.Fatalf("%q in pieces of %d: %v, whole: %v", variant, size, r, whole)
				}
			}
		}
	}
}

func TestScannerEncodings(t *testing.T) {
	c := quality(t)
	valid := `<nachricht xmlns="urn:drehscheibe:test:quality" version="1"><eintrag>1</eintrag></nachricht>`
	for _, tc := range []struct {
		name string
		doc  []byte
		want Outcome
		msg  string
	}{
		{"UTF-16LE with BOM", encodeUTF16(`<?xml version="1.0" encoding="UTF-16"?>`+valid, false, true), OutcomeValid, ""},
		{"UTF-16BE without BOM", encodeUTF16(`<?xml version="1.0" encoding="UTF-16"?>`+valid, true, false), OutcomeValid, ""},
		{"UTF-16 declaring UTF-8", encodeUTF16(`<?xml version="1.0" encoding="UTF-8"?>`+valid, false, true), OutcomeMalformed, "but the document is UTF-16"},
		{"UTF-8 declaring UTF-16", []byte(`<?xml version="1.0" encoding="UTF-16"?>` + valid), OutcomeMalformed, "but the document is not UTF-16"},
		{"UTF-7", []byte(`<?xml version="1.0" encoding="UTF-7"?>+ADw-nachricht/+AD4-`), OutcomeMalformed, `unsupported encoding "UTF-7"`},
		{"EBCDIC declared", []byte(`<?xml version="1.0" encoding="IBM037"?>` + valid), OutcomeMalformed, `unsupported encoding "IBM037"`},
		{"EBCDIC detected", []byte{0x4C, 0x6F, 0xA7, 0x94, 0x93}, OutcomeMalformed, "EBCDIC"},
		{"UCS-4", []byte{0, 0, 0, '<', 0, 0, 0, 'a'}, OutcomeMalformed, "UCS-4"},
		{"latin-1 declared", []byte(`<?xml version="1.0" encoding="ISO-8859-1"?>` + valid), OutcomeValid, ""},
		{"UTF-8 declared, latin-1 bytes", []byte(`<?xml version="1.0" encoding="UTF-8"?>` + strings.Replace(valid, "1<", "M\xfcller<", 1)), OutcomeMalformed, ""},
		{"a stylesheet PI is no declaration", []byte(`<?xml-stylesheet encoding="IBM037"?>` + valid), OutcomeValid, ""},
		{"empty", []byte(" \n"), OutcomeMalformed, "Document is empty"},
		{"empty UTF-16", encodeUTF16("<!-- -->", false, true), OutcomeMalformed, "Document is empty"},
		{"DOCTYPE in UTF-16 without BOM", encodeUTF16(`<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`, true, false), OutcomeForbidden, "DOCTYPE"},
		{"DOCTYPE after the root", []byte(`<a><!DOCTYPE a></a>`), OutcomeForbidden, "DOCTYPE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.Validate(tc.doc)
			if r.Outcome != tc.want {
				t.Fatalf("outcome %s, want %s: %+v", r.Outcome, tc.want, r.Errors)
			}
			if tc.msg != "" && (len(r.Errors) == 0 || !strings.Contains(r.Errors[0].Message, tc.msg)) {
				t.Errorf("errors %+v, want %q", r.Errors, tc.msg)
			}
		})
	}
}

// TestHostileStartTags refuses the start tags that cost libxml2 quadratic
// time before it reads them: what took minutes takes milliseconds.
func TestHostileStartTags(t *testing.T) {
	c := quality(t)
	for _, tc := range []struct {
		name  string
		doc   string
		limit string
	}{
		{"a million attributes", qualityRoot + attrs(1000000) + "/>", LimitAttributes},
		{"100,000 namespace declarations on one element", qualityRoot + nsDecls(100000) + "/>", LimitAttributes},
		{"100,000 nested namespace declarations", qualityRoot + ">" + strings.Repeat(`<eintrag xmlns:p="urn:p">`, 100000), LimitNamespaces},
		{"a 10 MB attribute", qualityRoot + ` x="` + strings.Repeat("A", 10<<20) + `"/>`, LimitAttributeBytes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			r := c.Validate([]byte(tc.doc))
			if r.Outcome != OutcomeForbidden || r.Limit == nil || r.Limit.Name != tc.limit {
				t.Fatalf("%s %+v %+v", r.Outcome, r.Limit, r.Errors)
			}
			t.Logf("%d bytes refused in %v: %s", len(tc.doc), time.Since(start), r.Errors[0].Message)
		})
	}
}

func TestSetLimitsRefusesNonsense(t *testing.T) {
	c := quality(t)
	for _, l := range []Limits{
		{MaxDepth: 0, MaxAttributes: 1, MaxAttributeBytes: 1, MaxNamespaces: 1},
		{MaxDepth: hardMaxDepth + 1, MaxAttributes: 1, MaxAttributeBytes: 1, MaxNamespaces: 1},
		{MaxDepth: 1, MaxAttributes: 0, MaxAttributeBytes: 1, MaxNamespaces: 1},
		{MaxDepth: 1, MaxAttributes: 1, MaxAttributeBytes: -1, MaxNamespaces: 1},
		{MaxDepth: 1, MaxAttributes: 1, MaxAttributeBytes: 1, MaxNamespaces: 0},
	} {
		if err := c.SetLimits(l); err == nil {
			t.Errorf("%+v accepted", l)
		}
	}
	if c.Limits() != DefaultLimits() {
		t.Errorf("limits changed to %+v", c.Limits())
	}
}
