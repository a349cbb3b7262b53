package xta

import "strings"

// Namespaces of XTA 2 Version 3 and the standards it builds on.
const (
	NSSOAP     = "http://www.w3.org/2003/05/soap-envelope"
	NSSOAP11   = "http://schemas.xmlsoap.org/soap/envelope/"
	NSWSA      = "http://www.w3.org/2005/08/addressing"
	NSXTA      = "http://xoev.de/transport/xta/211"
	NSOSCIMeta = "http://www.osci.eu/ws/2014/10/transport"
	NSOSCI     = "http://www.osci.eu/ws/2008/05/transport"
	NSXOP      = "http://www.w3.org/2004/08/xop/include"
	NSXMLEnc   = "http://www.w3.org/2001/04/xmlenc#"
)

// AnonymousAddress is WS-Addressing's "reply on this connection".
const AnonymousAddress = "http://www.w3.org/2005/08/addressing/anonymous"

// FehlernummerListURI and FehlernummerListVersion are the fixed attributes
// of an XTA errorCode.
const (
	FehlernummerListURI     = "urn:de:xta:webservice:codeliste:fehlernummer"
	FehlernummerListVersion = "1.0"
)

// MsgBox reasons of osci:NoMessageAvailable.
const (
	ReasonNoMatch           = "http://www.osci.eu/ws/2008/05/transport/MsgBox/reasons/NoMatch"
	ReasonSearchArgsInvalid = "http://www.osci.eu/ws/2008/05/transport/MsgBox/reasons/SearchArgsInvalid"
	ReasonRequestIDInvalid  = "http://www.osci.eu/ws/2008/05/transport/MsgBox/reasons/RequestIdInvalid"
)

// Port is one of the three ports of the XTAService.
type Port string

// The ports of XTA.wsdl.
const (
	ManagementPort Port = "ManagementPort"
	SendXtaPort    Port = "SendXtaPort"
	MsgBoxPort     Port = "MsgBoxPort"
)

// Operation is one operation of XTA.wsdl. In v3 the SOAPAction, the
// wsa:Action of the input, of the output and of every fault are the same URI.
type Operation struct {
	Name   string
	Port   Port
	Action string
}

const osciTypes = "http://www.osci.eu/ws/2008/05/transport/urn/messageTypes/"

// The operations of XTA.wsdl.
var (
	OpCheckAccountActive = Operation{"checkAccountActive", ManagementPort, "http://www.xta.de/XTA/CheckAccountActive"}
	OpLookupService      = Operation{"lookupService", ManagementPort, "http://www.xta.de/XTA/IsServiceAvailable"}
	OpGetTransportReport = Operation{"getTransportReport", ManagementPort, "http://www.xta.de/XTA/GetTransportReport"}
	OpCancelMessage      = Operation{"cancelMessage", ManagementPort, "http://www.xta.de/XTA/CancelMessage"}
	OpCreateMessageID    = Operation{"createMessageId", ManagementPort, "http://www.xta.de/XTA/CreateMessageID"}
	OpSendMessage        = Operation{"sendMessage", SendXtaPort, "http://www.xta.de/XTA/SendMessage"}
	OpSendMessageSync    = Operation{"sendMessageSync", SendXtaPort, "http://www.xta.de/XTA/SendMessageSync"}
	OpGetStatusList      = Operation{"getStatusList", MsgBoxPort, osciTypes + "MsgBoxStatusListRequest"}
	OpGetMessage         = Operation{"getMessage", MsgBoxPort, osciTypes + "MsgBoxFetchRequest"}
	OpGetNextMessage     = Operation{"getNextMessage", MsgBoxPort, osciTypes + "MsgBoxGetNextMsgRequest"}
	OpGetNextStatusList  = Operation{"getNextStatusList", MsgBoxPort, osciTypes + "MsgBoxGetNextListRequest"}
	OpClose              = Operation{"close", MsgBoxPort, osciTypes + "MsgBoxCloseRequest"}
)

// Operations lists every operation in the order of the WSDL's port types.
var Operations = []Operation{
	OpCheckAccountActive, OpLookupService, OpGetTransportReport, OpCancelMessage, OpCreateMessageID,
	OpSendMessage, OpSendMessageSync,
	OpGetMessage, OpGetStatusList, OpGetNextMessage, OpGetNextStatusList, OpClose,
}

// OperationByAction finds the operation of a wsa:Action or SOAPAction.
// Surrounding quotes and white space, as some clients send them, are ignored.
func OperationByAction(action string) (Operation, bool) {
	action = strings.Trim(strings.TrimSpace(action), `"`)
	for _, op := range Operations {
		if op.Action == action {
			return op, true
		}
	}
	return Operation{}, false
}
