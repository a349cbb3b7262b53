// Package xta speaks XTA 2 Version 3 (XTA web service module 2.1.1,
// namespace http://xoev.de/transport/xta/211) on the wire: SOAP 1.2
// envelopes, MTOM/XOP packaging, WS-Addressing 2005/08 headers, the data
// types of the WSDL's operations and the catalogue of XTA faults.
//
// It holds no gateway logic: the server role (which account may do what,
// the message box, the intake) is wired in gateway/xtaserver, which uses this
// package to read requests and write responses; the pull intake
// (gateway/xtapull) and the conformance check (drehscheibe xta check) use its
// Client. The package is also the xta-push delivery adapter (Push), which
// registers itself; like every adapter it imports nothing of the gateway but
// gateway/delivery.
//
// Reading is lenient where real clients are sloppy (inline base64 instead of
// MTOM, missing optional elements, SOAPAction only in the HTTP header);
// writing is strict: every envelope this package writes is MTOM
// (multipart/related; type="application/xop+xml") and every header and body
// element validates against the schemas of the WSDL.
package xta
