package xta

// Info is what drehscheibe keeps of a message that came by XTA, besides its
// content: the MessageMetaData as received and the attributes of the
// Message and of each Attachment. It is the xta member of a submission
// record (docs/adapters.md), written by the XTA server and the pull intake
// and read by the message box and the xta-push adapter.
type Info struct {
	MetaData    MessageMetaData `json:"meta"`
	Message     Content         `json:"message"`
	Attachments []Content       `json:"attachments,omitempty"`
	// Encrypted says the content came as xenc:EncryptedData: the stored
	// message is that element, and there are no content attributes.
	Encrypted bool `json:"encrypted,omitempty"`
}
