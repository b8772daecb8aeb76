/* Logger implementation: formats a line and hands it to the owner's sink. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};

void logger_init(struct logger *l, enum log_level level, const char *prefix)
{
    memset(l, 0, sizeof *l);
    l->level = level;
    snprintf(l->prefix, sizeof l->prefix, "%s", prefix != NULL ? prefix : "");
}

const char *log_level_name(enum log_level level)
{
    return (unsigned)level < 5 ? level_names[level] : "?";
}

int log_level_parse(const char *name)
{
    for (int i = 0; i < 5; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

void log_write(const struct logger *l, enum log_level level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (l->sink != NULL) {
        l->sink(l->sink_ctx, level, l->prefix, line);
        return;
    }
    fprintf(stderr, "%s %-5s %s\n", l->prefix, log_level_name(level), line);
}
