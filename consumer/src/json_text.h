/* Growable text buffer with JSON string escaping: builds the exact bytes the read model stores. */
#ifndef DSC_JSON_TEXT_H
#define DSC_JSON_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *data;
    size_t len;
    size_t cap;
    bool failed;    /* sticky allocation failure: checked once at the end */
} dsc_text_t;

void dsc_text_raw(dsc_text_t *t, const char *s);
void dsc_text_int(dsc_text_t *t, int64_t v);
void dsc_text_string(dsc_text_t *t, const char *s);   /* quoted and escaped */
/* Returns the NUL-terminated text (caller frees) or NULL if any append failed. */
char *dsc_text_finish(dsc_text_t *t);

#endif
