package xta

import "strconv"

// MsgSelector is osci:MsgSelector.
type MsgSelector struct {
	NewEntry   string   `xml:"newEntry,attr"`
	MessageIDs []string `xml:"http://www.w3.org/2005/08/addressing MessageID"`
	RelatesTo  []string `xml:"http://www.w3.org/2005/08/addressing RelatesTo"`
	TimeFrom   string   `xml:"http://www.osci.eu/ws/2008/05/transport MsgBoxEntryTimeFrom"`
	TimeTo     string   `xml:"http://www.osci.eu/ws/2008/05/transport MsgBoxEntryTimeTo"`
}

// ListForms of MsgBoxStatusListRequest; the first is the schema's own spelling.
const (
	ListFormAttributes = "MsgAtrributes"
	ListFormMetaData   = "MessageMetaData"
)

// MsgBoxStatusListRequest is osci:MsgBoxStatusListRequest.
type MsgBoxStatusListRequest struct {
	MaxListItems string       `xml:"maxListItems,attr"`
	ListForm     string       `xml:"ListForm,attr"`
	Selector     *MsgSelector `xml:"http://www.osci.eu/ws/2008/05/transport MsgSelector"`
}

// MsgBoxFetchRequest is osci:MsgBoxFetchRequest.
type MsgBoxFetchRequest struct {
	MsgPart  string       `xml:"MsgPart,attr"`
	Selector *MsgSelector `xml:"http://www.osci.eu/ws/2008/05/transport MsgSelector"`
}

// MsgBoxGetNextRequest is osci:MsgBoxGetNextRequest and osci:MsgBoxCloseRequest.
type MsgBoxGetNextRequest struct {
	RequestID       string   `xml:"MsgBoxRequestID,attr"`
	LastMsgReceived []string `xml:"http://www.osci.eu/ws/2008/05/transport LastMsgReceived"`
}

// MsgBoxResponse is the osci:MsgBoxResponse header: either NoMessageAvailable
// with a reason or the number of items pending.
type MsgBoxResponse struct {
	RequestID          string `xml:"MsgBoxRequestID,attr"`
	NoMessageAvailable *struct {
		Reason string `xml:"reason,attr"`
	} `xml:"http://www.osci.eu/ws/2008/05/transport NoMessageAvailable"`
	ItemsPending *int `xml:"http://www.osci.eu/ws/2008/05/transport ItemsPending"`
}

// WriteMsgBoxResponse writes the osci:MsgBoxResponse header; an empty
// noMatchReason writes ItemsPending.
func WriteMsgBoxResponse(w *Writer, requestID, noMatchReason string, pending int) {
	w.Open("osci:MsgBoxResponse", "MsgBoxRequestID", requestID)
	if noMatchReason != "" {
		w.Open("osci:NoMessageAvailable", "reason", noMatchReason)
		w.Close()
	} else {
		w.Elem("osci:ItemsPending", strconv.Itoa(pending))
	}
	w.Close()
}

// MsgAttributes is one osci:MsgAttributes entry of a status list.
type MsgAttributes struct {
	MessageID              string `xml:"http://www.w3.org/2005/08/addressing MessageID"`
	TypeOfBusinessScenario string `xml:"http://www.osci.eu/ws/2008/05/transport TypeOfBusinessScenario"`
	MsgSize                int64  `xml:"http://www.osci.eu/ws/2008/05/transport MsgSize"`
	DeliveryTime           string `xml:"http://www.osci.eu/ws/2008/05/transport DeliveryTime"`
	InitialFetchedTime     string `xml:"http://www.osci.eu/ws/2008/05/transport InitialFetchedTime"`
}

// MsgStatusList is osci:MsgStatusList.
type MsgStatusList struct {
	Attributes []MsgAttributes   `xml:"http://www.osci.eu/ws/2008/05/transport MsgAttributes"`
	MetaData   []MessageMetaData `xml:"http://www.osci.eu/ws/2014/10/transport MessageMetaData"`
}

// Write writes osci:MsgStatusList.
func (l *MsgStatusList) Write(w *Writer) {
	w.Open("osci:MsgStatusList")
	for _, a := range l.Attributes {
		w.Open("osci:MsgAttributes")
		w.Elem("wsa:MessageID", a.MessageID)
		w.Elem("osci:TypeOfBusinessScenario", a.TypeOfBusinessScenario)
		w.Int("osci:MsgSize", a.MsgSize)
		w.Elem("osci:DeliveryTime", a.DeliveryTime)
		w.Opt("osci:InitialFetchedTime", a.InitialFetchedTime)
		w.Close()
	}
	for i := range l.MetaData {
		l.MetaData[i].Write(w)
	}
	w.Close()
}
