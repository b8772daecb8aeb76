/* The project-wide table of operating errors (STYLE.md rule 10).
 *
 * Every fallible function returns 0 (or a non-negative count) on success and one of
 * these negative codes on failure. Programmer errors are assertions, never codes.
 * errno values from the I/O layer are mapped into this table with err_from_errno(). */
#ifndef CHORUS_BASE_ERRORS_H
#define CHORUS_BASE_ERRORS_H

#define CHORUS_ERRORS(X)                                                    \
    X(ERR_NOMEM, "out of memory")                                           \
    X(ERR_INVALID, "invalid argument")                                      \
    X(ERR_TRUNCATED, "input ends too early")                                \
    X(ERR_CHECKSUM, "checksum mismatch")                                    \
    X(ERR_VERSION, "unknown format version")                                \
    X(ERR_MAGIC, "bad magic number")                                        \
    X(ERR_TOO_LARGE, "value exceeds its limit")                             \
    X(ERR_MALFORMED, "malformed input")                                     \
    X(ERR_FULL, "queue or buffer full")                                     \
    X(ERR_NOT_FOUND, "not found")                                           \
    X(ERR_EXISTS, "already exists")                                         \
    X(ERR_IO, "input/output error")                                         \
    X(ERR_NOSPACE, "no space left on device")                               \
    X(ERR_CORRUPT, "stored data is corrupt")                                \
    X(ERR_NOT_LEADER, "not the leader")                                     \
    X(ERR_NO_LEADER, "no leader known")                                     \
    X(ERR_TIMEOUT, "deadline exceeded")                                     \
    X(ERR_UNKNOWN_OUTCOME, "outcome unknown")                               \
    X(ERR_BUSY, "busy, try again")                                          \
    X(ERR_AUTH, "authentication failed")                                    \
    X(ERR_CLOSED, "closed")                                                 \
    X(ERR_STALE, "stale request")                                           \
    X(ERR_WRONGTYPE, "operation against a key holding the wrong kind of value") \
    X(ERR_NOT_INTEGER, "value is not an integer or out of range")           \
    X(ERR_OVERFLOW, "increment or decrement would overflow")                \
    X(ERR_EVICTED, "reply evicted from the cache")                          \
    X(ERR_SHUTDOWN, "shutting down")                                        \
    X(ERR_TRANSFERRING, "leadership transfer in progress")                  \
    X(ERR_NOT_CAUGHT_UP, "member lags too far behind the leader")

enum chorus_error {
    ERR_OK = 0,
#define CHORUS_ERROR_ENUM(name, text) name,
    ERR_FIRST_ = -1000,
    CHORUS_ERRORS(CHORUS_ERROR_ENUM)
#undef CHORUS_ERROR_ENUM
    ERR_LAST_
};

/* A static, human-readable description of code (0 or a negative error). */
const char *err_str(int code);

/* The short symbolic name of code, e.g. "ERR_CHECKSUM". */
const char *err_name(int code);

/* Maps a positive errno value to the closest project error. */
int err_from_errno(int errnum);

#endif
