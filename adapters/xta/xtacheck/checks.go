package xtacheck

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/drehscheibe/drehscheibe/adapters/xta"
)

func checkMessageID(env *xta.Envelope) error {
	if env.Body.MessageID == nil || strings.TrimSpace(*env.Body.MessageID) == "" {
		return errors.New("no wsa:MessageID in the body")
	}
	id := strings.TrimSpace(*env.Body.MessageID)
	if len(id) > 100 {
		return fmt.Errorf("message id %q is longer than 100 characters", id)
	}
	if !strings.HasPrefix(strings.ToLower(id), "urn:de:xta:messageid:") {
		return fmt.Errorf("message id %q does not start with urn:de:xta:messageid:", id)
	}
	return nil
}

// msgBoxResponse checks the osci:MsgBoxResponse header.
func msgBoxResponse(env *xta.Envelope) (string, int, error) {
	r := env.Header.MsgBoxResponse
	switch {
	case r == nil:
		return "", 0, errors.New("no osci:MsgBoxResponse header")
	case strings.TrimSpace(r.RequestID) == "":
		return "", 0, errors.New("MsgBoxResponse without MsgBoxRequestID")
	case r.NoMessageAvailable != nil:
		if r.NoMessageAvailable.Reason == "" {
			return "", 0, errors.New("NoMessageAvailable without reason")
		}
		return r.RequestID, -1, nil
	case r.ItemsPending == nil:
		return "", 0, errors.New("MsgBoxResponse with neither ItemsPending nor NoMessageAvailable")
	}
	return r.RequestID, *r.ItemsPending, nil
}

// checkMetaData is the tester's checkMessageMetaData adapted to v3.
func checkMetaData(m *xta.MessageMetaData, id string) error {
	var errs []error
	if !strings.EqualFold(m.MsgIdentification.MessageID, id) {
		errs = append(errs, fmt.Errorf("MessageID %q, want %q", m.MsgIdentification.MessageID, id))
	}
	for role, p := range map[string]xta.PartyIdentifier{"Author": m.Originators.Author.Identifier, "Reader": m.Destinations.Reader.Identifier} {
		if strings.TrimSpace(p.Value) == "" || strings.TrimSpace(p.Type) == "" || strings.TrimSpace(p.Name) == "" {
			errs = append(errs, fmt.Errorf("%s identifier needs value, type and name, got %+v", role, p))
		}
	}
	q := m.Qualifier
	if strings.TrimSpace(q.Service) == "" {
		errs = append(errs, errors.New("Qualifier/Service is blank"))
	}
	if d := q.BusinessScenario.Defined; d != nil && (d.ListURI == "" || d.Code == "") || d == nil && strings.TrimSpace(q.BusinessScenario.Undefined) == "" {
		errs = append(errs, errors.New("BusinessScenario is neither a complete Defined code nor Undefined"))
	}
	if strings.TrimSpace(q.MessageType.PayloadSchema) == "" || q.MessageType.Code == "" {
		errs = append(errs, errors.New("MessageType lacks code or payloadSchema"))
	}
	if m.MsgSize == "" {
		errs = append(errs, errors.New("MsgSize is missing"))
	}
	if m.DeliveryAttributes.Delivery == "" {
		errs = append(errs, errors.New("DeliveryAttributes/Delivery is missing"))
	}
	return errors.Join(errs...)
}

// checkFetched checks a getMessage response: headers and a complete Message.
func checkFetched(env *xta.Envelope, id string, want []byte) error {
	var errs []error
	if env.Header.MessageMetaData == nil {
		errs = append(errs, errors.New("no MessageMetaData header"))
	} else if err := checkMetaData(env.Header.MessageMetaData, id); err != nil {
		errs = append(errs, err)
	} else if env.Header.MessageMetaData.DeliveryAttributes.InitialFetch == "" {
		errs = append(errs, errors.New("InitialFetch not set after getMessage"))
	}
	if _, _, err := msgBoxResponse(env); err != nil {
		errs = append(errs, err)
	}
	gc := env.Body.Container
	if gc == nil || gc.ContentContainer == nil {
		return errors.Join(append(errs, errors.New("no ContentContainer in the body"))...)
	}
	msg := gc.ContentContainer.Message
	for name, v := range map[string]string{"contentType": msg.ContentType, "encoding": msg.Encoding, "filename": msg.Filename, "id": msg.ID, "size": msg.Size} {
		if strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Errorf("Message has no %s", name))
		}
	}
	if msg.Size != "" && msg.Size != strconv.Itoa(len(msg.Data)) {
		errs = append(errs, fmt.Errorf("Message size %s, but %d bytes arrived", msg.Size, len(msg.Data)))
	}
	if !bytes.Equal(msg.Data, want) {
		errs = append(errs, fmt.Errorf("Message content differs from what was sent (%d bytes, sent %d)", len(msg.Data), len(want)))
	}
	return errors.Join(errs...)
}

func checkReport(r *xta.TransportReport, id string) error {
	if r == nil {
		return errors.New("no TransportReport in the body")
	}
	var errs []error
	if r.ReportTime == "" {
		errs = append(errs, errors.New("ReportTime is missing"))
	}
	if strings.TrimSpace(r.XTAServerIdentity) == "" {
		errs = append(errs, errors.New("XTAServerIdentity is blank"))
	}
	if err := checkMetaData(&r.MessageMetaData, id); err != nil {
		errs = append(errs, err)
	}
	if r.Status < 0 || r.Status > 3 {
		errs = append(errs, fmt.Errorf("MessageStatus/Status %d is not 0-3", r.Status))
	}
	if len(r.Reports) == 0 {
		errs = append(errs, errors.New("AdditionalReports is missing (the KoSIT tester requires it)"))
	}
	return errors.Join(errs...)
}

// checkSyncAnswer checks an answer to sendMessageSync: the MessageMetaData
// of the message sent (the KoSIT tester requires its id) and a content
// container.
func checkSyncAnswer(env *xta.Envelope, id string) error {
	m := env.Header.MessageMetaData
	switch {
	case m == nil:
		return errors.New("the answer has no MessageMetaData header")
	case !strings.EqualFold(strings.TrimSpace(m.MsgIdentification.MessageID), id):
		return fmt.Errorf("the answer's MessageMetaData names message %q, want the request's %q", m.MsgIdentification.MessageID, id)
	case env.Body.Container == nil || env.Body.Container.ContentContainer == nil && env.Body.Container.Encrypted == nil:
		return errors.New("the answer has no GenericContentContainer")
	}
	return nil
}
