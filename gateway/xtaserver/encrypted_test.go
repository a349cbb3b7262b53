package xtaserver_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // rsa-oaep-mgf1p is defined with SHA-1
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
)

// encryptFor encrypts plain for the holder of priv the way XML Encryption
// 1.1 describes it: AES-256-GCM for the content, the key wrapped with
// RSA-OAEP into an EncryptedKey.
func encryptFor(t *testing.T, pub *rsa.PublicKey, plain []byte) []byte {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	block, err := aes.NewCipher(key)
	require.NoError(t, err)
	gcm, err := cipher.NewGCM(block)
	require.NoError(t, err)
	nonce := make([]byte, gcm.NonceSize())
	_, _ = rand.Read(nonce)
	ek, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, key, nil)
	require.NoError(t, err)
	b64 := base64.StdEncoding.EncodeToString
	return []byte(fmt.Sprintf(`<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Type="http://www.w3.org/2001/04/xmlenc#Content">
  <xenc:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/>
  <ds:KeyInfo><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/><xenc:CipherData><xenc:CipherValue>%s</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>
  <xenc:CipherData><xenc:CipherValue>%s</xenc:CipherValue></xenc:CipherData>
</xenc:EncryptedData>`, b64(ek), b64(gcm.Seal(nonce, nonce, plain, nil))))
}

var cipherValue = regexp.MustCompile(`<xenc:CipherValue>([^<]*)</xenc:CipherValue>`)

// decrypt is what the reader does with what it fetched.
func decrypt(t *testing.T, priv *rsa.PrivateKey, enc []byte) []byte {
	m := cipherValue.FindAllSubmatch(enc, -1)
	require.Len(t, m, 2)
	ek, _ := base64.StdEncoding.DecodeString(string(m[0][1]))
	ct, _ := base64.StdEncoding.DecodeString(string(m[1][1]))
	key, err := rsa.DecryptOAEP(sha1.New(), rand.Reader, priv, ek, nil)
	require.NoError(t, err)
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	plain, err := gcm.Open(nil, ct[:gcm.NonceSize()], ct[gcm.NonceSize():], nil)
	require.NoError(t, err)
	return plain
}

// An end-to-end encrypted container is routed by its MessageMetaData, kept
// unread and handed to the reader as it came: the reader decrypts it.
func TestEncryptedContent(t *testing.T) {
	e := start(t, "")
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	// The plaintext is a ContentContainer; what it says, drehscheibe never sees.
	container := []byte(`<xta:ContentContainer xmlns:xta="http://xoev.de/transport/xta/211"><xta:Message contentType="application/xml">` +
		base64.StdEncoding.EncodeToString(e.demoFor("ags:09999000")) + `</xta:Message></xta:ContentContainer>`)
	enc := encryptFor(t, &priv.PublicKey, container)

	// The document would go to reader A's filedrop; the MessageMetaData says reader B, whose box takes it.
	m := meta("enc-1", portal, readerB)
	_, err = e.call("portal", xta.OpSendMessage, m.Write, func(w *xta.Writer) { xta.WriteEncrypted(w, enc) })
	require.NoError(t, err)

	b := xta.AuthorHeader(readerB)
	var env *xta.Envelope
	require.Eventually(t, func() bool {
		env, err = e.call("fachverfahren-b", xta.OpGetMessage, b, fetchByID("enc-1"))
		return err == nil
	}, 10*time.Second, 50*time.Millisecond, "%v", err)
	gc := env.Body.Container
	require.NotNil(t, gc.Encrypted, "the reader gets xenc:EncryptedData, not a ContentContainer")
	assert.Equal(t, string(enc), string(gc.Encrypted.Raw), "byte-identical")
	assert.Equal(t, container, decrypt(t, priv, gc.Encrypted.Raw))
	md := env.Header.MessageMetaData
	assert.Equal(t, "0100", md.Qualifier.MessageType.Code)
	assert.Equal(t, fmt.Sprint(len(enc)), md.MsgSize)
	_, err = e.call("fachverfahren-b", xta.OpClose, b, closeReq("1", "enc-1"))
	require.NoError(t, err)

	rep, err := e.call("portal", xta.OpGetTransportReport, xta.AuthorHeader(portal), func(w *xta.Writer) { w.Elem("wsa:MessageID", "enc-1") })
	require.NoError(t, err)
	var codes []string
	for _, r := range rep.Body.TransportReport.Infos {
		codes = append(codes, r.Code.Code)
	}
	assert.Equal(t, []string{"received", "routed", "queued", "delivered", "fetched", "closed"}, codes, "stored without validation")
	assert.Equal(t, 1, rep.Body.TransportReport.Status)

	// Routed by the MessageMetaData: a reader no rule takes is 9032, whatever the document says.
	_, err = e.call("portal", xta.OpSendMessage, meta("enc-2", portal, stranger).Write, func(w *xta.Writer) { xta.WriteEncrypted(w, enc) })
	f := fault(t, err, "9032")
	assert.Contains(t, f.Reason, "ags:00000001")
	// A MessageType without payloadSchema cannot be routed.
	m = meta("enc-3", portal, readerB)
	m.Qualifier.MessageType.PayloadSchema = ""
	_, err = e.call("portal", xta.OpSendMessage, m.Write, func(w *xta.Writer) { xta.WriteEncrypted(w, enc) })
	fault(t, err, "9020")

	// The REST API is unaffected: it reads every message, and encrypted XML is no XÖV message.
	req, _ := http.NewRequest(http.MethodPost, "http://"+e.g.Addr()+"/v1/submissions", bytes.NewReader(enc))
	req.Header.Set("Content-Type", "application/xml")
	req.Header.Set("Authorization", "Bearer "+restKey)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var p struct{ Type string }
	require.NoError(t, json.NewDecoder(res.Body).Decode(&p))
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	assert.Contains(t, p.Type, "unknown-message")
}
