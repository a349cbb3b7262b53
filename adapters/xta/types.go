package xta

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
)

// PartyIdentifier is oscimeta:PartyIdentifierType: an identifier such as
// "psw:01003110" with its type (usually "xoev"), name and category.
type PartyIdentifier struct {
	Value    string `xml:",chardata" json:"value"`
	Type     string `xml:"type,attr" json:"type"`
	Name     string `xml:"name,attr" json:"name,omitempty"`
	Category string `xml:"category,attr" json:"category,omitempty"`
}

// Party is oscimeta:PartyType (Author, Reader, Sender). Security tokens are
// not read.
type Party struct {
	Identifier PartyIdentifier `xml:"http://www.osci.eu/ws/2014/10/transport Identifier" json:"identifier"`
}

// ID is the identifier value with white space collapsed, as parties are compared.
func (p *Party) ID() string {
	if p == nil {
		return ""
	}
	return strings.Join(strings.Fields(p.Identifier.Value), " ")
}

// Write writes the party as element name (e.g. "oscimeta:Reader").
func (p *Party) Write(w *Writer, name string) {
	id := p.Identifier
	if id.Type == "" {
		id.Type = "xoev"
	}
	w.Open(name)
	w.Elem("oscimeta:Identifier", id.Value, "type", id.Type, "name", id.Name, "category", id.Category)
	w.Close()
}

// KeyCode is oscimeta:KeyCodeType (and the xta code types): unqualified
// code and name with listURI and listVersionID.
type KeyCode struct {
	ListURI       string `xml:"listURI,attr" json:"list_uri"`
	ListVersionID string `xml:"listVersionID,attr" json:"list_version_id"`
	Code          string `xml:"code" json:"code"`
	Name          string `xml:"name" json:"name,omitempty"`
}

func (k *KeyCode) write(w *Writer, name string, extra ...string) {
	w.Open(name, append([]string{"listURI", k.ListURI, "listVersionID", k.ListVersionID}, extra...)...)
	w.Elem("code", k.Code)
	w.Opt("name", k.Name)
	w.Close()
}

// DeliveryAttributes is oscimeta:DeliveryAttributesType; times are kept as written.
type DeliveryAttributes struct {
	Origin         string `xml:"http://www.osci.eu/ws/2014/10/transport Origin" json:"origin,omitempty"`
	InitialSend    string `xml:"http://www.osci.eu/ws/2014/10/transport InitialSend" json:"initial_send,omitempty"`
	NotBefore      string `xml:"http://www.osci.eu/ws/2014/10/transport NotBefore" json:"not_before,omitempty"`
	ObsoleteAfter  string `xml:"http://www.osci.eu/ws/2014/10/transport ObsoleteAfter" json:"obsolete_after,omitempty"`
	Delivery       string `xml:"http://www.osci.eu/ws/2014/10/transport Delivery" json:"delivery,omitempty"`
	InitialFetch   string `xml:"http://www.osci.eu/ws/2014/10/transport InitialFetch" json:"initial_fetch,omitempty"`
	Reception      string `xml:"http://www.osci.eu/ws/2014/10/transport Reception" json:"reception,omitempty"`
	ServiceQuality string `xml:"http://www.osci.eu/ws/2014/10/transport ServiceQuality" json:"service_quality,omitempty"`
}

// Qualifier is oscimeta:QualifierType.
type Qualifier struct {
	Subject          string `xml:"http://www.osci.eu/ws/2014/10/transport Subject" json:"subject,omitempty"`
	Service          string `xml:"http://www.osci.eu/ws/2014/10/transport Service" json:"service"`
	BusinessScenario struct {
		Defined   *KeyCode `xml:"http://www.osci.eu/ws/2014/10/transport Defined" json:"defined,omitempty"`
		Undefined string   `xml:"http://www.osci.eu/ws/2014/10/transport Undefined" json:"undefined,omitempty"`
	} `xml:"http://www.osci.eu/ws/2014/10/transport BusinessScenario" json:"business_scenario"`
	MessageType struct {
		KeyCode
		PayloadSchema string `xml:"payloadSchema,attr" json:"payload_schema"`
	} `xml:"http://www.osci.eu/ws/2014/10/transport MessageType" json:"message_type"`
}

// Property is one oscimeta:Property of MessageProperties: a coded key and a value.
type Property struct {
	Key   KeyCode `xml:"http://www.osci.eu/ws/2014/10/transport Key" json:"key"`
	Value string  `xml:"http://www.osci.eu/ws/2014/10/transport Value" json:"value"`
}

// MessageMetaData is oscimeta:MessageMetaData. ReceiptRequests, security
// tokens, OtherDestinations and ProcessRef are not kept.
type MessageMetaData struct {
	TestMsg            string             `xml:"TestMsg,attr" json:"test_msg,omitempty"`
	DeliveryAttributes DeliveryAttributes `xml:"http://www.osci.eu/ws/2014/10/transport DeliveryAttributes" json:"delivery_attributes"`
	Originators        struct {
		Author  Party  `xml:"http://www.osci.eu/ws/2014/10/transport Author" json:"author"`
		Sender  *Party `xml:"http://www.osci.eu/ws/2014/10/transport Sender" json:"sender,omitempty"`
		ReplyTo *Party `xml:"http://www.osci.eu/ws/2014/10/transport ReplyTo" json:"reply_to,omitempty"`
	} `xml:"http://www.osci.eu/ws/2014/10/transport Originators" json:"originators"`
	Destinations struct {
		Reader Party `xml:"http://www.osci.eu/ws/2014/10/transport Reader" json:"reader"`
	} `xml:"http://www.osci.eu/ws/2014/10/transport Destinations" json:"destinations"`
	MsgIdentification struct {
		MessageID string   `xml:"http://www.w3.org/2005/08/addressing MessageID" json:"message_id"`
		InReplyTo []string `xml:"http://www.osci.eu/ws/2014/10/transport In-Reply-To" json:"in_reply_to,omitempty"`
	} `xml:"http://www.osci.eu/ws/2014/10/transport MsgIdentification" json:"msg_identification"`
	Qualifier  Qualifier  `xml:"http://www.osci.eu/ws/2014/10/transport Qualifier" json:"qualifier"`
	Properties []Property `xml:"http://www.osci.eu/ws/2014/10/transport MessageProperties>Property" json:"properties,omitempty"`
	MsgSize    string     `xml:"http://www.osci.eu/ws/2014/10/transport MsgSize" json:"msg_size,omitempty"`
}

// Property returns the value of the property with the key code in list listURI, or "".
func (m *MessageMetaData) Property(listURI, code string) string {
	for _, p := range m.Properties {
		if p.Key.ListURI == listURI && p.Key.Code == code {
			return p.Value
		}
	}
	return ""
}

// SetProperty sets the property with the key code in list listURI (version
// listVersion) to value, replacing one that is there.
func (m *MessageMetaData) SetProperty(listURI, listVersion, code, value string) {
	for i, p := range m.Properties {
		if p.Key.ListURI == listURI && p.Key.Code == code {
			m.Properties[i].Value = value
			return
		}
	}
	m.Properties = append(m.Properties, Property{Key: KeyCode{ListURI: listURI, ListVersionID: listVersion, Code: code}, Value: value})
}

// Test reports whether TestMsg is set to true.
func (m *MessageMetaData) Test() bool {
	v := strings.TrimSpace(m.TestMsg)
	return v == "true" || v == "1"
}

// Write writes the element oscimeta:MessageMetaData in schema order.
func (m *MessageMetaData) Write(w *Writer) {
	test := ""
	if m.Test() {
		test = "true"
	}
	w.Open("oscimeta:MessageMetaData", "TestMsg", test)
	d := m.DeliveryAttributes
	w.Open("oscimeta:DeliveryAttributes")
	w.Opt("oscimeta:Origin", d.Origin)
	w.Opt("oscimeta:InitialSend", d.InitialSend)
	w.Opt("oscimeta:NotBefore", d.NotBefore)
	w.Opt("oscimeta:ObsoleteAfter", d.ObsoleteAfter)
	w.Opt("oscimeta:Delivery", d.Delivery)
	w.Opt("oscimeta:InitialFetch", d.InitialFetch)
	w.Opt("oscimeta:Reception", d.Reception)
	w.Opt("oscimeta:ServiceQuality", d.ServiceQuality)
	w.Close()
	w.Open("oscimeta:Originators")
	m.Originators.Author.Write(w, "oscimeta:Author")
	if m.Originators.Sender != nil {
		m.Originators.Sender.Write(w, "oscimeta:Sender")
	}
	if m.Originators.ReplyTo != nil {
		m.Originators.ReplyTo.Write(w, "oscimeta:ReplyTo")
	}
	w.Close()
	w.Open("oscimeta:Destinations")
	m.Destinations.Reader.Write(w, "oscimeta:Reader")
	w.Close()
	w.Open("oscimeta:MsgIdentification")
	w.Elem("wsa:MessageID", m.MsgIdentification.MessageID)
	for _, r := range m.MsgIdentification.InReplyTo {
		w.Elem("oscimeta:In-Reply-To", r)
	}
	w.Close()
	q := m.Qualifier
	w.Open("oscimeta:Qualifier")
	w.Opt("oscimeta:Subject", q.Subject)
	w.Elem("oscimeta:Service", q.Service)
	w.Open("oscimeta:BusinessScenario")
	if q.BusinessScenario.Defined != nil {
		q.BusinessScenario.Defined.write(w, "oscimeta:Defined")
	} else {
		w.Elem("oscimeta:Undefined", q.BusinessScenario.Undefined)
	}
	w.Close()
	q.MessageType.KeyCode.write(w, "oscimeta:MessageType", "payloadSchema", q.MessageType.PayloadSchema)
	w.Close()
	if len(m.Properties) > 0 {
		w.Open("oscimeta:MessageProperties")
		for i := range m.Properties {
			w.Open("oscimeta:Property")
			m.Properties[i].Key.write(w, "oscimeta:Key")
			w.Elem("oscimeta:Value", m.Properties[i].Value)
			w.Close()
		}
		w.Close()
	}
	w.Opt("oscimeta:MsgSize", m.MsgSize)
	w.Close()
}

// Content is xta:ContentType: base64Binary data, inline or as an
// xop:Include of an MTOM part, with its attributes.
type Content struct {
	ContentType        string `json:"content_type"`
	ContentDescription string `json:"content_description,omitempty"`
	Encoding           string `json:"encoding,omitempty"`
	Filename           string `json:"filename,omitempty"`
	ID                 string `json:"id,omitempty"`
	Lang               string `json:"lang,omitempty"`
	Size               string `json:"size,omitempty"`
	// Data is the content in memory: what Read received, or what Write sends.
	Data []byte `json:"-"`
	// Open, if set and Data is nil, gives the content to Write as a stream
	// when the message is encoded, so that large content goes from its
	// store to the connection without being held in memory; Length is its
	// exact size in bytes.
	Open   func() (io.ReadCloser, error) `json:"-"`
	Length int64                         `json:"-"`
	// href is the cid: reference of an xop:Include, resolved by Read.
	href string
}

// Len is the size of the content in bytes.
func (c *Content) Len() int64 {
	if c.Data == nil && c.Open != nil {
		return c.Length
	}
	return int64(len(c.Data))
}

// UnmarshalXML reads the attributes and either inline base64 or an xop:Include.
func (c *Content) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	for _, a := range start.Attr {
		if a.Name.Space != "" {
			continue
		}
		switch a.Name.Local {
		case "contentType":
			c.ContentType = a.Value
		case "contentDescription":
			c.ContentDescription = a.Value
		case "encoding":
			c.Encoding = a.Value
		case "filename":
			c.Filename = a.Value
		case "id":
			c.ID = a.Value
		case "lang":
			c.Lang = a.Value
		case "size":
			c.Size = a.Value
		}
	}
	var b64 base64Decoder
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if err := b64.write(t); err != nil {
				return err
			}
		case xml.StartElement:
			if t.Name.Space != NSXOP || t.Name.Local != "Include" {
				return errors.New("unexpected element " + t.Name.Local + " in " + start.Name.Local)
			}
			for _, a := range t.Attr {
				if a.Name.Local == "href" {
					c.href = a.Value
				}
			}
			if err := d.Skip(); err != nil {
				return err
			}
		case xml.EndElement:
			if c.href != "" {
				return nil
			}
			c.Data, err = b64.done()
			return err
		}
	}
}

// base64Decoder decodes inline base64 as the XML decoder hands it out,
// ignoring the line breaks and blanks that encoders put in, straight into
// the decoded bytes: the text itself is never copied as a whole.
type base64Decoder struct {
	out     []byte
	scratch [4096]byte
	n       int
}

func (b *base64Decoder) write(text []byte) error {
	if b.out == nil {
		b.out = make([]byte, 0, base64.StdEncoding.DecodedLen(len(text)))
	}
	for _, c := range text {
		if c == ' ' || c == '\n' || c == '\r' || c == '\t' {
			continue
		}
		b.scratch[b.n] = c
		b.n++
		if b.n == len(b.scratch) {
			if err := b.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *base64Decoder) flush() error {
	if b.n%4 != 0 {
		return errors.New("content is not valid base64: its length is not a multiple of 4")
	}
	if len(b.out) > 0 && len(b.out)%3 != 0 && b.n > 0 {
		return errors.New("content is not valid base64: data after the padding")
	}
	k := len(b.out)
	b.out = append(b.out, make([]byte, base64.StdEncoding.DecodedLen(b.n))...)
	m, err := base64.StdEncoding.Decode(b.out[k:], b.scratch[:b.n])
	if err != nil {
		return errors.New("content is not valid base64: " + err.Error())
	}
	b.out, b.n = b.out[:k+m], 0
	return nil
}

func (b *base64Decoder) done() ([]byte, error) {
	if err := b.flush(); err != nil {
		return nil, err
	}
	if b.out == nil {
		return []byte{}, nil
	}
	return b.out, nil
}

// Write writes the content element name with its data as an MTOM part.
// The size attribute is always the real length.
func (c *Content) Write(w *Writer, name string) {
	size := ""
	if n := c.Len(); n > 0 {
		size = strconv.FormatInt(n, 10)
	}
	ct := c.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Open(name, "contentDescription", c.ContentDescription, "contentType", ct, "encoding", c.Encoding,
		"filename", c.Filename, "id", c.ID, "lang", c.Lang, "size", size)
	if c.Data == nil && c.Open != nil {
		w.stream(c.Open, c.Length)
	} else {
		w.Binary(c.Data)
	}
	w.Close()
}

// GenericContentContainer is xta:GenericContentContainer: either the
// ContentContainer, or Encrypted if the author encrypted the container end
// to end.
type GenericContentContainer struct {
	Encrypted        *Encrypted `xml:"http://www.w3.org/2001/04/xmlenc# EncryptedData"`
	ContentContainer *struct {
		Message     Content   `xml:"http://xoev.de/transport/xta/211 Message"`
		Attachments []Content `xml:"http://xoev.de/transport/xta/211 Attachment"`
	} `xml:"http://xoev.de/transport/xta/211 ContentContainer"`
}

// WriteContainer writes xta:GenericContentContainer with a ContentContainer.
func WriteContainer(w *Writer, msg *Content, atts []Content) {
	w.Open("xta:GenericContentContainer")
	w.Open("xta:ContentContainer")
	msg.Write(w, "xta:Message")
	for i := range atts {
		atts[i].Write(w, "xta:Attachment")
	}
	w.Close()
	w.Close()
}

// LookupService is xta:LookupServiceType.
type LookupService struct {
	Reader      Party  `xml:"http://www.osci.eu/ws/2014/10/transport Reader"`
	ServiceType string `xml:"http://xoev.de/transport/xta/211 ServiceType"`
}

// LookupServiceRequest is xta:LookupServiceRequest.
type LookupServiceRequest struct {
	Lists []struct {
		Services []LookupService `xml:"http://xoev.de/transport/xta/211 LookupService"`
	} `xml:"http://xoev.de/transport/xta/211 LookupServiceRequestList"`
}

// LookupServiceResult is one answer of lookupService.
type LookupServiceResult struct {
	LookupService
	Available *bool // nil: unknown
}

// WriteLookupServiceResponse writes xta:LookupServiceResponse.
func WriteLookupServiceResponse(w *Writer, results []LookupServiceResult) {
	w.Open("xta:LookupServiceResponse")
	w.Open("xta:LookupServiceResultList")
	for _, r := range results {
		w.Open("xta:LookupServiceResult")
		r.Reader.Write(w, "oscimeta:Reader")
		w.Elem("xta:ServiceType", r.ServiceType)
		w.Open("xta:IsServiceAvailableValue")
		if r.Available == nil {
			w.Elem("xta:ServiceIsAvailableUnknown", "true")
		} else {
			w.Elem("xta:ServiceIsAvailable", strconv.FormatBool(*r.Available))
		}
		w.Close()
		w.Close()
	}
	w.Close()
	w.Close()
}

// LookupServiceResponse is xta:LookupServiceResponse as a client reads it.
type LookupServiceResponse struct {
	Results []struct {
		LookupService
		Value struct {
			Available *bool `xml:"http://xoev.de/transport/xta/211 ServiceIsAvailable"`
			Unknown   *bool `xml:"http://xoev.de/transport/xta/211 ServiceIsAvailableUnknown"`
		} `xml:"http://xoev.de/transport/xta/211 IsServiceAvailableValue"`
	} `xml:"http://xoev.de/transport/xta/211 LookupServiceResultList>LookupServiceResult"`
}

// Record is xta:RecordType, one entry of a transport report's lists.
type Record struct {
	Timestamp string  `xml:"http://xoev.de/transport/xta/211 Timestamp"`
	Code      KeyCode `xml:"http://xoev.de/transport/xta/211 Code"`
	Reason    string  `xml:"http://xoev.de/transport/xta/211 Reason"`
}

func (r *Record) write(w *Writer, name string) {
	w.Open(name)
	w.Elem("xta:Timestamp", r.Timestamp)
	w.Open("xta:Code", "listURI", r.Code.ListURI, "listVersionID", r.Code.ListVersionID)
	w.Elem("code", r.Code.Code)
	w.Close()
	w.Elem("xta:Reason", r.Reason)
	w.Close()
}

// Report is one AdditionalReports/Report entry.
type Report struct {
	Key  KeyCode `xml:"http://xoev.de/transport/xta/211 Key"`
	Data Content `xml:"http://xoev.de/transport/xta/211 Data"`
}

// TransportReport is xta:TransportReport.
type TransportReport struct {
	MessageMetaData   MessageMetaData `xml:"http://www.osci.eu/ws/2014/10/transport MessageMetaData"`
	ReportTime        string          `xml:"http://xoev.de/transport/xta/211 ReportTime"`
	XTAServerIdentity string          `xml:"http://xoev.de/transport/xta/211 XTAServerIdentity"`
	Status            int             `xml:"http://xoev.de/transport/xta/211 MessageStatus>Status"`
	Errors            []Record        `xml:"http://xoev.de/transport/xta/211 MessageStatus>ErrorList>Error"`
	Warnings          []Record        `xml:"http://xoev.de/transport/xta/211 MessageStatus>WarnList>Warning"`
	Infos             []Record        `xml:"http://xoev.de/transport/xta/211 MessageStatus>InfoList>Info"`
	Reports           []Report        `xml:"http://xoev.de/transport/xta/211 AdditionalReports>Report"`
}

// Write writes xta:TransportReport.
func (t *TransportReport) Write(w *Writer) {
	w.Open("xta:TransportReport")
	t.MessageMetaData.Write(w)
	w.Elem("xta:ReportTime", t.ReportTime)
	w.Elem("xta:XTAServerIdentity", t.XTAServerIdentity)
	w.Open("xta:MessageStatus")
	w.Int("xta:Status", int64(t.Status))
	lists := []struct {
		list, item string
		recs       []Record
	}{{"xta:ErrorList", "xta:Error", t.Errors}, {"xta:WarnList", "xta:Warning", t.Warnings}, {"xta:InfoList", "xta:Info", t.Infos}}
	for _, l := range lists {
		if len(l.recs) == 0 {
			continue
		}
		w.Open(l.list)
		for i := range l.recs {
			l.recs[i].write(w, l.item)
		}
		w.Close()
	}
	w.Close()
	if len(t.Reports) > 0 {
		w.Open("xta:AdditionalReports")
		for _, r := range t.Reports {
			w.Open("xta:Report")
			w.Open("xta:Key", "listURI", r.Key.ListURI, "listVersionID", r.Key.ListVersionID)
			w.Elem("code", r.Key.Code)
			w.Close()
			w.Open("xta:Data")
			w.Binary(r.Data.Data)
			w.Close()
			w.Close()
		}
		w.Close()
	}
	w.Close()
}
