package identify

import (
	"encoding/xml"
	"strings"
)

// field names a value that the header readers collect.
type field int

const (
	fUUID field = iota
	fTypCode
	fProzessID
	fAuthor
	fAuthorName
	fReader
	fReaderName
	fAuthorPraefix
	fAuthorCodeName
	fReaderPraefix
	fReaderCodeName
	fProdukt
	fProduktversion
	numFields
)

// headerForm is one of the header forms that Identify understands.
type headerForm struct {
	// paths maps the path of an element below the header element (local
	// names joined by "/") to the field that its text fills.
	paths map[string]field
	// xdomea selects how apply copies the collected values.
	xdomea bool
}

// apply copies the values collected for the form into the facts.
func (h *headerForm) apply(f *Facts, v *[numFields]string) {
	if !h.xdomea {
		f.NachrichtenUUID = v[fUUID]
		f.NachrichtentypCode = v[fTypCode]
		f.Author = v[fAuthor]
		f.AuthorName = v[fAuthorName]
		f.Reader = v[fReader]
		f.ReaderName = v[fReaderName]
		return
	}
	f.ProzessID = v[fProzessID]
	f.NachrichtentypCode = v[fTypCode]
	f.Author = behoerdenkennung(v[fAuthorPraefix], v[fAuthor])
	f.AuthorName = firstNonEmpty(v[fAuthorName], v[fAuthorCodeName])
	f.Reader = behoerdenkennung(v[fReaderPraefix], v[fReader])
	f.ReaderName = firstNonEmpty(v[fReaderName], v[fReaderCodeName])
	if f.Produkt == "" {
		f.Produkt = v[fProdukt]
	}
	if f.Produktversion == "" {
		f.Produktversion = v[fProduktversion]
	}
}

// xoevHeader reads nachrichtenkopf.g2g and its relatives (XÖV basic message,
// XInneres, XMeld, XBeteiligung, XWasser, XBau) and the older XMeld header
// nachrichtenkopf with absender and empfaenger.
var xoevHeader = headerForm{
	paths: map[string]field{
		"identifikation.nachricht/nachrichtenUUID":        fUUID,
		"identifikation.nachricht/nachrichtentyp/code":    fTypCode,
		"identifikation.nachricht/nachrichtennummer/code": fTypCode,
		"autor/kennung":               fAuthor,
		"autor/name":                  fAuthorName,
		"leser/kennung":               fReader,
		"leser/name":                  fReaderName,
		"absender/behoerdenkennung":   fAuthor,
		"empfaenger/behoerdenkennung": fReader,
	},
}

// xdomeaHeader reads the xdomea Kopf of versions 2.x (Behoerdenkennung/Kennung)
// and 3.x (Behoerdenkennung/Behoerdenschluessel).
var xdomeaHeader = headerForm{
	paths: map[string]field{
		"ProzessID":                                            fProzessID,
		"Nachrichtentyp/code":                                  fTypCode,
		"Absender/Behoerdenkennung/Kennung/code":               fAuthor,
		"Absender/Behoerdenkennung/Behoerdenschluessel/code":   fAuthor,
		"Absender/Behoerdenkennung/Kennung/name":               fAuthorCodeName,
		"Absender/Behoerdenkennung/Behoerdenschluessel/name":   fAuthorCodeName,
		"Absender/Behoerdenkennung/Praefix/code":               fAuthorPraefix,
		"Absender/Institution/Name":                            fAuthorName,
		"Empfaenger/Behoerdenkennung/Kennung/code":             fReader,
		"Empfaenger/Behoerdenkennung/Behoerdenschluessel/code": fReader,
		"Empfaenger/Behoerdenkennung/Kennung/name":             fReaderCodeName,
		"Empfaenger/Behoerdenkennung/Behoerdenschluessel/name": fReaderCodeName,
		"Empfaenger/Behoerdenkennung/Praefix/code":             fReaderPraefix,
		"Empfaenger/Institution/Name":                          fReaderName,
		"SendendesSystem/Produktname":                          fProdukt,
		"SendendesSystem/Version":                              fProduktversion,
	},
	xdomea: true,
}

// formOf returns the header form of the root's first child element, or nil
// when the element is not a header that Identify knows.
func formOf(local string) *headerForm {
	switch {
	case local == "Kopf":
		return &xdomeaHeader
	case local == "nachrichtenkopf" || strings.HasPrefix(local, "nachrichtenkopf."):
		return &xoevHeader
	}
	return nil
}

// maxHeaderTokens bounds the reading of a header. Real headers have fewer
// than a hundred tokens; the bound keeps a document whose "header" is its
// whole content from being read to the end.
const maxHeaderTokens = 10000

// readHeader reads the header, the first child element of the root, and
// stops at its end tag or after maxHeaderTokens tokens. It returns an error
// only for a document type declaration; other read errors end the reading
// quietly, keeping what was collected (the validator reports them).
func readHeader(next func() (xml.Token, error), f *Facts) error {
	var (
		form  *headerForm
		vals  [numFields]string
		stack []string
		cur   = field(-1)
		buf   []byte
	)
	done := func() error {
		if form != nil {
			form.apply(f, &vals)
		}
		return nil
	}
	for n := 0; n < maxHeaderTokens; n++ {
		tok, err := next()
		if err != nil {
			return done()
		}
		switch t := tok.(type) {
		case xml.Directive:
			if isDoctype(t) {
				return ErrDoctype
			}
		case xml.StartElement:
			if form == nil {
				if form = formOf(t.Name.Local); form == nil {
					return nil // the first child is no header: stop here
				}
			}
			stack = append(stack, t.Name.Local)
			cur = -1
			if len(stack) > 1 {
				if fld, ok := form.paths[strings.Join(stack[1:], "/")]; ok {
					cur, buf = fld, buf[:0]
				}
			}
		case xml.CharData:
			if cur >= 0 {
				buf = append(buf, t...)
			}
		case xml.EndElement:
			if form == nil {
				return nil // the root ended without children
			}
			if cur >= 0 && vals[cur] == "" {
				vals[cur] = collapse(string(buf))
			}
			cur = -1
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return done()
			}
		}
	}
	return done()
}

// behoerdenkennung joins an xdomea prefix and identifier as "praefix:kennung",
// the form the XÖV header uses. A prefix alone identifies nothing.
func behoerdenkennung(praefix, kennung string) string {
	praefix = strings.TrimSuffix(praefix, ":")
	switch {
	case kennung == "":
		return ""
	case praefix == "" || strings.HasPrefix(kennung, praefix+":"):
		return kennung
	}
	return praefix + ":" + kennung
}

// firstNonEmpty returns the first of its arguments that is not empty.
func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
