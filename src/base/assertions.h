/* Assertions that stay on in every build (STYLE.md rule 11).
 *
 * ASSERT(cond) checks a programmer invariant and aborts with the file, line and
 * expression when it fails; it is never compiled out. DEBUG_ASSERT guards checks that
 * are too expensive for production and is active unless NDEBUG_EXPENSIVE is defined.
 * Modules with richer context (Raft prints node id, term and role) wrap
 * assert_fail_ctx() in their own macro. Depends on libc only. */
#ifndef CHORUS_BASE_ASSERTIONS_H
#define CHORUS_BASE_ASSERTIONS_H

#include <stdbool.h>

__attribute__((noreturn, format(printf, 4, 5))) void assert_fail_ctx(const char *file, int line,
                                                                      const char *expr,
                                                                      const char *ctx_fmt, ...);

#define ASSERT(cond)                                                   \
    do {                                                               \
        if (__builtin_expect(!(cond), 0)) {                            \
            assert_fail_ctx(__FILE__, __LINE__, #cond, "%s", "");      \
        }                                                              \
    } while (0)

/* ASSERT_CTX(cond, fmt, ...) adds a formatted context line to the report. */
#define ASSERT_CTX(cond, ...)                                          \
    do {                                                               \
        if (__builtin_expect(!(cond), 0)) {                            \
            assert_fail_ctx(__FILE__, __LINE__, #cond, __VA_ARGS__);   \
        }                                                              \
    } while (0)

#ifdef NDEBUG_EXPENSIVE
#define DEBUG_ASSERT(cond) ((void)0)
#else
#define DEBUG_ASSERT(cond) ASSERT(cond)
#endif

#define UNREACHABLE() assert_fail_ctx(__FILE__, __LINE__, "unreachable", "%s", "")

#define ARRAY_COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
