package filedrop

import "time"

// ManifestVersion is the version of the manifest format written by this
// package. It changes only when a field is removed or changes meaning; new
// fields may appear without a change, so readers must ignore unknown fields.
const ManifestVersion = 1

// Manifest is the content of manifest.json in a submission directory.
// Fachverfahren written in Go may decode it with encoding/json.
type Manifest struct {
	ManifestVersion int    `json:"manifest_version"`
	SubmissionID    string `json:"submission_id"`
	// Target is the configured name of the delivery target.
	Target      string `json:"target"`
	Standard    string `json:"standard"`
	Version     string `json:"version"`
	Namespace   string `json:"namespace"`
	MessageType string `json:"message_type"`
	// Author and Reader are the sender and recipient identifiers from the
	// message's nachrichtenkopf, e.g. a DVDV "psw:" code.
	Author          string `json:"author"`
	Reader          string `json:"reader"`
	NachrichtenUUID string `json:"nachrichten_uuid"`
	Service         string `json:"service"`
	Sender          string `json:"sender"`
	Test            bool   `json:"test"`
	// ReceivedAt is when the gateway accepted the submission.
	ReceivedAt time.Time `json:"received_at,omitzero"`
	// DeliveredAt is when this directory was written.
	DeliveredAt time.Time `json:"delivered_at"`
	// Attempt is the delivery attempt that wrote this directory, from 1.
	Attempt     int               `json:"attempt"`
	Message     FileEntry         `json:"message"`
	Attachments []AttachmentEntry `json:"attachments"`
}

// FileEntry describes one file of a submission directory.
type FileEntry struct {
	// Path is relative to the submission directory, with "/" separators.
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// AttachmentEntry describes one attachment, in the sender's order.
type AttachmentEntry struct {
	// Index counts from 1 and is the prefix of the file name.
	Index int `json:"index"`
	// Name is the file name the sender gave, unchanged.
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	// Path is relative to the submission directory, e.g. "attachments/001-Lageplan.pdf".
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}
