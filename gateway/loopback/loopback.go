// Package loopback tells whether a URL's host stays on this machine, which
// is where the gateway allows plain http (webhook and xta-push targets, xta
// pull sources); everywhere else personal data must go over https.
package loopback

import (
	"net"
	"strings"
)

// Host reports whether host (as from url.URL.Hostname) is "localhost" or
// a loopback IP literal (127.0.0.0/8, ::1). Other names are not resolved:
// what a name resolves to can change.
func Host(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
