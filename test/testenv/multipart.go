package testenv

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/textproto"
)

// Part is one part of a multipart/form-data body: a form field Name with
// an optional Filename, its Content-Type and its data.
type Part struct {
	Name, Filename, ContentType string
	Data                        []byte
}

// Multipart is parts as a multipart/form-data body; it returns the body
// and its content type (with the boundary). It writes to memory, which
// cannot fail.
func Multipart(parts ...Part) ([]byte, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		cd := fmt.Sprintf(`form-data; name=%q`, p.Name)
		if p.Filename != "" {
			cd += fmt.Sprintf(`; filename=%q`, p.Filename)
		}
		h.Set("Content-Disposition", cd)
		h.Set("Content-Type", p.ContentType)
		w, _ := mw.CreatePart(h)
		_, _ = w.Write(p.Data)
	}
	_ = mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}
