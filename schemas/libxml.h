/*
 * The C half of the libxml2 binding of package schemas. Go calls only the
 * functions declared here; everything else in libxml.c is static.
 */
#ifndef DREHSCHEIBE_SCHEMAS_LIBXML_H
#define DREHSCHEIBE_SCHEMAS_LIBXML_H

#include <stdint.h>
#include <libxml/xmlschemas.h>

/* Levels of an issue, as libxml2's xmlErrorLevel. */
enum { dsWarning = 1, dsError = 2, dsFatal = 3 };

/* One diagnostic. message is malloc'd and owned by the list. */
typedef struct {
	int line;
	int column;
	int level;
	int schema; /* 1 if it concerns the schema (validity, no schema), 0 if well-formedness or I/O */
	char *message;
} dsIssue;

/* A growable list of diagnostics, filled in C without a Go callback per issue. */
typedef struct {
	dsIssue *items;
	int len;
	int cap;
} dsIssues;

/* What one validation found; Go turns it into a Report. */
typedef struct {
	int forbidden;        /* DOCTYPE, external resource, nesting too deep, out of memory */
	int depthExceeded;    /* forbidden because of nesting deeper than maxDepth */
	int malformed;        /* not (namespace-)well-formed */
	int unknownRoot;      /* no schema for the root element */
	int invalid;          /* the schema validator reported an error */
	char *rootNamespace;  /* malloc'd; NULL if the root was not reached */
	char *rootName;       /* malloc'd; NULL if the root was not reached */
	dsIssues issues;
} dsResult;

/* A compiled schema and the in-memory wrapper document it was parsed from. */
typedef struct {
	xmlSchemaPtr schema;
	xmlDocPtr doc;
} dsSchema;

/* Maps namespace URIs to compiled schemas; read-only once built. */
typedef struct dsSchemaSet dsSchemaSet;

void dsInit(void);

dsSchema *dsCompile(const char *xsd, int len, const char *url, uintptr_t resolver, dsIssues *issues);
void dsSchemaFree(dsSchema *s);

dsSchemaSet *dsSetNew(void);
int dsSetAdd(dsSchemaSet *set, const char *ns, dsSchema *s);
void dsSetFree(dsSchemaSet *set);

void dsValidate(dsSchemaSet *set, const char *mem, long len, int fd, int maxDepth, dsResult *res);
void dsResultFree(dsResult *res);
void dsIssuesFree(dsIssues *issues);

#endif
