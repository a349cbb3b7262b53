package xtatest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The envelope schema takes any body content laxly, so only the fragments
// show that errorCode must be qualified: the check must catch it.
func TestFragmentsCatchWhatTheEnvelopeSchemaLetsThrough(t *testing.T) {
	v := New(t)
	env := []byte(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:x="http://xoev.de/transport/xta/211"><s:Header/><s:Body>` +
		`<s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code><s:Reason><s:Text xml:lang="en">r</s:Text></s:Reason>` +
		`<s:Detail><x:PermissionDeniedException><errorCode><code>9012</code><name>n</name></errorCode></x:PermissionDeniedException></s:Detail></s:Fault></s:Body></s:Envelope>`)
	assert.True(t, v.c.Validate(env).Valid(), "the envelope alone passes")
	frags, err := Fragments(env)
	require.NoError(t, err)
	require.Len(t, frags, 1)
	r := v.c.Validate(frags[0])
	assert.False(t, r.Valid())
	assert.Equal(t, "PermissionDeniedException", r.Root)
	assert.Contains(t, string(frags[0]), `xmlns:x="http://xoev.de/transport/xta/211"`)
}
