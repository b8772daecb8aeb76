/* Logging with levels.
 *
 * A struct logger belongs to its owner (a node, a server, a test) and carries its level,
 * a prefix such as "n3" and a sink. Protocol modules log through the logger they were
 * given and never pick a destination themselves; the driver decides (stderr with the
 * wall clock in the server, a virtual-time prefix or silence in the simulator). */
#ifndef CHORUS_BASE_LOG_H
#define CHORUS_BASE_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3, LOG_TRACE = 4 };

/* Receives one formatted line (no trailing newline). */
typedef void (*log_sink_fn)(void *ctx, enum log_level level, const char *prefix, const char *line);

struct logger {
    enum log_level level;
    char prefix[32];
    log_sink_fn sink; /* NULL means stderr */
    void *sink_ctx;
};

void logger_init(struct logger *l, enum log_level level, const char *prefix);
const char *log_level_name(enum log_level level);
/* Parses "error", "warn", "info", "debug" or "trace"; returns -1 when unknown. */
int log_level_parse(const char *name);

__attribute__((format(printf, 3, 4))) void log_write(const struct logger *l, enum log_level level,
                                                      const char *fmt, ...);

static inline bool log_enabled(const struct logger *l, enum log_level level)
{
    return l != NULL && level <= l->level;
}

#define LOG_AT(l, lvl, ...)                   \
    do {                                      \
        if (log_enabled((l), (lvl))) {        \
            log_write((l), (lvl), __VA_ARGS__); \
        }                                     \
    } while (0)
#define LOGE(l, ...) LOG_AT(l, LOG_ERROR, __VA_ARGS__)
#define LOGW(l, ...) LOG_AT(l, LOG_WARN, __VA_ARGS__)
#define LOGI(l, ...) LOG_AT(l, LOG_INFO, __VA_ARGS__)
#define LOGD(l, ...) LOG_AT(l, LOG_DEBUG, __VA_ARGS__)
#define LOGT(l, ...) LOG_AT(l, LOG_TRACE, __VA_ARGS__)

#endif
