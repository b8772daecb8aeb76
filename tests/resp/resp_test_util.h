/* Helpers shared by the RESP tests: run the request parser over an input fed in pieces
 * and render what came out as one string, so that runs can be compared. */
#ifndef CHORUS_TESTS_RESP_UTIL_H
#define CHORUS_TESTS_RESP_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assertions.h"
#include "base/buf.h"
#include "resp/request.h"

/* Appends s[0..n) with non-printable bytes as \xHH. */
static inline void render_bytes(struct buf *out, const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\') {
            buf_put_u8(out, s[i]);
        } else {
            char hex[8];
            snprintf(hex, sizeof hex, "\\x%02x", s[i]);
            buf_put(out, hex, 4);
        }
    }
}

/* Drains every ready command into out as "[arg|arg]", then "!error" on failure. */
static inline int drain_commands(struct resp_parser *p, struct buf *out)
{
    struct resp_command cmd;
    int rc;
    while ((rc = resp_parser_next(p, &cmd)) == 1) {
        buf_put_u8(out, '[');
        for (size_t i = 0; i < cmd.argc; i++) {
            if (i > 0) {
                buf_put_u8(out, '|');
            }
            render_bytes(out, cmd.argv[i].data, cmd.argv[i].len);
        }
        buf_put_u8(out, ']');
    }
    return rc;
}

/* Parses in[0..n) fed in pieces of `piece` bytes (0: whole) and returns the rendering,
 * a malloc'd NUL-terminated string. */
static inline char *parse_render(const void *in, size_t n, size_t piece,
                                 const struct resp_limits *limits)
{
    struct resp_parser p;
    struct buf out;
    buf_init(&out, 0);
    if (resp_parser_init(&p, limits) != 0) {
        abort();
    }
    const uint8_t *bytes = in;
    size_t step = piece == 0 ? (n == 0 ? 1 : n) : piece;
    int rc = 0;
    for (size_t off = 0; off < n && rc >= 0; off += step) {
        size_t len = MIN(step, n - off);
        rc = resp_parser_feed(&p, bytes + off, len);
        if (rc == 0) {
            rc = drain_commands(&p, &out);
        }
    }
    if (rc < 0) {
        buf_put_u8(&out, '!');
        buf_put(&out, resp_parser_error(&p), strlen(resp_parser_error(&p)));
    }
    buf_put_u8(&out, 0);
    resp_parser_free(&p);
    size_t taken_len = 0;
    return (char *)buf_take(&out, &taken_len);
}

#endif

#include "resp/reply.h"

/* Appends one reply token as text: "+OK", ":1", "$hello", "_$" (a RESP2 null bulk),
 * "*2" (a header), "*?" (streamed), ",1.5", "#t", "=txt:..."; then " /" when the token
 * completes a top-level reply. */
static inline void render_token(struct buf *out, const struct resp_token *t)
{
    char tmp[64];
    int n = 0;
    switch (t->type) {
    case RESP_INTEGER: n = snprintf(tmp, sizeof tmp, ":%lld", t->integer); break;
    case RESP_NULL: n = snprintf(tmp, sizeof tmp, "_%c", t->null_type); break;
    case RESP_DOUBLE: n = snprintf(tmp, sizeof tmp, ",%.17g", t->number); break;
    case RESP_BOOLEAN: n = snprintf(tmp, sizeof tmp, "#%c", t->boolean ? 't' : 'f'); break;
    case RESP_VERBATIM: n = snprintf(tmp, sizeof tmp, "=%s:", t->format); break;
    case RESP_STREAM_END: n = snprintf(tmp, sizeof tmp, "."); break;
    case RESP_ARRAY: case RESP_MAP: case RESP_SET: case RESP_ATTRIBUTE: case RESP_PUSH:
        n = t->streamed ? snprintf(tmp, sizeof tmp, "%c?", t->type)
                        : snprintf(tmp, sizeof tmp, "%c%lld", t->type, t->integer);
        break;
    default:
        n = snprintf(tmp, sizeof tmp, "%c%s", t->type, t->streamed ? "?" : "");
        break;
    }
    buf_put(out, tmp, (size_t)n);
    if (t->type == RESP_SIMPLE || t->type == RESP_ERROR || t->type == RESP_BIGNUM ||
        t->type == RESP_VERBATIM || t->type == RESP_CHUNK || t->type == RESP_BLOB_ERROR ||
        (t->type == RESP_BULK && !t->streamed)) {
        render_bytes(out, t->data, t->len);
    }
    if (t->reply_done) {
        buf_put(out, " /", 2);
    }
}

/* Parses in[0..n) as replies fed in pieces of `piece` bytes (0: whole), keeping the
 * unconsumed bytes as a client would, and returns the rendering (malloc'd), with
 * " !" at the end on an error and " ..." when bytes are left incomplete. */
static inline char *reply_render(const void *in, size_t n, size_t piece)
{
    struct resp_reply_parser p;
    resp_reply_parser_init(&p, NULL);
    struct buf pending;
    struct buf out;
    buf_init(&pending, 0);
    buf_init(&out, 0);
    size_t step = piece == 0 ? (n == 0 ? 1 : n) : piece;
    size_t start = 0; /* consumed prefix of pending */
    long rc = 0;
    for (size_t off = 0; off < n && rc >= 0; off += step) {
        buf_put(&pending, (const uint8_t *)in + off, MIN(step, n - off));
        struct resp_token tok;
        while ((rc = resp_reply_next(&p, pending.data + start, pending.len - start, &tok)) > 0) {
            if (out.len > 0) {
                buf_put_u8(&out, ' ');
            }
            render_token(&out, &tok);
            start += (size_t)rc;
        }
    }
    if (rc < 0) {
        buf_put(&out, " !", 2);
    } else if (start != pending.len || !resp_reply_idle(&p)) {
        buf_put(&out, " ...", 4);
    }
    buf_put_u8(&out, 0);
    buf_free(&pending);
    size_t len = 0;
    return (char *)buf_take(&out, &len);
}
