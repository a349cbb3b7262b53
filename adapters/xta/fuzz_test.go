package xta_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
)

// mtomType is the Content-Type of the MTOM requests below.
const mtomType = `multipart/related; type="application/xop+xml"; boundary="b"; start="<root@client>"; start-info="application/soap+xml"; action="http://www.xta.de/XTA/SendMessage"`

// mtomRoot is the first part of an MTOM request around the envelope env.
func mtomRoot(env string) string {
	return "--b\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"\r\nContent-ID: <root@client>\r\n\r\n" + env + "\r\n"
}

// hostileRequests are broken or malicious SOAP and MTOM requests, each with
// the Content-Type it is sent with and a part of the error Read must return.
func hostileRequests() []struct{ name, ctype, body, want string } {
	inline := strings.Replace(plainRequest, "%s", "PGE+PC9hPg==", 1)
	include := strings.Replace(plainRequest, "%s", `<xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:payload%40client"/>`, 1)
	twoBodies := strings.Replace(inline, "</s:Envelope>", `<s:Body><x/></s:Body></s:Envelope>`, 1)
	laughs := `<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY a "PERSONENDATEN"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>` +
		strings.Replace(plainRequest, "%s", "&c;", 1)
	payload := "--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <payload@client>\r\n\r\nPERSONENDATEN\r\n"
	return []struct{ name, ctype, body, want string }{
		{"two bodies", "application/soap+xml", twoBodies, "more than one Body"},
		{"two bodies MTOM", mtomType, mtomRoot(twoBodies) + "--b--\r\n", "more than one Body"},
		{"billion laughs", "application/soap+xml", laughs, "document type declaration"},
		{"DOCTYPE MTOM", mtomType, mtomRoot(laughs) + "--b--\r\n", "document type declaration"},
		{"no closing boundary", mtomType, mtomRoot(include) + payload, "broken MTOM"},
		{"no root part", mtomType, payload + "--b--\r\n", "without the root part"},
		{"wrong start", strings.Replace(mtomType, "<root@client>", "<elsewhere@client>", 1), mtomRoot(include) + payload + "--b--\r\n", "without the root part"},
		{"no boundary", `multipart/related; type="application/xop+xml"`, mtomRoot(include), "without boundary"},
		{"boundary never occurs", strings.Replace(mtomType, `boundary="b"`, `boundary="zzz"`, 1), mtomRoot(include) + payload + "--b--\r\n", "broken MTOM"},
		{"missing part", mtomType, mtomRoot(include) + "--b--\r\n", "names no MIME part"},
		{"base64 part", mtomType, mtomRoot(include) + strings.Replace(payload, "binary", "base64", 1) + "--b--\r\n", "base64 transfer encoding"},
		{"too many parts", mtomType, mtomRoot(include) + strings.Repeat(payload, xta.MaxParts) + "--b--\r\n", "more than 1000 parts"},
		{"truncated envelope", "application/soap+xml", inline[:len(inline)/2], "not readable"},
	}
}

func TestReadRefusesHostileRequests(t *testing.T) {
	for _, c := range hostileRequests() {
		_, err := xta.Read(c.ctype, "", strings.NewReader(c.body), 1<<20)
		if assert.Error(t, err, c.name) {
			assert.Contains(t, err.Error(), c.want, c.name)
			assert.NotContains(t, err.Error(), "PERSONENDATEN", "%s: content in the error", c.name)
		}
	}
}

// FuzzRead feeds Read arbitrary bodies as plain SOAP and as MTOM: it must
// return an envelope or an error, never panic, and never read beyond its
// limit.
func FuzzRead(f *testing.F) {
	f.Add(false, strings.Replace(plainRequest, "%s", "PGE+PC9hPg==", 1))
	include := strings.Replace(plainRequest, "%s", `<xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:payload%40client"/>`, 1)
	f.Add(true, mtomRoot(include)+"--b\r\nContent-Type: application/octet-stream\r\nContent-ID: <payload@client>\r\n\r\n\x00\x01\xff\r\n--b--\r\n")
	f.Add(false, `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:e="http://www.w3.org/2001/04/xmlenc#"><s:Header/><s:Body>`+
		`<x:GenericContentContainer xmlns:x="http://xoev.de/transport/xta/211"><e:EncryptedData><e:CipherData><e:CipherValue>AAEC/w==</e:CipherValue>`+
		`</e:CipherData></e:EncryptedData></x:GenericContentContainer></s:Body></s:Envelope>`)
	for _, c := range hostileRequests() {
		f.Add(strings.HasPrefix(c.ctype, "multipart/"), c.body)
	}
	f.Fuzz(func(t *testing.T, mtom bool, body string) {
		ctype := "application/soap+xml"
		if mtom {
			ctype = mtomType
		}
		r := strings.NewReader(body)
		env, err := xta.Read(ctype, "", r, 1<<16)
		if err == nil && env == nil {
			t.Fatal("no envelope and no error")
		}
		if read := int64(len(body) - r.Len()); read > 1<<16+1 {
			t.Fatalf("read %d bytes with a limit of %d", read, 1<<16)
		}
	})
}
