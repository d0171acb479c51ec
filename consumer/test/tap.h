/* Minimal TAP producer for the unit tests. */
#ifndef DSC_TAP_H
#define DSC_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_count;
static int tap_failed;

#define ok(cond, ...)                                                        \
    do {                                                                     \
        bool tap_ok_ = (cond);                                               \
        printf("%sok %d - ", tap_ok_ ? "" : "not ", ++tap_count);            \
        printf(__VA_ARGS__);                                                 \
        printf("\n");                                                        \
        if (!tap_ok_) {                                                      \
            tap_failed++;                                                    \
            printf("#   failed at %s:%d\n", __FILE__, __LINE__);             \
        }                                                                    \
    } while (0)

#define is_str(got, want, ...)                                               \
    do {                                                                     \
        const char *tap_g_ = (got), *tap_w_ = (want);                        \
        bool tap_eq_ = tap_g_ && tap_w_ && strcmp(tap_g_, tap_w_) == 0;      \
        ok(tap_eq_, __VA_ARGS__);                                            \
        if (!tap_eq_)                                                        \
            printf("#   got:  '%s'\n#   want: '%s'\n", tap_g_ ? tap_g_ : "(null)", \
                   tap_w_ ? tap_w_ : "(null)");                              \
    } while (0)

static inline int done_testing(void)
{
    printf("1..%d\n", tap_count);
    return tap_failed ? 1 : 0;
}

#endif
