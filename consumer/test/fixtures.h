/* Reads line N (1-based) of a fixture file under test/fixtures. */
#ifndef DSC_TEST_FIXTURES_H
#define DSC_TEST_FIXTURES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline char *fixture_line(const char *file, int n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", FIXTURE_DIR, file);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len = -1;
    for (int i = 0; i < n; i++)
        if ((len = getline(&line, &cap, f)) < 0)
            break;
    fclose(f);
    if (len < 0) {
        free(line);
        return NULL;
    }
    if (len > 0 && line[len - 1] == '\n')
        line[len - 1] = '\0';
    return line;
}

#endif
