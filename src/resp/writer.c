/* The RESP reply and request writer; see writer.h for the RESP2 fallbacks. */
#include "resp/writer.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "resp/number.h"

void resp_writer_init(struct resp_writer *w, struct buf *out, int proto)
{
    ASSERT(proto == RESP_PROTO_2 || proto == RESP_PROTO_3);
    w->out = out;
    w->proto = proto;
}

int resp_writer_status(const struct resp_writer *w) { return w->out->failed ? ERR_NOMEM : 0; }

/* Writes "<type><v>\r\n", the shape of every header and of integers. */
static int put_line_ll(struct buf *out, char type, long long v)
{
    char line[1 + RESP_LL_TEXT_BYTES_MAX + 2];
    size_t n = 0;
    line[n++] = type;
    n += resp_format_ll(line + n, v);
    line[n++] = '\r';
    line[n++] = '\n';
    buf_put(out, line, n);
    return out->failed ? ERR_NOMEM : 0;
}

/* Writes "<type><text>\r\n". */
static int put_line(struct buf *out, char type, const void *text, size_t len)
{
    uint8_t *p = len <= SIZE_MAX - 3 ? buf_extend(out, len + 3) : NULL;
    if (p == NULL) {
        out->failed = true;
        return ERR_NOMEM;
    }
    p[0] = (uint8_t)type;
    if (len > 0) {
        memcpy(p + 1, text, len);
    }
    p[len + 1] = '\r';
    p[len + 2] = '\n';
    return 0;
}

static long long count_ll(size_t count)
{
    ASSERT(count <= (size_t)LLONG_MAX / 2);
    return (long long)count;
}

/* A simple string is short ("OK", "QUEUED"): a loop, not two memchr calls. */
static bool has_line_break(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\r' || text[i] == '\n') {
            return true;
        }
    }
    return false;
}

int resp_write_simple(struct resp_writer *w, const char *text, size_t len)
{
    ASSERT(!has_line_break(text, len));
    return put_line(w->out, '+', text, len);
}

int resp_write_ok(struct resp_writer *w) { return resp_write_simple(w, "OK", 2); }

int resp_write_error(struct resp_writer *w, const char *text)
{
    size_t len = strlen(text);
    buf_put_u8(w->out, '-');
    uint8_t *p = buf_extend(w->out, len);
    if (p != NULL) {
        for (size_t i = 0; i < len; i++) {
            p[i] = (text[i] == '\r' || text[i] == '\n') ? ' ' : (uint8_t)text[i];
        }
    }
    buf_put(w->out, "\r\n", 2);
    return resp_writer_status(w);
}

int resp_write_errorf(struct resp_writer *w, const char *fmt, ...)
{
    char text[RESP_ERROR_FORMAT_BYTES_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return resp_write_error(w, text);
}

int resp_write_integer(struct resp_writer *w, long long v) { return put_line_ll(w->out, ':', v); }

int resp_write_bulk(struct resp_writer *w, const void *data, size_t len)
{
    put_line_ll(w->out, '$', count_ll(len));
    buf_put(w->out, data, len);
    buf_put(w->out, "\r\n", 2);
    return resp_writer_status(w);
}

int resp_write_bulk_cstr(struct resp_writer *w, const char *s) { return resp_write_bulk(w, s, strlen(s)); }

int resp_write_null(struct resp_writer *w)
{
    if (w->proto == RESP_PROTO_3) {
        return put_line(w->out, '_', "", 0);
    }
    return put_line_ll(w->out, '$', -1);
}

int resp_write_null_array(struct resp_writer *w)
{
    if (w->proto == RESP_PROTO_3) {
        return put_line(w->out, '_', "", 0);
    }
    return put_line_ll(w->out, '*', -1);
}

int resp_write_array_header(struct resp_writer *w, size_t count)
{
    return put_line_ll(w->out, '*', count_ll(count));
}

int resp_write_map_header(struct resp_writer *w, size_t pairs_count)
{
    if (w->proto == RESP_PROTO_3) {
        return put_line_ll(w->out, '%', count_ll(pairs_count));
    }
    return put_line_ll(w->out, '*', count_ll(pairs_count) * 2);
}

int resp_write_set_header(struct resp_writer *w, size_t count)
{
    return put_line_ll(w->out, w->proto == RESP_PROTO_3 ? '~' : '*', count_ll(count));
}

int resp_write_push_header(struct resp_writer *w, size_t count)
{
    return put_line_ll(w->out, w->proto == RESP_PROTO_3 ? '>' : '*', count_ll(count));
}

int resp_write_double(struct resp_writer *w, double d)
{
    char text[RESP_DOUBLE_TEXT_BYTES_MAX + 1];
    size_t len = resp_format_double(text, d);
    if (w->proto == RESP_PROTO_3) {
        return put_line(w->out, ',', text, len);
    }
    return resp_write_bulk(w, text, len);
}

int resp_write_bool(struct resp_writer *w, bool v)
{
    if (w->proto == RESP_PROTO_3) {
        return put_line(w->out, '#', v ? "t" : "f", 1);
    }
    return put_line_ll(w->out, ':', v ? 1 : 0);
}

int resp_write_verbatim(struct resp_writer *w, const char *format, const void *data, size_t len)
{
    ASSERT(strlen(format) == 3);
    if (w->proto != RESP_PROTO_3) {
        return resp_write_bulk(w, data, len);
    }
    put_line_ll(w->out, '=', count_ll(len) + 4);
    buf_put(w->out, format, 3);
    buf_put_u8(w->out, ':');
    buf_put(w->out, data, len);
    buf_put(w->out, "\r\n", 2);
    return resp_writer_status(w);
}

int resp_write_bignum(struct resp_writer *w, const char *digits, size_t len)
{
    ASSERT(len > 0);
    for (size_t i = 0; i < len; i++) {
        ASSERT((digits[i] >= '0' && digits[i] <= '9') || (i == 0 && (digits[i] == '-' || digits[i] == '+')));
    }
    if (w->proto != RESP_PROTO_3) {
        return resp_write_bulk(w, digits, len);
    }
    return put_line(w->out, '(', digits, len);
}

int resp_write_bulk_array(struct resp_writer *w, size_t count, const struct resp_arg *items)
{
    resp_write_array_header(w, count);
    for (size_t i = 0; i < count; i++) {
        if (items[i].data == NULL) {
            resp_write_null(w);
        } else {
            resp_write_bulk(w, items[i].data, items[i].len);
        }
    }
    return resp_writer_status(w);
}

int resp_write_fields(struct resp_writer *w, size_t count, const struct resp_field *fields)
{
    resp_write_map_header(w, count);
    for (size_t i = 0; i < count; i++) {
        resp_write_bulk_cstr(w, fields[i].key);
        if (fields[i].text != NULL) {
            resp_write_bulk_cstr(w, fields[i].text);
        } else {
            resp_write_integer(w, fields[i].number);
        }
    }
    return resp_writer_status(w);
}

int resp_write_request(struct buf *out, size_t argc, const struct resp_arg *argv)
{
    struct resp_writer w;
    resp_writer_init(&w, out, RESP_PROTO_2);
    resp_write_array_header(&w, argc);
    for (size_t i = 0; i < argc; i++) {
        resp_write_bulk(&w, argv[i].data, argv[i].len);
    }
    return resp_writer_status(&w);
}
