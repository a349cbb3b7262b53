package filedrop

import (
	"encoding"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// Options configure a filedrop target. They are decoded from the target's
// options in drehscheibe.yaml.
type Options struct {
	// Dir is the drop directory the Fachverfahren polls. Required. It is
	// created (with DirMode) if missing and must be writable by the gateway.
	Dir string `yaml:"dir" json:"dir"`
	// FileMode is the permission of every file written (default 0640).
	FileMode Mode `yaml:"file_mode" json:"file_mode"`
	// DirMode is the permission of every directory created (default 0750).
	DirMode Mode `yaml:"dir_mode" json:"dir_mode"`
}

// Default permissions.
const (
	DefaultFileMode Mode = 0o640
	DefaultDirMode  Mode = 0o750
)

// Mode is a Unix permission written in octal, as for chmod: 0640, "0640",
// "0o640" and "640" all mean rw-r-----.
type Mode fs.FileMode

var _ encoding.TextUnmarshaler = (*Mode)(nil)

// UnmarshalText parses an octal permission. It is used for YAML and JSON
// alike, so a bare YAML number such as 0640 is read as octal too, never as
// the decimal 640.
func (m *Mode) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O")
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o777 {
		return fmt.Errorf("invalid permission %q: want octal digits between 0000 and 0777, e.g. 0640", string(text))
	}
	*m = Mode(v)
	return nil
}

// String formats m as four octal digits, e.g. 0640.
func (m Mode) String() string { return fmt.Sprintf("%04o", uint32(m)) }

// withDefaults returns o with unset fields set to their defaults.
func (o Options) withDefaults() Options {
	if o.FileMode == 0 {
		o.FileMode = DefaultFileMode
	}
	if o.DirMode == 0 {
		o.DirMode = DefaultDirMode
	}
	return o
}

// check reports the first invalid option, naming its key.
func (o Options) check() error {
	if strings.TrimSpace(o.Dir) == "" {
		return fmt.Errorf("option dir is required: the directory the Fachverfahren polls")
	}
	if o.FileMode&0o600 != 0o600 || o.FileMode > 0o777 {
		return fmt.Errorf("option file_mode %s must grant the owner read and write (0600), e.g. 0640", o.FileMode)
	}
	if o.DirMode&0o700 != 0o700 || o.DirMode > 0o777 {
		return fmt.Errorf("option dir_mode %s must grant the owner read, write and search (0700), e.g. 0750", o.DirMode)
	}
	return nil
}
