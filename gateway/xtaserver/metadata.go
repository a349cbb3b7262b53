package xtaserver

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
	"github.com/drehscheibe/drehscheibe/gateway/store"
)

// metaData is the complete MessageMetaData of a submission as XTA message
// id: what sendMessage received, or for messages from other intakes what
// the gateway identified; the delivery attributes from the event log.
func (s *Server) metaData(r store.Record, id, reader string, size int64, evs []store.Event) xta.MessageMetaData {
	var m xta.MessageMetaData
	var info xta.Info
	if len(r.XTA) > 0 && json.Unmarshal(r.XTA, &info) == nil {
		m = info.MetaData
	} else {
		m.Originators.Author.Identifier = xta.PartyIdentifier{Value: firstNonEmpty(r.Author, r.Sender)}
		m.Destinations.Reader.Identifier = xta.PartyIdentifier{Value: reader}
		m.Qualifier.Service = firstNonEmpty(r.Service, r.Namespace)
		m.Qualifier.BusinessScenario.Undefined = firstNonEmpty(r.Standard, "XÖV")
		m.Qualifier.MessageType.KeyCode = xta.KeyCode{ListURI: xta.MessageTypeListURI, ListVersionID: xta.ListVersion, Code: r.MessageType}
		m.Qualifier.MessageType.PayloadSchema = r.Namespace
		if r.Test {
			m.TestMsg = "true"
		}
	}
	s.complete(&m.Originators.Author.Identifier)
	s.complete(&m.Destinations.Reader.Identifier)
	m.MsgIdentification.MessageID = id
	if size > 0 {
		m.MsgSize = strconv.FormatInt(size, 10)
	}
	d := &m.DeliveryAttributes
	if d.Origin == "" {
		d.Origin = xta.FormatTime(r.ReceivedAt)
	}
	if d.InitialSend == "" {
		d.InitialSend = xta.FormatTime(r.ReceivedAt)
	}
	for _, ev := range evs {
		switch ev.Type {
		case store.EventDelivered:
			d.Delivery = xta.FormatTime(ev.At)
		case store.EventFetched:
			if d.InitialFetch == "" {
				d.InitialFetch = xta.FormatTime(ev.At)
			}
		case store.EventClosed:
			d.Reception = xta.FormatTime(ev.At)
		}
	}
	if m.Qualifier.BusinessScenario.Defined == nil && strings.TrimSpace(m.Qualifier.BusinessScenario.Undefined) == "" {
		m.Qualifier.BusinessScenario.Undefined = "undefined"
	}
	return m
}

// complete fills type, name and category of an identifier from the party
// configuration, so that every identifier the server writes has all three.
func (s *Server) complete(id *xta.PartyIdentifier) {
	p, ok := s.parties[strings.Join(strings.Fields(id.Value), " ")]
	if id.Type == "" {
		id.Type = "xoev"
		if ok {
			id.Type = p.Type
		}
	}
	if id.Name == "" {
		id.Name = id.Value
		if ok && p.Name != "" {
			id.Name = p.Name
		}
	}
	if id.Category == "" && ok {
		id.Category = p.Category
	}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
