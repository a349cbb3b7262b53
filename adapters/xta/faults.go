package xta

import (
	"fmt"
	"strings"
	"time"
)

// Exception names an XTA fault element (xta:<Exception> in the SOAP Detail).
type Exception string

// The exception elements of XTA-Webservice-Exceptions.xsd.
const (
	PermissionDenied       Exception = "PermissionDeniedException"
	TechnicalProblem       Exception = "XTAWSTechnicalProblemException"
	ParameterIsNotValid    Exception = "ParameterIsNotValidException"
	MessageSchemaViolation Exception = "MessageSchemaViolationException"
	MessageVirusDetection  Exception = "MessageVirusDetectionException"
	SyncAsync              Exception = "SyncAsyncException"
	InvalidMessageID       Exception = "InvalidMessageIDException"
	CancelDenied           Exception = "CancelDeniedException"
)

// Code is one entry of the catalogue of XTA faults: a code of the XTA code
// list Fehlernummer (urn:de:xta:webservice:codeliste:fehlernummer 1.0), the
// exception it travels in, the code list's own name for it, whether the
// client (SOAP Sender) or the server (SOAP Receiver) is at fault, and what it
// means in drehscheibe. docs/xta.md documents the same table; a test keeps
// the two in step.
type Code struct {
	Code      string
	Exception Exception
	Name      string
	Sender    bool
	Doc       string
}

// The catalogue: every fault drehscheibe's XTA server answers with.
var (
	UnknownAccount = Code{"9012", PermissionDenied, "Account nicht vorhanden", true,
		"The Author identifier names no configured party, or the request carries no client identity (on a plain-HTTP listener: no client header). Ask the operator to add the party under xta.parties."}
	AccountMismatch = Code{"9014", PermissionDenied, "Authentisierung/Zertifikat passt nicht zur Absenderkennung", true,
		"The Author identifier (or the Author of the MessageMetaData) is a configured party, but the client certificate is not its client (including certificates that belong to no party at all). Also for a sendMessage outside the permissions of the party's sender (senders[].allow); the reason names the permission."}
	NoParameters = Code{"9020", ParameterIsNotValid, "Keine Parameter vorhanden", true,
		"The request lacks the body or header element the operation needs (e.g. sendMessage without MessageMetaData)."}
	InvalidURI = Code{"9021", ParameterIsNotValid, "Keine gültige URI", true,
		"A message id or service is not a usable URI (empty, or longer than 100 characters for a message id)."}
	InvalidParameters = Code{"9022", ParameterIsNotValid, "Ungültige Parameterkombination", true,
		"The request is not a readable SOAP 1.2 envelope, names an unknown operation, or combines values that contradict each other (e.g. a Message that does not decode as base64, an unresolved xop:Include)."}
	TooLarge = Code{"9023", ParameterIsNotValid, "Die Nachricht überschreitet die Größenbeschränkung", true,
		"The request exceeds xta.max_request_bytes (default 40 MiB plus the SOAP overhead), the XTA limit for a content container."}
	MessageIDTaken = Code{"9024", ParameterIsNotValid, "MessageID ist bereits vergeben", true,
		"A message with this message id was accepted before (ids are compared case-insensitively). Ask createMessageId for a new id."}
	Internal = Code{"9030", TechnicalProblem, "Interner Fehler beim XTA-Server bzw. XTA-Dienstleister", false,
		"drehscheibe could not do what was asked: JetStream unavailable, shutting down, the client over its rate limit (xta.rate_limit, xta.parties[].rate_limit) or the gateway busy (server.max_in_flight, server.max_in_flight_bytes); the reason says which, and a Retry-After header says when to retry. Nothing was done; retry later."}
	DeliveryFailed = Code{"9032", TechnicalProblem, "Fehler bei der Zustellung", false,
		"The message cannot be routed: no routing rule takes it, or a test message matched a rule without a test target; the reason names the reader and message type. For sendMessageSync also: the target did not take the message (failed, or not within xta.sync_timeout); the message is stored then, and its delivery goes on: follow it with getTransportReport instead of sending it again."}
	SchemaViolation = Code{"9050", MessageSchemaViolation, "Fachnachricht ist nicht schemakonform", true,
		"The Message of the content container is not a valid XÖV message: not well-formed, of an unknown standard, or violating its schema. The fault reason lists every error with line and column."}
	InvalidMessageIDCode = Code{"9070", InvalidMessageID, "MessageID für den Account nicht bekannt", true,
		"No message with this id exists for the calling party: it never existed, belongs to another reader or author, or has left the message box."}
	OnlyAsync = Code{"9080", SyncAsync, "Der Dienst wird nur asynchron angeboten", true,
		"sendMessageSync for a message whose routing rule is not synchronous (routes[].sync); nothing was stored. Use sendMessage, or ask the operator for a synchronous route."}
	CancelTooLate = Code{"9100", CancelDenied, "Der durch den Schalter NotBefore gesetzte Termin ist verstrichen", true,
		"cancelMessage came too late: the message was already delivered, fetched or failed."}
)

// Catalogue lists every code, in documentation order.
var Catalogue = []Code{
	UnknownAccount, AccountMismatch, NoParameters, InvalidURI, InvalidParameters, TooLarge,
	MessageIDTaken, Internal, DeliveryFailed, SchemaViolation, InvalidMessageIDCode, OnlyAsync, CancelTooLate,
}

// Fault is one XTA fault as a Go error: a code of the catalogue and a reason
// for people (the soap:Reason text). Details are extra lines of the reason,
// such as the schema errors of a 9050.
type Fault struct {
	Code    Code
	Reason  string
	Details []string
}

// NewFault makes a fault of code c with a reason.
func NewFault(c Code, format string, args ...any) *Fault {
	return &Fault{Code: c, Reason: fmt.Sprintf(format, args...)}
}

// Error reports the code, the exception and the reason.
func (f *Fault) Error() string {
	return fmt.Sprintf("xta fault %s (%s): %s", f.Code.Code, f.Code.Exception, f.Reason)
}

// text is the soap:Reason text: the reason, then each detail on a line.
func (f *Fault) text() string {
	if len(f.Details) == 0 {
		return f.Reason
	}
	return f.Reason + "\n" + strings.Join(f.Details, "\n")
}

// writeBody writes the soap:Fault element.
func (f *Fault) writeBody(w *Writer) {
	code := "soap:Receiver"
	if f.Code.Sender {
		code = "soap:Sender"
	}
	w.Open("soap:Fault")
	w.Open("soap:Code")
	w.Elem("soap:Value", code)
	w.Close()
	w.Open("soap:Reason")
	w.Elem("soap:Text", f.text(), "xml:lang", "en")
	w.Close()
	w.Open("soap:Detail")
	w.Open("xta:" + string(f.Code.Exception))
	w.Open("xta:errorCode", "listURI", FehlernummerListURI, "listVersionID", FehlernummerListVersion)
	w.Elem("code", f.Code.Code)
	w.Elem("name", f.Code.Name)
	w.Close()
	w.Close()
	w.Close()
	w.Close()
}

// ReceivedFault is a fault as a client reads it from a response.
type ReceivedFault struct {
	SOAPCode  string // e.g. soap:Sender
	Reason    string
	Exception string // local name of the detail element, e.g. PermissionDeniedException
	Code      string // errorCode/code, e.g. 9014
	Name      string
	// RetryAfter is the wait the response's Retry-After header asked for (see WaitRequested).
	RetryAfter time.Duration
}

// Error describes the fault.
func (f *ReceivedFault) Error() string {
	s := fmt.Sprintf("%s %s (%s): %s", f.Exception, f.Code, f.Name, f.Reason)
	if f.Exception == "" {
		s = fmt.Sprintf("soap fault %s: %s", f.SOAPCode, f.Reason)
	}
	if f.RetryAfter > 0 {
		s += fmt.Sprintf(" (Retry-After %s)", f.RetryAfter)
	}
	return s
}
