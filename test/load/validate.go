package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drehscheibe/drehscheibe/schemas"
)

// validateModes are the ways the validator alone is measured: the gateway
// validates on as many goroutines as requests run, on 2 cores.
var validateModes = []struct {
	name       string
	goroutines int
}{
	{"validate, 1 goroutine", 1},
	{"validate, 2 goroutines", 2},
}

// validator is the project's validator called directly in this process, with
// every schema the gateway compiles, so that its rate is measured in the
// same rounds as the gateway's.
type validator struct{ c *schemas.Catalog }

func openValidator(dirs ...string) (*validator, error) {
	c, err := schemas.Load(dirs...)
	if err != nil {
		return nil, err
	}
	return &validator{c}, nil
}

func (v *validator) close() { v.c.Close() }

// check fails unless doc is valid: the gateway accepts nothing else.
func (v *validator) check(d document) error {
	if r := v.c.Validate(d.data); !r.Valid() {
		return fmt.Errorf("%s is not valid: %s %v", d.Name, r.Outcome, r.Errors)
	}
	return nil
}

// validate validates doc on the given number of goroutines for window and
// returns the number of validations.
func (v *validator) validate(doc []byte, goroutines int, window time.Duration) int64 {
	var n atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(window)
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				v.c.Validate(doc)
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return n.Load()
}
