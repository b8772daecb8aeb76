/* The RESP reply parser (client side): any RESP2 or RESP3 reply, incrementally.
 *
 * Used by the load generator and by tests. It is a pull parser over the caller's bytes:
 * resp_reply_next() looks at the start of the bytes not yet consumed and, once a whole
 * token is there, returns it and how many bytes it took; the caller drops those bytes
 * and calls again. A token is a scalar (simple string, error, integer, bulk string,
 * null, double, boolean, blob error, verbatim string, big number), an aggregate header
 * (array, map, set, attribute, push; its elements follow as further tokens), or a piece
 * of a RESP3 streamed value ("$?" strings in ";" chunks, "*?"-style aggregates closed
 * by "."). The parser keeps only a fixed stack of open aggregates, never allocates, and
 * sets `reply_done` on the token that completes a top-level reply (an attribute
 * annotates the value after it and is not itself a reply; RESP3 push messages are
 * replies here too, the caller tells them by their type).
 *
 * Format rules enforced: each line ends in "\r\n"; lengths and integers use Redis's
 * strict integer syntax (integers and big numbers may also carry the '+' the RESP3
 * specification allows); a bulk body is followed by "\r\n"; "-1" is accepted as a RESP2
 * null only for "$" and "*"; booleans are "t" or "f"; verbatim strings start with a
 * three-letter format and ':'. Limits: line length, bulk length, aggregate count and
 * nesting depth. Errors are sticky. Pure; depends on base only. */
#ifndef CHORUS_RESP_REPLY_H
#define CHORUS_RESP_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RESP_REPLY_DEPTH_MAX 64
#define RESP_REPLY_LINE_BYTES_MAX_DEFAULT (1024 * 1024)
#define RESP_REPLY_BULK_BYTES_MAX_DEFAULT (512 * 1024 * 1024)
#define RESP_REPLY_AGGREGATE_COUNT_MAX_DEFAULT (1LL << 32)

enum resp_type {
    RESP_SIMPLE = '+',
    RESP_ERROR = '-',
    RESP_INTEGER = ':',
    RESP_BULK = '$',
    RESP_ARRAY = '*',
    RESP_NULL = '_',
    RESP_DOUBLE = ',',
    RESP_BOOLEAN = '#',
    RESP_BLOB_ERROR = '!',
    RESP_VERBATIM = '=',
    RESP_BIGNUM = '(',
    RESP_MAP = '%',
    RESP_SET = '~',
    RESP_ATTRIBUTE = '|',
    RESP_PUSH = '>',
    RESP_CHUNK = ';',      /* one piece of a streamed string; an empty one ends it */
    RESP_STREAM_END = '.', /* ends a streamed aggregate */
};

struct resp_token {
    enum resp_type type;
    /* Strings (simple, error, bulk, blob error, verbatim text, big number digits,
     * chunk): borrowed from the bytes given to resp_reply_next, valid as long as they. */
    const uint8_t *data;
    size_t len;
    long long integer;  /* RESP_INTEGER's value; an aggregate's count (pairs for map and
                           attribute), -1 when streamed */
    double number;      /* RESP_DOUBLE */
    bool boolean;       /* RESP_BOOLEAN */
    bool streamed;      /* a "$?" string start or a "?" aggregate header */
    char format[4];     /* RESP_VERBATIM's format, NUL terminated ("txt") */
    char null_type;     /* RESP_NULL: '_' (RESP3), '$' or '*' (RESP2 "-1") */
    unsigned depth;     /* open aggregates around this token; 0 at top level */
    bool reply_done;    /* this token completes a top-level reply */
};

struct resp_reply_limits {
    size_t line_bytes_max;       /* simple strings, errors, numbers: one line */
    size_t bulk_bytes_max;       /* bulk strings, blob errors, verbatim, chunks */
    long long aggregate_count_max;
};

struct resp_reply_frame {
    long long left; /* elements still to come; -1 for a streamed one */
    char type;      /* the header's type byte; '$' for a streamed string */
};

struct resp_reply_parser {
    struct resp_reply_limits limits;
    unsigned depth; /* frames in use */
    struct resp_reply_frame stack[RESP_REPLY_DEPTH_MAX];
    int error;      /* sticky negative code */
    const char *error_text; /* static text saying what was wrong */
};

void resp_reply_limits_default(struct resp_reply_limits *limits);
/* limits are copied; NULL means the defaults. No memory is allocated. */
void resp_reply_parser_init(struct resp_reply_parser *p, const struct resp_reply_limits *limits);

/* Parses the token at data[0..len). Returns the bytes it took (> 0) and fills *tok, 0
 * when more bytes are needed (nothing is consumed), or a negative code (ERR_MALFORMED,
 * ERR_TOO_LARGE; sticky, see error_text). */
long resp_reply_next(struct resp_reply_parser *p, const uint8_t *data, size_t len,
                     struct resp_token *tok);

/* True between replies: no aggregate or streamed value is open. */
static inline bool resp_reply_idle(const struct resp_reply_parser *p) { return p->depth == 0; }

#endif
