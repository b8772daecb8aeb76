/* The RESP reply writer (server side) and request writer (client side).
 *
 * A struct resp_writer appends replies to a caller-owned struct buf in the protocol the
 * connection speaks: RESP2 by default, RESP3 after "HELLO 3". Types RESP2 lacks are
 * written as the closest RESP2 form, as Redis does:
 *   null            RESP3 "_\r\n"          RESP2 "$-1\r\n" (or "*-1\r\n" for a null array)
 *   map of n pairs  RESP3 "%n\r\n"         RESP2 "*2n\r\n" (keys and values flattened)
 *   set             RESP3 "~n\r\n"         RESP2 "*n\r\n"
 *   push            RESP3 ">n\r\n"         RESP2 "*n\r\n"
 *   double          RESP3 ",1.5\r\n"       RESP2 "$3\r\n1.5\r\n"
 *   boolean         RESP3 "#t\r\n"         RESP2 ":1\r\n"
 *   verbatim        RESP3 "=n\r\ntxt:..."  RESP2 a bulk string of the text alone
 *   big number      RESP3 "(123...\r\n"    RESP2 a bulk string of the digits
 * An aggregate header is followed by its elements, written by the caller with further
 * calls. Simple strings and errors may not contain CR or LF: error texts have them
 * turned into spaces (as Redis does); simple strings must not have them (assertion).
 *
 * Every function returns 0, or ERR_NOMEM once the buffer failed to grow (struct buf is
 * sticky: a reply may be written whole and checked once). Nothing is kept of the
 * arguments: bytes are copied into the buffer. Pure; depends on base only. */
#ifndef CHORUS_RESP_WRITER_H
#define CHORUS_RESP_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "resp/request.h"

#define RESP_PROTO_2 2
#define RESP_PROTO_3 3
/* An error text longer than this is cut (resp_write_errorf). */
#define RESP_ERROR_FORMAT_BYTES_MAX 512

struct resp_writer {
    struct buf *out; /* borrowed: the connection's output buffer */
    int proto;       /* RESP_PROTO_2 or RESP_PROTO_3 */
};

void resp_writer_init(struct resp_writer *w, struct buf *out, int proto);
/* 0, or ERR_NOMEM when some write since the buffer's last reset failed. */
int resp_writer_status(const struct resp_writer *w);

int resp_write_simple(struct resp_writer *w, const char *text, size_t len);
int resp_write_ok(struct resp_writer *w);
/* text is "ERR something" or "WRONGTYPE ...": the leading '-' and CRLF are added. */
int resp_write_error(struct resp_writer *w, const char *text);
int resp_write_errorf(struct resp_writer *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int resp_write_integer(struct resp_writer *w, long long v);
int resp_write_bulk(struct resp_writer *w, const void *data, size_t len);
int resp_write_bulk_cstr(struct resp_writer *w, const char *s);
int resp_write_null(struct resp_writer *w);
int resp_write_null_array(struct resp_writer *w);
int resp_write_array_header(struct resp_writer *w, size_t count);
int resp_write_map_header(struct resp_writer *w, size_t pairs_count);
int resp_write_set_header(struct resp_writer *w, size_t count);
int resp_write_push_header(struct resp_writer *w, size_t count);
int resp_write_double(struct resp_writer *w, double d);
int resp_write_bool(struct resp_writer *w, bool v);
/* format is the three-letter kind, "txt" or "mkd". */
int resp_write_verbatim(struct resp_writer *w, const char *format, const void *data, size_t len);
/* digits: an optional sign and decimal digits. */
int resp_write_bignum(struct resp_writer *w, const char *digits, size_t len);

/* Whole replies for the common cases. */
/* An array of bulk strings; a NULL element pointer is written as a null (MGET). */
int resp_write_bulk_array(struct resp_writer *w, size_t count, const struct resp_arg *items);
/* The HELLO reply's shape: a map of string keys to bulk string or integer values. */
struct resp_field {
    const char *key;
    const char *text; /* written as a bulk string when not NULL */
    long long number; /* written as an integer when text is NULL */
};
int resp_write_fields(struct resp_writer *w, size_t count, const struct resp_field *fields);

/* Client side: appends one command as a multibulk request ("*argc\r\n$len\r\n...").
 * Returns 0 or ERR_NOMEM. */
int resp_write_request(struct buf *out, size_t argc, const struct resp_arg *argv);

#endif
