// Package schemas holds the XÖV schema catalog and the validator of
// drehscheibe. It is the only package of the project that uses cgo: a thin
// binding to libxml2 (libxml.c, libxml.go).
//
// Load reads schema directories as operators unpack them from XRepository:
// every *.xsd file and every OASIS XML catalog named catalog.xml. It compiles
// one schema per target namespace, once, so that several standards and
// several versions of one standard live side by side. Remote schemaLocations
// are resolved through the catalogs only; the network is never used.
//
// Validate picks the schema from the root element's namespace, never from
// xsi:schemaLocation, and validates while parsing: libxml2's push parser feeds
// SAX events to the schema validator (xmlSchemaSAXPlug), so no tree is built
// and memory stays bounded for 40 MB messages. A scanner reads each document
// ahead of libxml2 (scan.go) and refuses document type declarations before
// libxml2 sees their entities, encodings whose markup it cannot read, and
// start tags beyond the Limits, whose parsing would cost libxml2 quadratic
// time; nothing external is loaded during validation. The Report lists every error with
// line and column. A Catalog is safe for concurrent use; the compiled schemas
// are shared by all goroutines, each validation has its own libxml2 contexts.
//
// See docs/decisions/0001-xml-validator.md for why the binding is our own.
package schemas
