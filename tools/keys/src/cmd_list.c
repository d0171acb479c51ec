#include "commands.h"

#include "record_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Oldest first, then by id, so the output is stable between runs. */
static int by_age(const void *a, const void *b)
{
    const dsk_apikey_record_t *x = a, *y = b;
    if (x->created_at != y->created_at)
        return x->created_at < y->created_at ? -1 : 1;
    return strcmp(x->hash, y->hash);
}

static void format_time(long long unix_s, char *out, size_t cap)
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, cap, "%lld", unix_s);
}

static int print_table(const dsk_apikey_record_t *recs, size_t n)
{
    if (printf("ID\tPREFIX\tNAME\tKIND\tRATE_LIMIT\tCREATED_AT\tORIGINS\n") < 0)
        return DSK_EXIT_FAIL;
    for (size_t i = 0; i < n; i++) {
        const dsk_apikey_record_t *r = &recs[i];
        char created[32], rate[24];
        format_time(r->created_at, created, sizeof created);
        if (r->rate_limit > 0)
            snprintf(rate, sizeof rate, "%lld", r->rate_limit);
        else
            snprintf(rate, sizeof rate, "default");
        if (printf("%.*s\t%s\t%s\t%s\t%s\t%s\t%s\n", DATASTREAM_APIKEY_ID_LEN, r->hash, r->prefix, r->name,
                   r->kind, rate, created, r->origins[0] ? r->origins : "-") < 0)
            return DSK_EXIT_FAIL;
    }
    return DSK_EXIT_OK;
}

static int print_json(const dsk_apikey_record_t *recs, size_t n)
{
    json_t *arr = json_array();
    bool ok = arr != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        json_t *obj = dsk_record_json(&recs[i], NULL);
        ok = obj && json_array_append_new(arr, obj) == 0;
    }
    int rc = ok ? dsk_record_json_print(arr) : DSK_EXIT_FAIL;
    json_decref(arr);
    return rc;
}

int dsk_list_run(dsk_store_t *s, bool json)
{
    dsk_apikey_record_t *recs = NULL;
    size_t n = 0;
    if (!dsk_store_list(s, &recs, &n))
        return DSK_EXIT_FAIL;
    qsort(recs, n, sizeof *recs, by_age);
    int rc = json ? print_json(recs, n) : print_table(recs, n);
    free(recs);
    return rc;
}
