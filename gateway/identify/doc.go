// Package identify reads the facts that route an XÖV message from the message
// itself: the root element (namespace and message type), the attributes of the
// root (standard, version, test, produkt…) and the message header.
//
// Identify stops at the end of the header, so a 40 MB document costs no more
// than its first few kilobytes. It reads the common form of a message — UTF-8,
// ASCII names, comments, CDATA and the predefined entities — in place with a
// small scanner, and any other document, or one whose start is not
// well-formed, with encoding/xml, which transcodes the other encodings and
// reports errors with their position; both find the same facts (tested over
// ../shared/xoev and under fuzzing). It never resolves entities: a document
// with a document type declaration is refused with ErrDoctype before its root
// element is read. Identify does not validate; the schema validator does that
// afterwards, and reports every error with its line.
//
// Three header forms are understood, each found as the first child element of
// the root, in any namespace and with any prefix:
//
//   - the XÖV basic message header nachrichtenkopf.g2g (also
//     nachrichtenkopf.G2privat and similar), qualified as in XBeteiligung or
//     unqualified as in XWasser and XMeld: identifikation.nachricht/
//     nachrichtenUUID, identifikation.nachricht/nachrichtentyp/code and
//     leser and autor with kennung and name;
//   - the older XMeld header nachrichtenkopf (administration.returntosender.0900,
//     melderegisterauskunfteinfach.*): identifikation.nachricht/nachrichtennummer/code
//     and absender and empfaenger with behoerdenkennung;
//   - the xdomea header Kopf (2.x and 3.x): ProzessID, Nachrichtentyp/code,
//     Absender and Empfaenger with Behoerdenkennung (Kennung or Behoerdenschluessel,
//     and Praefix, joined as "praefix:kennung"), Institution/Name and
//     SendendesSystem.
//
// Metadata that a client sends beside the document (the "metadata" part of a
// multipart submission) is parsed strictly by ParseMetadata and combined with
// the document's facts by Merge, which reports every contradiction as a
// Conflict.
package identify
