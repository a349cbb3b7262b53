/*
 * The C half of the libxml2 binding of package schemas: schema compilation
 * with a confined entity loader, and streaming validation through a push
 * parser whose SAX events reach the schema validator via xmlSchemaSAXPlug.
 *
 * No DOM is built. Diagnostics are collected into C arrays (dsIssues) and
 * handed to Go once per call. libxml2 never writes to stderr: every entry
 * point routes this thread's generic and structured error handlers to the
 * collector and leaves a silent handler behind.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/globals.h>
#include <libxml/hash.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlIO.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemastypes.h>

#include "libxml.h"
#include "_cgo_export.h"

/*
 * How many bytes are handed to the push parser at a time, and the smallest
 * piece of a long text run handed to the validator.
 */
#define dsChunk (256 * 1024)

/*
 * Options of the instance parser: no network, no entity substitution, no DTD
 * loading or validation, no XInclude. XML_PARSE_HUGE lifts the 10 MB text
 * limits; it is safe because a DOCTYPE is refused and depth is capped here.
 */
static const int dsParseOptions = XML_PARSE_NONET | XML_PARSE_HUGE;

/* ---- diagnostics ------------------------------------------------------- */

static void dsAppend(dsIssues *l, int line, int column, int level, const char *msg) {
	if (l->len == l->cap) {
		int cap = l->cap ? 2 * l->cap : 16;
		dsIssue *items = realloc(l->items, (size_t)cap * sizeof(dsIssue));
		if (items == NULL)
			return;
		l->items = items;
		l->cap = cap;
	}
	size_t n = msg ? strlen(msg) : 0;
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == ' '))
		n--;
	char *m = malloc(n + 1);
	if (m == NULL)
		return;
	if (n > 0)
		memcpy(m, msg, n);
	m[n] = 0;
	l->items[l->len++] = (dsIssue){.line = line, .column = column, .level = level, .message = m};
}

void dsIssuesFree(dsIssues *l) {
	for (int i = 0; i < l->len; i++)
		free(l->items[i].message);
	free(l->items);
	l->items = NULL;
	l->len = l->cap = 0;
}

static void dsSilent(void *ctx, const char *msg, ...) {
	(void)ctx;
	(void)msg;
}

static void dsDiscard(void *ctx, xmlErrorPtr err) {
	(void)ctx;
	(void)err;
}

/* dsRoute sends this thread's libxml2 errors to f; dsUnroute silences them. */
static void dsRoute(void *ctx, xmlStructuredErrorFunc f) {
	xmlSetGenericErrorFunc(NULL, dsSilent);
	xmlSetStructuredErrorFunc(ctx, f);
}

static void dsUnroute(void) {
	xmlSetGenericErrorFunc(NULL, dsSilent);
	xmlSetStructuredErrorFunc(NULL, dsDiscard);
}

/* ---- entity loader ----------------------------------------------------- */

/* The compilation running on this thread, if any. */
typedef struct {
	uintptr_t resolver;
	dsIssues *issues;
} dsLoader;

static __thread dsLoader *tlsLoader;

typedef struct dsValidation dsValidation;
static __thread dsValidation *tlsValidation;
static void dsRefuse(dsValidation *v, const char *url);

/*
 * dsLoadEntity replaces libxml2's external entity loader for the whole
 * process. While a schema compiles on this thread it asks Go (catalogs,
 * confinement to the configured directories) for a local file; at any other
 * time it loads nothing.
 */
static xmlParserInputPtr dsLoadEntity(const char *url, const char *id, xmlParserCtxtPtr ctxt) {
	(void)id;
	dsLoader *ld = tlsLoader;
	if (ld == NULL) {
		if (tlsValidation != NULL)
			dsRefuse(tlsValidation, url);
		return NULL;
	}
	if (url == NULL)
		return NULL;
	char *path = NULL, *msg = NULL;
	if (!dsGoResolve(ld->resolver, (char *)url, &path, &msg)) {
		dsAppend(ld->issues, 0, 0, dsError, msg);
		free(msg);
		return NULL;
	}
	xmlParserInputPtr in = xmlNewInputFromFile(ctxt, path);
	free(path);
	return in;
}

void dsInit(void) {
	xmlInitParser();
	xmlSchemaInitTypes();
	xmlThrDefSetGenericErrorFunc(NULL, dsSilent);
	xmlThrDefSetStructuredErrorFunc(NULL, dsDiscard);
	dsUnroute();
	xmlSetExternalEntityLoader(dsLoadEntity);
}

/* ---- compilation ------------------------------------------------------- */

static void dsOnCompileError(void *ctx, xmlErrorPtr err) {
	const char *file = err->file ? err->file : "";
	dsIssues *l = ctx;
	char msg[2048];
	if (err->line > 0)
		snprintf(msg, sizeof msg, "%s:%d: %s", file, err->line, err->message ? err->message : "");
	else
		snprintf(msg, sizeof msg, "%s: %s", file, err->message ? err->message : "");
	dsAppend(l, err->line, err->int2, err->level, msg);
}

dsSchema *dsCompile(const char *xsd, int len, const char *url, uintptr_t resolver, dsIssues *issues) {
	dsLoader ld = {resolver, issues};
	dsSchema *s = NULL;
	dsRoute(issues, dsOnCompileError);
	tlsLoader = &ld;
	xmlDocPtr doc = xmlReadMemory(xsd, len, url, NULL, XML_PARSE_NONET);
	if (doc != NULL) {
		xmlSchemaParserCtxtPtr pc = xmlSchemaNewDocParserCtxt(doc);
		if (pc != NULL) {
			xmlSchemaSetParserStructuredErrors(pc, dsOnCompileError, issues);
			xmlSchemaPtr schema = xmlSchemaParse(pc);
			xmlSchemaFreeParserCtxt(pc);
			if (schema != NULL) {
				s = malloc(sizeof *s);
				if (s == NULL) {
					xmlSchemaFree(schema);
				} else {
					s->schema = schema;
					s->doc = doc;
					doc = NULL;
				}
			}
		}
		if (doc != NULL)
			xmlFreeDoc(doc);
	}
	tlsLoader = NULL;
	dsUnroute();
	return s;
}

void dsSchemaFree(dsSchema *s) {
	if (s == NULL)
		return;
	xmlSchemaFree(s->schema);
	xmlFreeDoc(s->doc);
	free(s);
}

struct dsSchemaSet {
	xmlHashTablePtr table;
};

dsSchemaSet *dsSetNew(void) {
	dsSchemaSet *set = malloc(sizeof *set);
	if (set == NULL)
		return NULL;
	set->table = xmlHashCreate(64);
	if (set->table == NULL) {
		free(set);
		return NULL;
	}
	return set;
}

int dsSetAdd(dsSchemaSet *set, const char *ns, dsSchema *s) {
	return xmlHashAddEntry(set->table, BAD_CAST ns, s);
}

static void dsSetFreeEntry(void *payload, const xmlChar *name) {
	(void)name;
	dsSchemaFree(payload);
}

void dsSetFree(dsSchemaSet *set) {
	if (set == NULL)
		return;
	xmlHashFree(set->table, dsSetFreeEntry);
	free(set);
}

/* ---- validation -------------------------------------------------------- */

struct dsValidation {
	xmlParserCtxtPtr pctxt;
	dsSchemaSet *set;
	dsResult *res;
	/*
	 * Depth of the open element, the deepest allowed, and where each open
	 * start tag ended (maxDepth + 1 entries each).
	 */
	int depth;
	int maxDepth;
	int *lines;
	int *cols;
	/* The plugged schema validator; vsax is NULL when nothing is validated. */
	xmlSchemaValidCtxtPtr vctxt;
	xmlSchemaSAXPlugPtr plug;
	xmlSAXHandlerPtr vsax;
	void *vdata;
	/*
	 * Character data since the last markup event. libxml2's validator
	 * appends every text callback to the element's value with xmlStrncat,
	 * which measures the value each time: fed line by line, a 40 MB base64
	 * attachment takes minutes. Collected here, it takes milliseconds.
	 */
	char *text;
	size_t textLen;
	size_t textCap;
	size_t textPassed; /* bytes of the current run already passed on */
};

static int dsLine(dsValidation *v) {
	return v->pctxt->input ? v->pctxt->input->line : 0;
}

static int dsCol(dsValidation *v) {
	return v->pctxt->input ? v->pctxt->input->col : 0;
}

static void dsStop(dsValidation *v) {
	xmlStopParser(v->pctxt);
}

/* dsForbid refuses the document: forbidden content or exhausted resources. */
static void dsForbid(dsValidation *v, const char *msg) {
	v->res->forbidden = 1;
	dsAppend(&v->res->issues, dsLine(v), dsCol(v), dsFatal, msg);
	dsStop(v);
}

static void dsRefuse(dsValidation *v, const char *url) {
	char msg[1024];
	snprintf(msg, sizeof msg, "loading external resource '%.900s' refused: nothing external is loaded during validation",
	         url ? url : "");
	dsForbid(v, msg);
}

/* dsMarkSchema marks the issue appended last as one about the schema. */
static void dsMarkSchema(dsIssues *l, int before) {
	if (l->len > before)
		l->items[l->len - 1].schema = 1;
}

/* dsOnError receives parser and validator errors of one validation. */
static void dsOnError(void *ctx, xmlErrorPtr err) {
	dsValidation *v = ctx;
	int line = err->line, col = err->int2;
	int validity = err->domain == XML_FROM_SCHEMASV;
	if (validity) {
		/* Locate it where the start tag of the element it concerns ends. */
		if (v->depth > 0) {
			line = v->lines[v->depth];
			col = v->cols[v->depth];
		} else {
			line = dsLine(v);
			col = dsCol(v);
		}
		if (err->level >= XML_ERR_ERROR) {
			if (err->code == XML_SCHEMAV_CVC_ELT_1 && v->depth == 1)
				v->res->unknownRoot = 1;
			else
				v->res->invalid = 1;
		}
	} else if (err->level >= XML_ERR_ERROR) {
		v->res->malformed = 1;
	}
	int before = v->res->issues.len;
	dsAppend(&v->res->issues, line, col, err->level, err->message);
	if (validity)
		dsMarkSchema(&v->res->issues, before);
}

static void dsPassText(dsValidation *v) {
	if (v->textLen == 0)
		return;
	if (v->vsax != NULL && v->vsax->characters != NULL)
		v->vsax->characters(v->vdata, BAD_CAST v->text, (int)v->textLen);
	v->textPassed += v->textLen;
	v->textLen = 0;
}

static void dsFlushText(dsValidation *v) {
	dsPassText(v);
	v->textPassed = 0;
}

static void dsCharacters(void *ctx, const xmlChar *ch, int len) {
	dsValidation *v = ctx;
	if (v->vsax == NULL || len <= 0)
		return;
	/*
	 * Pass long runs on in pieces that double in size: xmlStrncat's cost
	 * stays linear overall and this buffer holds at most half the run.
	 */
	if ((v->textLen >= dsChunk && v->textLen >= v->textPassed) || v->textLen + (size_t)len > INT_MAX / 2)
		dsPassText(v);
	if (v->textLen + (size_t)len > v->textCap) {
		size_t cap = v->textCap ? v->textCap : 4096;
		while (cap < v->textLen + (size_t)len)
			cap *= 2;
		char *text = realloc(v->text, cap);
		if (text == NULL) {
			dsForbid(v, "out of memory");
			return;
		}
		v->text = text;
		v->textCap = cap;
	}
	memcpy(v->text + v->textLen, ch, (size_t)len);
	v->textLen += (size_t)len;
}

static void dsStartRoot(dsValidation *v, const xmlChar *name, const xmlChar *uri) {
	dsResult *r = v->res;
	r->rootName = strdup((const char *)name);
	r->rootNamespace = strdup(uri ? (const char *)uri : "");
	dsSchema *s = uri ? xmlHashLookup(v->set->table, uri) : NULL;
	if (s == NULL) {
		char msg[1024];
		if (uri == NULL)
			snprintf(msg, sizeof msg, "root element '%.200s' has no namespace; no schema applies", name);
		else
			snprintf(msg, sizeof msg, "no schema declaring message types is loaded for namespace '%.600s' (root element '%.200s')", uri, name);
		r->unknownRoot = 1;
		int before = r->issues.len;
		dsAppend(&r->issues, dsLine(v), dsCol(v), dsError, msg);
		dsMarkSchema(&r->issues, before);
		return;
	}
	v->vctxt = xmlSchemaNewValidCtxt(s->schema);
	if (v->vctxt != NULL) {
		xmlSchemaSetValidStructuredErrors(v->vctxt, dsOnError, v);
		v->plug = xmlSchemaSAXPlug(v->vctxt, &v->vsax, &v->vdata);
	}
	if (v->plug == NULL) {
		v->vsax = NULL;
		dsForbid(v, "out of memory: cannot start the schema validator");
	}
}

static void dsStartElementNs(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
                             int nbNamespaces, const xmlChar **namespaces, int nbAttributes, int nbDefaulted,
                             const xmlChar **attributes) {
	dsValidation *v = ctx;
	dsFlushText(v);
	if (v->depth == v->maxDepth) {
		char msg[512];
		snprintf(msg, sizeof msg, "element '%.200s' is nested deeper than %d levels; such documents are refused",
		         localname, v->maxDepth);
		v->res->depthExceeded = 1;
		dsForbid(v, msg);
		return;
	}
	v->depth++;
	v->lines[v->depth] = dsLine(v);
	v->cols[v->depth] = dsCol(v);
	if (v->depth == 1)
		dsStartRoot(v, localname, uri);
	if (v->vsax != NULL && v->vsax->startElementNs != NULL)
		v->vsax->startElementNs(v->vdata, localname, prefix, uri, nbNamespaces, namespaces, nbAttributes,
		                        nbDefaulted, attributes);
}

static void dsEndElementNs(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri) {
	dsValidation *v = ctx;
	dsFlushText(v);
	if (v->vsax != NULL && v->vsax->endElementNs != NULL)
		v->vsax->endElementNs(v->vdata, localname, prefix, uri);
	if (v->depth > 0)
		v->depth--;
}

static void dsCDataBlock(void *ctx, const xmlChar *value, int len) {
	dsValidation *v = ctx;
	dsFlushText(v);
	if (v->vsax != NULL && v->vsax->cdataBlock != NULL)
		v->vsax->cdataBlock(v->vdata, value, len);
}

static void dsReference(void *ctx, const xmlChar *name) {
	dsValidation *v = ctx;
	dsFlushText(v);
	if (v->vsax != NULL && v->vsax->reference != NULL)
		v->vsax->reference(v->vdata, name);
}

static void dsInternalSubset(void *ctx, const xmlChar *name, const xmlChar *externalID, const xmlChar *systemID) {
	(void)name;
	(void)externalID;
	(void)systemID;
	dsForbid(ctx, "document type declarations (DOCTYPE) are not allowed");
}

static xmlSAXHandler dsSAX = {
	.internalSubset = dsInternalSubset,
	.externalSubset = dsInternalSubset,
	.characters = dsCharacters,
	.ignorableWhitespace = dsCharacters,
	.cdataBlock = dsCDataBlock,
	.reference = dsReference,
	.initialized = XML_SAX2_MAGIC,
	.startElementNs = dsStartElementNs,
	.endElementNs = dsEndElementNs,
	.serror = dsOnError,
};

static int dsStopped(xmlParserCtxtPtr p) {
	return p->disableSAX || p->instate == XML_PARSER_EOF;
}

/* dsFeed hands the document to the push parser, from memory or from fd. */
static void dsFeed(dsValidation *v, const char *mem, long len, int fd) {
	xmlParserCtxtPtr p = v->pctxt;
	if (fd < 0) {
		for (long off = 0; off < len && !dsStopped(p);) {
			int n = len - off > dsChunk ? dsChunk : (int)(len - off);
			xmlParseChunk(p, mem + off, n, 0);
			off += n;
		}
	} else {
		char *buf = malloc(dsChunk);
		if (buf == NULL) {
			dsForbid(v, "out of memory");
			return;
		}
		while (!dsStopped(p)) {
			ssize_t n = read(fd, buf, dsChunk);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				char msg[256];
				snprintf(msg, sizeof msg, "reading the document: %s", strerror(errno));
				v->res->malformed = 1;
				dsAppend(&v->res->issues, dsLine(v), dsCol(v), dsFatal, msg);
				break;
			}
			if (n == 0)
				break;
			xmlParseChunk(p, buf, (int)n, 0);
		}
		free(buf);
	}
	if (!dsStopped(p))
		xmlParseChunk(p, NULL, 0, 1);
}

void dsValidate(dsSchemaSet *set, const char *mem, long len, int fd, int maxDepth, dsResult *res) {
	dsValidation v;
	memset(&v, 0, sizeof v);
	v.set = set;
	v.res = res;
	v.maxDepth = maxDepth;
	v.lines = calloc((size_t)maxDepth + 1, sizeof(int));
	v.cols = calloc((size_t)maxDepth + 1, sizeof(int));
	dsRoute(&v, dsOnError);
	tlsValidation = &v;
	if (v.lines != NULL && v.cols != NULL)
		v.pctxt = xmlCreatePushParserCtxt(&dsSAX, &v, NULL, 0, NULL);
	if (v.pctxt == NULL) {
		res->forbidden = 1;
		dsAppend(&res->issues, 0, 0, dsFatal, "out of memory: cannot create a parser");
	} else {
		xmlCtxtUseOptions(v.pctxt, dsParseOptions);
		dsFeed(&v, mem, len, fd);
		if (v.plug != NULL)
			xmlSchemaSAXUnplug(v.plug);
		if (v.vctxt != NULL)
			xmlSchemaFreeValidCtxt(v.vctxt);
		if (!v.pctxt->wellFormed || !v.pctxt->nsWellFormed)
			res->malformed = 1;
		xmlFreeParserCtxt(v.pctxt);
	}
	free(v.text);
	free(v.lines);
	free(v.cols);
	tlsValidation = NULL;
	dsUnroute();
}

void dsResultFree(dsResult *res) {
	free(res->rootNamespace);
	free(res->rootName);
	dsIssuesFree(&res->issues);
}
