package xta

import (
	"context"
	"errors"
	"strconv"
	"strings"
)

// The operations of the client role, each one call: what the xta-push
// adapter, the pull intake and the conformance check send.

// CreateMessageID asks the server for a new message id (createMessageId) as author.
func (c *Client) CreateMessageID(ctx context.Context, author PartyIdentifier) (string, error) {
	env, err := c.Call(ctx, OpCreateMessageID, AuthorHeader(author), nil)
	if err != nil {
		return "", err
	}
	if env.Body.MessageID == nil || strings.TrimSpace(*env.Body.MessageID) == "" {
		return "", errors.New("createMessageId answered without a wsa:MessageID")
	}
	return strings.TrimSpace(*env.Body.MessageID), nil
}

// SendMessage sends a message with its metadata (sendMessage); body writes
// the xta:GenericContentContainer (WriteContainer or WriteEncrypted).
func (c *Client) SendMessage(ctx context.Context, meta *MessageMetaData, body func(w *Writer)) error {
	_, err := c.Call(ctx, OpSendMessage, meta.Write, body)
	return err
}

// TransportReport asks for the transport report of message id as author (getTransportReport).
func (c *Client) TransportReport(ctx context.Context, author PartyIdentifier, id string) (*TransportReport, error) {
	env, err := c.Call(ctx, OpGetTransportReport, AuthorHeader(author), func(w *Writer) { w.Elem("wsa:MessageID", id) })
	if err != nil {
		return nil, err
	}
	if env.Body.TransportReport == nil {
		return nil, errors.New("getTransportReport answered without a TransportReport")
	}
	return env.Body.TransportReport, nil
}

// StatusList lists up to max messages of reader's box with their
// MessageMetaData (getStatusList, oldest first on drehscheibe).
func (c *Client) StatusList(ctx context.Context, reader PartyIdentifier, max int) ([]MessageMetaData, error) {
	env, err := c.Call(ctx, OpGetStatusList, AuthorHeader(reader), func(w *Writer) {
		w.Open("osci:MsgBoxStatusListRequest", "ListForm", ListFormMetaData, "maxListItems", strconv.Itoa(max))
		w.Close()
	})
	if err != nil {
		return nil, err
	}
	if env.Body.MsgStatusList == nil {
		return nil, errors.New("getStatusList answered without an osci:MsgStatusList")
	}
	return env.Body.MsgStatusList.MetaData, nil
}

// Fetch fetches message id from reader's box (getMessage with
// MsgSelector/wsa:MessageID). The envelope carries the MessageMetaData and
// MsgBoxResponse headers and the content container.
func (c *Client) Fetch(ctx context.Context, reader PartyIdentifier, id string) (*Envelope, error) {
	env, err := c.Call(ctx, OpGetMessage, AuthorHeader(reader), func(w *Writer) {
		w.Open("osci:MsgBoxFetchRequest")
		w.Open("osci:MsgSelector")
		w.Elem("wsa:MessageID", id)
		w.Close()
		w.Close()
	})
	if err != nil {
		return nil, err
	}
	if env.Body.Container == nil {
		return nil, errors.New("getMessage answered without a GenericContentContainer")
	}
	return env, nil
}

// Close confirms message id as received (close with LastMsgReceived);
// requestID is the MsgBoxRequestID of the fetch, or "1" as many clients send.
func (c *Client) Close(ctx context.Context, reader PartyIdentifier, requestID, id string) error {
	if requestID == "" {
		requestID = "1"
	}
	_, err := c.Call(ctx, OpClose, AuthorHeader(reader), func(w *Writer) {
		w.Open("osci:MsgBoxCloseRequest", "MsgBoxRequestID", requestID)
		w.Elem("osci:LastMsgReceived", id)
		w.Close()
	})
	return err
}
