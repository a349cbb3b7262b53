package schemas

/*
#cgo pkg-config: libxml-2.0
#include <stdlib.h>
#include "libxml.h"
*/
import "C"

import (
	"errors"
	"net/url"
	"runtime"
	"runtime/cgo"
	"strings"
	"sync"
	"unsafe"
)

var initOnce sync.Once

// initLibxml initializes libxml2 once per process: the parser, the built-in
// schema types, silent default error handlers for every thread and the entity
// loader that keeps libxml2 off the network.
func initLibxml() {
	initOnce.Do(func() { C.dsInit() })
}

// compiledSchema is a compiled schema owned by C memory.
type compiledSchema struct {
	p *C.dsSchema
}

// schemaSet maps namespaces to compiled schemas on the C side, where the
// validator looks up the root element's namespace.
type schemaSet struct {
	p *C.dsSchemaSet
}

func newSchemaSet() *schemaSet {
	p := C.dsSetNew()
	if p == nil {
		panic("schemas: out of memory")
	}
	return &schemaSet{p}
}

// add hands c to the set, which frees it.
func (s *schemaSet) add(ns string, c *compiledSchema) {
	cns := C.CString(ns)
	defer C.free(unsafe.Pointer(cns))
	if C.dsSetAdd(s.p, cns, c.p) != 0 {
		C.dsSchemaFree(c.p)
	}
}

func (s *schemaSet) free() {
	if s != nil {
		C.dsSetFree(s.p)
	}
}

// compile compiles an in-memory schema document whose base URL is url. Every
// external resource libxml2 asks for goes through r.
func compile(xsd []byte, url string, r *resolver) (*compiledSchema, error) {
	h := cgo.NewHandle(r)
	defer h.Delete()
	curl := C.CString(url)
	defer C.free(unsafe.Pointer(curl))
	var issues C.dsIssues
	defer C.dsIssuesFree(&issues)
	p := C.dsCompile((*C.char)(unsafe.Pointer(&xsd[0])), C.int(len(xsd)), curl, C.uintptr_t(h), &issues)
	if p != nil {
		return &compiledSchema{p}, nil
	}
	var msgs []string
	for _, is := range goIssues(&issues) {
		if is.Level != "warning" {
			msgs = append(msgs, unescapeFileURLs(is.Message))
		}
	}
	if len(msgs) == 0 {
		return nil, errors.New("libxml2 reported no error")
	}
	return nil, errors.New(strings.Join(msgs, "\n"))
}

// dsGoResolve is libxml2's entity loader during compilation: it stores the
// local file for url in *path, or an error message in *msg and returns 0.
//
//export dsGoResolve
func dsGoResolve(h C.uintptr_t, curl *C.char, path, msg **C.char) C.int {
	r := cgo.Handle(h).Value().(*resolver)
	p, err := r.resolve(C.GoString(curl))
	if err != nil {
		*msg = C.CString(err.Error())
		return 0
	}
	*path = C.CString(p)
	return 1
}

// result is what one validation found, copied out of C memory.
type result struct {
	forbidden, malformed, unknownRoot, invalid bool
	depthExceeded                              bool
	namespace, root                            string
	issues                                     []Issue
}

// validate validates a document read from memory (fd < 0) or from fd,
// refusing elements nested deeper than maxDepth. doc is read in place while
// the C call runs and never retained.
func (s *schemaSet) validate(doc []byte, fd, maxDepth int) result {
	var res C.dsResult
	defer C.dsResultFree(&res)
	var mem *C.char
	if len(doc) > 0 {
		mem = (*C.char)(unsafe.Pointer(&doc[0]))
	}
	C.dsValidate(s.p, mem, C.long(len(doc)), C.int(fd), C.int(maxDepth), &res)
	runtime.KeepAlive(doc)
	out := result{
		forbidden:     res.forbidden != 0,
		depthExceeded: res.depthExceeded != 0,
		malformed:     res.malformed != 0,
		unknownRoot:   res.unknownRoot != 0,
		invalid:       res.invalid != 0,
		issues:        goIssues(&res.issues),
	}
	if res.rootName != nil {
		out.namespace, out.root = C.GoString(res.rootNamespace), C.GoString(res.rootName)
	}
	return out
}

var levels = [...]string{C.dsWarning: "warning", C.dsError: "error", C.dsFatal: "fatal"}

func goIssues(l *C.dsIssues) []Issue {
	items := unsafe.Slice(l.items, int(l.len))
	out := make([]Issue, len(items))
	for i, it := range items {
		level := "error"
		if int(it.level) < len(levels) && levels[it.level] != "" {
			level = levels[it.level]
		}
		out[i] = Issue{Line: int(it.line), Column: int(it.column), Level: level, Message: C.GoString(it.message), schema: it.schema != 0}
	}
	return out
}

// unescapeFileURLs makes percent-encoded paths in compile errors readable.
func unescapeFileURLs(msg string) string {
	if !strings.Contains(msg, "%") {
		return msg
	}
	if u, err := url.PathUnescape(msg); err == nil {
		return u
	}
	return msg
}
