package schemas

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
)

// xsdNS is the namespace of XML Schema 1.0.
const xsdNS = "http://www.w3.org/2001/XMLSchema"

// wrapperName is the file name given to the in-memory wrapper schema of a
// namespace. No such file exists; the name only shows in compile errors.
const wrapperName = "drehscheibe-namespace-wrapper.xsd"

// Catalog is a set of compiled XÖV schemas, one per target namespace, loaded
// from schema directories. It is safe for concurrent use.
type Catalog struct {
	mu       sync.RWMutex
	set      *schemaSet // nil after Close
	packages []Package
	byNS     map[string]int
	known    []string // namespaces that have message types, sorted
	limits   Limits
}

// group is the files of one namespace in one directory.
type group struct {
	namespace string
	dir       string
	root      int // index of the configured directory dir is under
	files     []*xsdFile
}

// Load walks each dir recursively, reads every *.xsd and every OASIS catalog
// named catalog.xml, and compiles one schema per target namespace that
// declares global elements. It fails if any of them does not compile; the
// error names the files and lines libxml2 reports.
//
// libxml2 loads only one schema document per namespace and skips any further
// import of it, so compiling an entry point such as a "baukasten" file can
// miss global elements declared in other files of the same namespace. Load
// therefore compiles, per namespace, an in-memory wrapper schema that
// xs:includes every file of that namespace, and every global element in any
// file can be the root of a message.
//
// A namespace is often present in several directories: libraries such as
// xoev-code are copied into each standard's bundle. Load then uses the files
// of one directory only: the directory under the first configured dir that
// holds it, and among those the lexicographically smallest path. Files without
// a targetNamespace are not compiled on their own; they take part where other
// schemas include them.
//
// While compiling, remote schemaLocations are mapped to local files through
// the catalog.xml files of the schema's directory and its parent directories,
// nearest first, and only files under the configured dirs are opened. The
// network is never used.
func Load(dirs ...string) (*Catalog, error) {
	if len(dirs) == 0 {
		return nil, errors.New("schemas: no schema directory given")
	}
	initLibxml()
	roots, err := rootDirs(dirs)
	if err != nil {
		return nil, err
	}
	xsds, catalogFiles, err := walk(roots)
	if err != nil {
		return nil, err
	}
	catalogs := catalogSet{}
	for _, p := range catalogFiles {
		if err := catalogs.load(p, roots); err != nil {
			return nil, fmt.Errorf("schemas: %w", err)
		}
	}
	files, err := readXSDs(xsds)
	if err != nil {
		return nil, err
	}
	groups := chooseGroups(files, roots)
	c := &Catalog{byNS: map[string]int{}, limits: DefaultLimits()}
	for _, g := range groups {
		c.packages = append(c.packages, g.describe(roots))
	}
	sort.Slice(c.packages, func(i, j int) bool { return lessPackage(c.packages[i], c.packages[j]) })
	for i, p := range c.packages {
		c.byNS[p.Namespace] = i
		if len(p.MessageTypes) > 0 {
			c.known = append(c.known, p.Namespace)
		}
	}
	sort.Strings(c.known)
	c.set, err = compileGroups(groups, roots, catalogs)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Close frees the compiled schemas. The Catalog must not be used afterwards.
func (c *Catalog) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.set.free()
	c.set = nil
}

// Packages returns every namespace found, sorted by Standard, Version and
// Namespace; versions compare numerically where they are numbers.
func (c *Catalog) Packages() []Package {
	out := make([]Package, len(c.packages))
	for i, p := range c.packages {
		p.MessageTypes = slices.Clone(p.MessageTypes)
		out[i] = p
	}
	return out
}

// Lookup returns the package of a namespace.
func (c *Catalog) Lookup(namespace string) (Package, bool) {
	i, ok := c.byNS[namespace]
	if !ok {
		return Package{}, false
	}
	p := c.packages[i]
	p.MessageTypes = slices.Clone(p.MessageTypes)
	return p, true
}

func rootDirs(dirs []string) ([]string, error) {
	var roots []string
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err == nil {
			abs, err = filepath.EvalSymlinks(abs)
		}
		if err != nil {
			return nil, fmt.Errorf("schemas: schema directory: %w", err)
		}
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("schemas: schema directory %s is not a directory", d)
		}
		roots = append(roots, abs)
	}
	return roots, nil
}

// walk lists the *.xsd and catalog.xml files under roots, each once.
func walk(roots []string) (xsds, catalogs []string, err error) {
	seen := map[string]bool{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || seen[p] {
				return nil
			}
			seen[p] = true
			switch {
			case strings.EqualFold(filepath.Ext(p), ".xsd"):
				xsds = append(xsds, p)
			case d.Name() == "catalog.xml":
				catalogs = append(catalogs, p)
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("schemas: %w", err)
		}
	}
	return xsds, catalogs, nil
}

// readXSDs reads the schema files in parallel; the result keeps their order.
func readXSDs(paths []string) ([]*xsdFile, error) {
	files := make([]*xsdFile, len(paths))
	errs := make([]error, len(paths))
	parallel(len(paths), func(i int) { files[i], errs[i] = readXSD(paths[i]) })
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return files, nil
}

// parallel calls f(0) … f(n-1) on up to GOMAXPROCS goroutines.
func parallel(n int, f func(i int)) {
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(n, runtime.GOMAXPROCS(0)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				f(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
}

// chooseGroups groups the files by namespace and directory and picks one
// directory per namespace (see Load). The result is sorted by namespace.
func chooseGroups(files []*xsdFile, roots []string) []*group {
	byKey := map[[2]string]*group{}
	var all []*group
	for _, f := range files {
		if f == nil || f.namespace == "" {
			continue
		}
		k := [2]string{f.namespace, f.dir}
		g := byKey[k]
		if g == nil {
			g = &group{namespace: f.namespace, dir: f.dir, root: rootIndex(f.dir, roots)}
			byKey[k] = g
			all = append(all, g)
		}
		g.files = append(g.files, f)
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.namespace != b.namespace {
			return a.namespace < b.namespace
		}
		if a.root != b.root {
			return a.root < b.root
		}
		return a.dir < b.dir
	})
	var chosen []*group
	for _, g := range all {
		if len(chosen) == 0 || chosen[len(chosen)-1].namespace != g.namespace {
			sort.Slice(g.files, func(i, j int) bool { return g.files[i].path < g.files[j].path })
			chosen = append(chosen, g)
		}
	}
	return chosen
}

func rootIndex(dir string, roots []string) int {
	for i, r := range roots {
		if under(dir, []string{r}) {
			return i
		}
	}
	return len(roots)
}

// wrapper returns a schema for the group's namespace that includes every file
// of the group, by absolute, percent-encoded path.
func (g *group) wrapper() []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<xs:schema xmlns:xs="` + xsdNS + `" targetNamespace="`)
	xml.EscapeText(&b, []byte(g.namespace))
	b.WriteString("\">\n")
	for _, f := range g.files {
		b.WriteString(`  <xs:include schemaLocation="`)
		xml.EscapeText(&b, []byte(fileURL(f.path).EscapedPath()))
		b.WriteString("\"/>\n")
	}
	b.WriteString("</xs:schema>\n")
	return b.Bytes()
}

// compileGroups compiles the groups that declare global elements, in
// parallel, into one schema set.
func compileGroups(groups []*group, roots []string, catalogs catalogSet) (*schemaSet, error) {
	var todo []*group
	for _, g := range groups {
		for _, f := range g.files {
			if len(f.elements) > 0 {
				todo = append(todo, g)
				break
			}
		}
	}
	compiled := make([]*compiledSchema, len(todo))
	errs := make([]error, len(todo))
	parallel(len(todo), func(i int) {
		g := todo[i]
		r := &resolver{roots: roots, catalogs: catalogs, chain: catalogs.governing(g.dir, roots), dir: g.dir}
		compiled[i], errs[i] = compile(g.wrapper(), fileURL(filepath.Join(g.dir, wrapperName)).EscapedPath(), r)
		if errs[i] != nil {
			errs[i] = fmt.Errorf("schemas: compiling namespace %s from %s: %w", g.namespace, g.dir, errs[i])
		}
	})
	set := newSchemaSet()
	for i, s := range compiled {
		if s != nil {
			set.add(todo[i].namespace, s)
		}
	}
	if err := errors.Join(errs...); err != nil {
		set.free()
		return nil, err
	}
	return set, nil
}
