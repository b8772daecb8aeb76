/* Reporting half of assertions.h: prints the failed invariant and aborts. */
#include "base/assertions.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void assert_fail_ctx(const char *file, int line, const char *expr, const char *ctx_fmt, ...)
{
    fprintf(stderr, "ASSERTION FAILED %s:%d: %s", file, line, expr);
    va_list ap;
    va_start(ap, ctx_fmt);
    char ctx[256];
    vsnprintf(ctx, sizeof ctx, ctx_fmt, ap);
    va_end(ap);
    if (ctx[0] != '\0') {
        fprintf(stderr, " [%s]", ctx);
    }
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}
