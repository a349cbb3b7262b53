package hostile

import (
	"bytes"
	"context"
	"fmt"
	"github.com/drehscheibe/drehscheibe/test/testenv"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
	"github.com/drehscheibe/drehscheibe/gateway"
	"github.com/drehscheibe/drehscheibe/gateway/config"
	"github.com/drehscheibe/drehscheibe/gateway/store"
	"github.com/drehscheibe/drehscheibe/test/gatewaytest"
)

// xtaMaxContainer is xta.max_container_bytes of the XTA cases: small, so
// that one MTOM part can exceed it cheaply.
const xtaMaxContainer = "1MiB"

// startXTA runs the real gateway with its XTA server on plain HTTP behind a
// (pretended) TLS-terminating proxy: the client identity comes from
// X-Verified-Client. maxContainer is xta.max_container_bytes.
func startXTA(t *testing.T, maxContainer string) (*env, *gateway.Gateway) {
	root, tmp := testenv.RepoRoot(t), t.TempDir()
	yaml := fmt.Sprintf(`
server: {listen: 127.0.0.1:0}
nats: {data_dir: %q}
schemas: {dirs: [%q]}
log: {level: debug}
senders:
  - {name: xta-portal, api_key_sha256: %s}
targets: [{name: fv, type: filedrop, options: {dir: %q}}]
routes: [{name: all, target: fv}]
xta:
  enabled: true
  listen: 127.0.0.1:0
  allow_plain_http: true
  client_header: X-Verified-Client
  max_container_bytes: %s
  parties:
    - {identifier: "efa:demo-portal", client: portal}
    - {identifier: "ags:09999000", client: fachverfahren}
`, filepath.Join(tmp, "nats"), filepath.Join(root, "schemas", "demo"), config.HashAPIKey(apiKey),
		filepath.Join(tmp, "outbox"), maxContainer)
	e := &env{logs: &testenv.LogBuffer{}, canary: listenCanary(t), secret: filepath.Join(tmp, "secret.txt")}
	require.NoError(t, os.WriteFile(e.secret, []byte(secretContent), 0o600))
	g := gatewaytest.Start(t, yaml, e.logs)
	e.addr = g.XTAAddr()
	return e, g
}

// sendMessage is a sendMessage envelope from the portal to ags:09999000
// whose Message is content (inline base64 or an xop:Include).
func sendMessage(content string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing"
 xmlns:m="http://www.osci.eu/ws/2014/10/transport" xmlns:xta="http://xoev.de/transport/xta/211">
 <s:Header>
  <wsa:Action>http://www.xta.de/XTA/SendMessage</wsa:Action>
  <wsa:MessageID>urn:uuid:hostile</wsa:MessageID>
  <m:Author><m:Identifier type="xoev">efa:demo-portal</m:Identifier></m:Author>
  <m:MessageMetaData>
   <m:DeliveryAttributes/>
   <m:Originators><m:Author><m:Identifier>efa:demo-portal</m:Identifier></m:Author></m:Originators>
   <m:Destinations><m:Reader><m:Identifier>ags:09999000</m:Identifier></m:Reader></m:Destinations>
   <m:MsgIdentification><wsa:MessageID>hostile-1</wsa:MessageID></m:MsgIdentification>
   <m:Qualifier><m:Service>urn:xoev-de:drehscheibe:service:bewohnerparken</m:Service>
    <m:BusinessScenario><m:Undefined>Demo</m:Undefined></m:BusinessScenario>
    <m:MessageType listURI="urn:xoev-de:drehscheibe:codeliste:demo-nachrichten" listVersionID="1.0" payloadSchema="urn:xoev-de:drehscheibe:standard:demo:1.0"><code>0100</code></m:MessageType>
   </m:Qualifier>
  </m:MessageMetaData>
 </s:Header>
 <s:Body>
  <xta:GenericContentContainer><xta:ContentContainer><xta:Message contentType="application/xml" filename="antrag.xml">` + content + `</xta:Message></xta:ContentContainer></xta:GenericContentContainer>
 </s:Body>
</s:Envelope>`
}

const (
	mtomType = `multipart/related; type="application/xop+xml"; boundary="b"; start="<root@client>"; start-info="application/soap+xml"; action="http://www.xta.de/XTA/SendMessage"`
	include  = `<xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:antrag%40client"/>`
)

func rootPart(envelope string) string {
	return "--b\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"\r\nContent-ID: <root@client>\r\n\r\n" + envelope + "\r\n"
}

func binaryPart(cid string, data []byte) string {
	return "--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <" + cid + ">\r\n\r\n" + string(data) + "\r\n"
}

// xtaCases are the SOAP and MTOM requests, each with the fault it must get.
func xtaCases(e *env) []hcase {
	marker := []byte("<antrag>" + contentMarker + "</antrag>")
	inline := sendMessage("PGFudHJhZz5QRVJTT05FTkRBVEVOPC9hbnRyYWc+")
	twoBodies := strings.Replace(inline, "</s:Envelope>", "<s:Body><xta:GenericContentContainer/></s:Body></s:Envelope>", 1)
	laughs := `<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY l0 "` + contentMarker + `">` +
		`<!ENTITY l1 "&l0;&l0;&l0;&l0;&l0;&l0;&l0;&l0;&l0;&l0;"><!ENTITY l2 "&l1;&l1;&l1;&l1;&l1;&l1;&l1;&l1;&l1;&l1;">` +
		`<!ENTITY l3 "&l2;&l2;&l2;&l2;&l2;&l2;&l2;&l2;&l2;&l2;"><!ENTITY l4 "&l3;&l3;&l3;&l3;&l3;&l3;&l3;&l3;&l3;&l3;">` +
		`<!ENTITY l5 "&l4;&l4;&l4;&l4;&l4;&l4;&l4;&l4;&l4;&l4;"><!ENTITY l6 "&l5;&l5;&l5;&l5;&l5;&l5;&l5;&l5;&l5;&l5;">` +
		`<!ENTITY l7 "&l6;&l6;&l6;&l6;&l6;&l6;&l6;&l6;&l6;&l6;"><!ENTITY l8 "&l7;&l7;&l7;&l7;&l7;&l7;&l7;&l7;&l7;&l7;">` +
		`<!ENTITY l9 "&l8;&l8;&l8;&l8;&l8;&l8;&l8;&l8;&l8;&l8;">]>` + strings.TrimPrefix(sendMessage("&l9;"), `<?xml version="1.0" encoding="UTF-8"?>`)
	external := `<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY http SYSTEM "http://` + e.canary.ln.Addr().String() + `/x"><!ENTITY file SYSTEM "file://` + e.secret + `">]>` +
		strings.TrimPrefix(sendMessage("&http;&file;"), `<?xml version="1.0" encoding="UTF-8"?>`)
	withInclude := rootPart(sendMessage(include))
	oversize := bytes.Repeat([]byte("A"), 3<<20)

	// The reason of each fault names what was wrong; it travels in limitKey.
	c := func(name, about, ctype, body, code, reason string) hcase {
		return hcase{name: "xta-" + name, about: about, want: http.StatusBadRequest, typ: "fault " + code, limitKey: reason,
			raw: func(addr string) answer { return postXTA(addr, ctype, body) }}
	}
	return []hcase{
		c("two-bodies", "SOAP envelope with two Body elements", "application/soap+xml", twoBodies, "9022", "more than one Body"),
		c("two-bodies-mtom", "MTOM whose envelope has two Body elements", mtomType, rootPart(twoBodies)+binaryPart("antrag@client", marker)+"--b--\r\n", "9022", "more than one Body"),
		c("billion-laughs", "billion laughs in the DOCTYPE of a SOAP envelope", "application/soap+xml", laughs, "9022", "document type declaration"),
		c("billion-laughs-mtom", "billion laughs in the root part of MTOM", mtomType, rootPart(laughs)+"--b--\r\n", "9022", "document type declaration"),
		c("external-entity", "external entities (http: at the canary, file: at the secret) in a SOAP envelope", "application/soap+xml", external, "9022", "document type declaration"),
		c("mtom-unterminated", "MTOM without the closing boundary", mtomType, withInclude+binaryPart("antrag@client", marker), "9022", "broken MTOM part"),
		c("mtom-no-root", "MTOM without the root part", mtomType, binaryPart("antrag@client", marker)+"--b--\r\n", "9022", "without the root part"),
		c("mtom-wrong-start", "MTOM whose start parameter names no part", strings.Replace(mtomType, "<root@client>", "<elsewhere@client>", 1),
			withInclude+binaryPart("antrag@client", marker)+"--b--\r\n", "9022", "without the root part"),
		c("mtom-no-boundary", "MTOM without a boundary parameter", `multipart/related; type="application/xop+xml"`, withInclude+"--b--\r\n", "9022", "without boundary"),
		c("xop-missing-part", "xop:Include pointing to a part that is not there", mtomType, withInclude+binaryPart("other@client", marker)+"--b--\r\n", "9022", "names no MIME part"),
		c("mtom-oversize-part", "MTOM part of 3 MiB beyond xta.max_container_bytes "+xtaMaxContainer, mtomType, withInclude+binaryPart("antrag@client", oversize)+"--b--\r\n", "9023", "larger than"),
		c("mtom-10000-parts", "MTOM with 10,000 parts", mtomType, withInclude+strings.Repeat(binaryPart("antrag@client", nil), 10000)+"--b--\r\n", "9022", "more than 1000 parts"),
	}
}

// postXTA posts one request as the portal and reads the SOAP fault. The
// body is written in the background (exchange), as in every case here: a
// request over the limit is answered before its body is read.
func postXTA(addr, ctype, body string) answer {
	return exchangeRead(addr, xtaHead(ctype, len(body)), func(w io.Writer) { _, _ = io.WriteString(w, body) }, readFault)
}

// xtaHead is the head of an XTA request of the portal with a body of n bytes.
func xtaHead(ctype string, n int) string {
	return fmt.Sprintf("POST /xta HTTP/1.1\r\nHost: hostile\r\nContent-Type: %s\r\nX-Verified-Client: portal\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", ctype, n)
}

// readFault reads an XTA answer and the SOAP fault in it, if any.
func readFault(res *http.Response) answer {
	a := answer{status: res.StatusCode, ctype: res.Header.Get("Content-Type"), typ: "-"}
	if a.body, a.err = io.ReadAll(io.LimitReader(res.Body, 4<<20)); a.err != nil {
		return a
	}
	env, err := xta.Read(a.ctype, "", bytes.NewReader(a.body), 0)
	if err != nil {
		a.err = fmt.Errorf("the answer is no readable MTOM SOAP message: %v", err)
		return a
	}
	if f := env.Fault(); f != nil {
		a.typ, a.detail = "fault "+f.Code, f.Reason
	}
	return a
}

// TestHostileXTA sends broken and malicious SOAP and MTOM requests to the
// XTA server. Each must get its documented SOAP fault (docs/xta.md) as an
// MTOM response, cheaply and in bounded memory, with no outbound
// connection, no content in the logs, and nothing stored; a valid request
// afterwards is stored, which shows the check can fail.
func TestHostileXTA(t *testing.T) {
	e, g := startXTA(t, xtaMaxContainer)
	ctx := context.Background()
	cases := xtaCases(e)
	runCases(t, e, cases, func(t *testing.T, c hcase, a answer) {
		assert.Equal(t, c.want, a.status, "%s: %s", c.about, a.body)
		assert.Equal(t, c.typ, a.typ, "%s: %s", c.about, a.detail)
		assert.Contains(t, a.detail, c.limitKey, "%s: the fault reason", c.about)
		assert.True(t, strings.HasPrefix(a.ctype, "multipart/related"), "%s: answer %s", c.about, a.ctype)
		assert.NotContains(t, string(a.body), contentMarker, "content in the answer")
	})

	_, err := g.Store.NextSubmission(ctx, 1)
	assert.ErrorIs(t, err, store.ErrNotFound, "a refused request was stored")
	assert.Zero(t, e.canary.count.Load(), "no outbound connection may be attempted")
	logs := e.logs.String()
	assert.Contains(t, logs, "xta fault")
	assert.NotContains(t, logs, contentMarker, "message content in the logs")
	assert.NotContains(t, logs, secretContent, "the secret file in the logs")

	// The same request, well-formed, is taken and stored.
	demo := testenv.Example(t, "antrag-valid.xml")
	ok := postXTA(e.addr, mtomType, rootPart(sendMessage(include))+binaryPart("antrag@client", demo)+"--b--\r\n")
	require.NoError(t, ok.err)
	require.Equal(t, http.StatusOK, ok.status, "%s: %s", ok.typ, ok.detail)
	_, err = g.Store.NextSubmission(ctx, 1)
	assert.NoError(t, err, "the valid request was stored")
}
