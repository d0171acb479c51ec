/* Growable text buffer with JSON string escaping: builds the exact bytes the read model stores. */
#ifndef DS_JSON_TEXT_H
#define DS_JSON_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *data;
    size_t len;
    size_t cap;
    bool failed;    /* sticky allocation failure: checked once at the end */
} ds_text;

void ds_text_raw(ds_text *t, const char *s);
void ds_text_int(ds_text *t, int64_t v);
void ds_text_string(ds_text *t, const char *s);   /* quoted and escaped */
/* Returns the NUL-terminated text (caller frees) or NULL if any append failed. */
char *ds_text_finish(ds_text *t);

#endif
