package schemas

import (
	"errors"
	"fmt"
)

// Limits bound what one document may contain. They stop documents whose
// parsing would cost far more than their size suggests: libxml2 compares
// every attribute of a start tag with every other one and searches the
// namespaces in scope for each name, so a million attributes or a hundred
// thousand namespace declarations take minutes although they fit in a few
// megabytes. A document that exceeds a limit is refused as OutcomeForbidden
// before libxml2 parses the start tag concerned, and Report.Limit names it.
type Limits struct {
	// MaxDepth is the deepest element nesting; the root element is level 1.
	MaxDepth int
	// MaxAttributes is the most attributes one start tag may carry,
	// namespace declarations included.
	MaxAttributes int
	// MaxAttributeBytes is the longest attribute value as written, in bytes
	// (in 16-bit code units for a UTF-16 document); a character reference
	// counts with its length in the document.
	MaxAttributeBytes int
	// MaxNamespaces is the most namespace declarations in scope at once:
	// those of an element and of all elements enclosing it.
	MaxNamespaces int
}

// DefaultLimits returns limits far above what real XÖV messages need: the
// messages and schemas of XBau, XMeld, xdomea, XWasser and XBeteiligung nest
// at most 24 levels, carry at most 15 attributes on one element, have at
// most 11 namespaces in scope and no attribute value longer than 1.2 KB.
func DefaultLimits() Limits {
	return Limits{MaxDepth: 256, MaxAttributes: 128, MaxAttributeBytes: 64 << 10, MaxNamespaces: 128}
}

// hardMaxDepth bounds MaxDepth: the validator keeps the position of every
// open element.
const hardMaxDepth = 100000

// check reports the first limit that is not positive or out of range.
func (l Limits) check() error {
	switch {
	case l.MaxDepth < 1 || l.MaxDepth > hardMaxDepth:
		return fmt.Errorf("schemas: MaxDepth must be between 1 and %d, got %d", hardMaxDepth, l.MaxDepth)
	case l.MaxAttributes < 1:
		return errors.New("schemas: MaxAttributes must be positive")
	case l.MaxAttributeBytes < 1:
		return errors.New("schemas: MaxAttributeBytes must be positive")
	case l.MaxNamespaces < 1:
		return errors.New("schemas: MaxNamespaces must be positive")
	}
	return nil
}

// The names of the limits in Report.Limit.
const (
	LimitDepth          = "depth"
	LimitAttributes     = "attributes"
	LimitAttributeBytes = "attribute_bytes"
	LimitNamespaces     = "namespaces"
)

// LimitHit names the limit a refused document exceeded and its value.
type LimitHit struct {
	// Name is one of LimitDepth, LimitAttributes, LimitAttributeBytes and
	// LimitNamespaces.
	Name string `json:"name"`
	// Value is the limit in force (levels, a count, or bytes).
	Value int `json:"value"`
}

// SetLimits sets the limits that Validate and ValidateFile apply from now
// on; a Catalog starts with DefaultLimits. It is an error for a limit to be
// zero or negative.
func (c *Catalog) SetLimits(l Limits) error {
	if err := l.check(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.limits = l
	return nil
}

// Limits returns the limits in force.
func (c *Catalog) Limits() Limits {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.limits
}
