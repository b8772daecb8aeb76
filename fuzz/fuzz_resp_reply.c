/* libFuzzer target: the RESP reply parser must survive any bytes and give the same
 * tokens whether the input arrives whole or cut at a fuzzer-chosen point. The tokens,
 * written back (through the reply writer where it has the type), must parse again to
 * the same tokens: parse -> write -> parse is a fixed point. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/assertions.h"
#include "base/buf.h"
#include "resp/number.h"
#include "resp/reply.h"
#include "resp/writer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put_raw(struct buf *out, char type, const uint8_t *body, size_t len, bool counted)
{
    char head[32];
    int n = counted ? snprintf(head, sizeof head, "%c%zu\r\n", type, len)
                    : snprintf(head, sizeof head, "%c", type);
    buf_put(out, head, (size_t)n);
    buf_put(out, body, len);
    buf_put(out, "\r\n", 2);
}

/* Writes one token in its canonical RESP3 form. */
static void write_token(struct resp_writer *w, const struct resp_token *t)
{
    char text[64];
    switch (t->type) {
    case RESP_SIMPLE: resp_write_simple(w, (const char *)t->data, t->len); break;
    case RESP_ERROR: put_raw(w->out, '-', t->data, t->len, false); break;
    case RESP_INTEGER: resp_write_integer(w, t->integer); break;
    case RESP_DOUBLE: resp_write_double(w, t->number); break;
    case RESP_BOOLEAN: resp_write_bool(w, t->boolean); break;
    case RESP_BIGNUM: resp_write_bignum(w, (const char *)t->data, t->len); break;
    case RESP_BLOB_ERROR: put_raw(w->out, '!', t->data, t->len, true); break;
    case RESP_CHUNK:
        if (t->len == 0) {
            buf_put(w->out, ";0\r\n", 4); /* the end of a streamed string has no body */
        } else {
            put_raw(w->out, ';', t->data, t->len, true);
        }
        break;
    case RESP_STREAM_END: buf_put(w->out, ".\r\n", 3); break;
    case RESP_NULL:
        if (t->null_type == '_') {
            resp_write_null(w);
        } else {
            buf_put(w->out, t->null_type == '$' ? "$-1\r\n" : "*-1\r\n", 5);
        }
        break;
    case RESP_VERBATIM: {
        int n = snprintf(text, sizeof text, "=%zu\r\n", t->len + 4);
        buf_put(w->out, text, (size_t)n);
        buf_put(w->out, t->format, 3);
        put_raw(w->out, ':', t->data, t->len, false);
        break;
    }
    case RESP_BULK:
        if (t->streamed) {
            buf_put(w->out, "$?\r\n", 4);
        } else {
            resp_write_bulk(w, t->data, t->len);
        }
        break;
    default: {
        int n = t->streamed ? snprintf(text, sizeof text, "%c?\r\n", t->type)
                            : snprintf(text, sizeof text, "%c%lld\r\n", t->type, t->integer);
        buf_put(w->out, text, (size_t)n);
        break;
    }
    }
}

/* Parses data cut at `cut`, keeping unconsumed bytes as a client does; writes the
 * tokens into out and returns the final code (0 or negative). */
static long run(const uint8_t *data, size_t size, size_t cut, struct buf *out)
{
    struct resp_reply_limits l;
    resp_reply_limits_default(&l);
    l.line_bytes_max = 256;
    l.bulk_bytes_max = 1024;
    l.aggregate_count_max = 1000;
    struct resp_reply_parser p;
    resp_reply_parser_init(&p, &l);
    struct resp_writer w;
    resp_writer_init(&w, out, RESP_PROTO_3);
    size_t start = 0;
    long rc = 0;
    for (size_t avail = cut; rc >= 0; avail = size) {
        struct resp_token t;
        while ((rc = resp_reply_next(&p, data + start, avail - start, &t)) > 0) {
            ASSERT(start + (size_t)rc <= avail);
            ASSERT(t.depth <= RESP_REPLY_DEPTH_MAX);
            write_token(&w, &t);
            start += (size_t)rc;
        }
        if (avail == size) {
            break;
        }
    }
    ASSERT(!out->failed);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    size_t cut = (size_t)data[0] * size / 256;
    data++;
    size--;
    cut = MIN(cut, size);
    struct buf whole;
    struct buf split;
    struct buf again;
    buf_init(&whole, 0);
    buf_init(&split, 0);
    buf_init(&again, 0);
    long rc_whole = run(data, size, size, &whole);
    long rc_split = run(data, size, cut, &split);
    ASSERT(rc_whole == rc_split);
    ASSERT(whole.len == split.len && (whole.len == 0 || memcmp(whole.data, split.data, whole.len) == 0));
    /* What was written is canonical: parsing and writing it again changes nothing. */
    if (whole.len > 0) {
        long rc_again = run(whole.data, whole.len, whole.len, &again);
        ASSERT(rc_again == 0);
        ASSERT(again.len == whole.len && memcmp(again.data, whole.data, whole.len) == 0);
    }
    buf_free(&whole);
    buf_free(&split);
    buf_free(&again);
    return 0;
}
