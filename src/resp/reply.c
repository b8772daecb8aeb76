/* The RESP reply parser; see reply.h for the token model and the rules it enforces.
 *
 * The only state between calls is the stack of open aggregates with the number of
 * elements each still expects. A token that completes a value pops every aggregate it
 * fills; the reply is done when the stack empties. */
#include "resp/reply.h"

#include <limits.h>
#include <string.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "resp/number.h"

void resp_reply_limits_default(struct resp_reply_limits *limits)
{
    limits->line_bytes_max = RESP_REPLY_LINE_BYTES_MAX_DEFAULT;
    limits->bulk_bytes_max = RESP_REPLY_BULK_BYTES_MAX_DEFAULT;
    limits->aggregate_count_max = RESP_REPLY_AGGREGATE_COUNT_MAX_DEFAULT;
}

void resp_reply_parser_init(struct resp_reply_parser *p, const struct resp_reply_limits *limits)
{
    memset(p, 0, sizeof *p);
    if (limits != NULL) {
        p->limits = *limits;
    } else {
        resp_reply_limits_default(&p->limits);
    }
    ASSERT(p->limits.aggregate_count_max > 0 && p->limits.aggregate_count_max <= LLONG_MAX / 4);
}

static long fail(struct resp_reply_parser *p, int code, const char *text)
{
    p->error = code;
    p->error_text = text;
    return code;
}

static struct resp_reply_frame *top(struct resp_reply_parser *p)
{
    return p->depth > 0 ? &p->stack[p->depth - 1] : NULL;
}

/* A value ended at the current level: count it in the enclosing aggregates. */
static void complete_value(struct resp_reply_parser *p, struct resp_token *tok)
{
    while (p->depth > 0) {
        struct resp_reply_frame *f = top(p);
        if (f->left < 0) {
            return; /* a streamed aggregate ends only at "." */
        }
        ASSERT(f->left > 0);
        f->left--;
        if (f->left > 0) {
            return;
        }
        p->depth--;
        if (f->type == '|') {
            return; /* an attribute is not a value: the one it annotates follows */
        }
    }
    tok->reply_done = true;
}

static long push_frame(struct resp_reply_parser *p, char type, long long left)
{
    if (p->depth == RESP_REPLY_DEPTH_MAX) {
        return fail(p, ERR_TOO_LARGE, "reply nested too deep");
    }
    p->stack[p->depth].type = type;
    p->stack[p->depth].left = left;
    p->depth++;
    return 0;
}

/* Ends a streamed value (after ";0" or "."): it counts as one value of its parent. */
static void end_stream(struct resp_reply_parser *p, struct resp_token *tok)
{
    ASSERT(p->depth > 0 && top(p)->left < 0);
    p->depth--;
    complete_value(p, tok);
}

static long parse_line_scalar(struct resp_reply_parser *p, char type, const uint8_t *line,
                              size_t len, struct resp_token *tok)
{
    tok->data = line;
    tok->len = len;
    switch (type) {
    case RESP_SIMPLE:
    case RESP_ERROR:
        /* The line ended at the first CR; a LF may not hide inside either. */
        return memchr(line, '\n', len) == NULL ? 0 : fail(p, ERR_MALFORMED, "LF in a line");
    case RESP_INTEGER:
        /* The RESP3 specification allows an explicit '+'; Redis never writes one. */
        if (len > 1 && line[0] == '+' && line[1] != '-') {
            line++;
            len--;
        }
        return resp_parse_ll(line, len, &tok->integer) ? 0 : fail(p, ERR_MALFORMED, "bad integer");
    case RESP_NULL:
        tok->null_type = '_';
        return len == 0 ? 0 : fail(p, ERR_MALFORMED, "bad null");
    case RESP_DOUBLE:
        return resp_parse_double(line, len, &tok->number) ? 0 : fail(p, ERR_MALFORMED, "bad double");
    case RESP_BOOLEAN:
        if (len != 1 || (line[0] != 't' && line[0] != 'f')) {
            return fail(p, ERR_MALFORMED, "bad boolean");
        }
        tok->boolean = line[0] == 't';
        return 0;
    case RESP_BIGNUM:
        for (size_t i = 0; i < len; i++) {
            bool sign = i == 0 && (line[i] == '-' || line[i] == '+') && len > 1;
            if (!((line[i] >= '0' && line[i] <= '9') || sign)) {
                return fail(p, ERR_MALFORMED, "bad big number");
            }
        }
        return len > 0 ? 0 : fail(p, ERR_MALFORMED, "bad big number");
    default:
        UNREACHABLE();
    }
}

/* "*n", "%n", "~n", "|n", ">n", or "?" for streamed; "*-1" is RESP2's null array. */
static long parse_aggregate(struct resp_reply_parser *p, char type, const uint8_t *line,
                            size_t len, struct resp_token *tok)
{
    if (len == 1 && line[0] == '?') {
        tok->streamed = true;
        tok->integer = -1;
        return push_frame(p, type, -1);
    }
    long long count = 0;
    if (!resp_parse_ll(line, len, &count) || count < -1) {
        return fail(p, ERR_MALFORMED, "bad aggregate count");
    }
    if (count == -1) {
        if (type != RESP_ARRAY) {
            return fail(p, ERR_MALFORMED, "bad aggregate count");
        }
        tok->type = RESP_NULL;
        tok->null_type = '*';
        complete_value(p, tok);
        return 0;
    }
    if (count > p->limits.aggregate_count_max) {
        return fail(p, ERR_TOO_LARGE, "aggregate too large");
    }
    tok->integer = count;
    long long elements = (type == RESP_MAP || type == RESP_ATTRIBUTE) ? count * 2 : count;
    if (elements == 0) {
        if (type != RESP_ATTRIBUTE) {
            complete_value(p, tok);
        }
        return 0;
    }
    return push_frame(p, type, elements);
}

/* "$n", "!n", "=n", ";n" and their bodies; "$?" opens a streamed string, "$-1" is RESP2's
 * null bulk, ";0" ends a streamed string. Returns the bytes taken, 0 for more, or < 0. */
static long parse_blob(struct resp_reply_parser *p, char type, const uint8_t *data, size_t len,
                       size_t header_len, struct resp_token *tok)
{
    const uint8_t *line = data + 1;
    size_t line_len = header_len - 3;
    if (type == RESP_BULK && line_len == 1 && line[0] == '?') {
        tok->streamed = true;
        tok->integer = -1;
        long rc = push_frame(p, '$', -1);
        return rc < 0 ? rc : (long)header_len;
    }
    long long size = 0;
    if (!resp_parse_ll(line, line_len, &size) || size < -1 || (size == -1 && type != RESP_BULK)) {
        return fail(p, ERR_MALFORMED, "bad bulk length");
    }
    if (size == -1) {
        tok->type = RESP_NULL;
        tok->null_type = '$';
        complete_value(p, tok);
        return (long)header_len;
    }
    if ((unsigned long long)size > p->limits.bulk_bytes_max) {
        return fail(p, ERR_TOO_LARGE, "bulk too large");
    }
    if (type == RESP_CHUNK && size == 0) {
        end_stream(p, tok);
        return (long)header_len;
    }
    if (len - header_len < (size_t)size + 2) {
        return 0;
    }
    const uint8_t *body = data + header_len;
    if (body[size] != '\r' || body[size + 1] != '\n') {
        return fail(p, ERR_MALFORMED, "bulk not followed by CRLF");
    }
    tok->data = body;
    tok->len = (size_t)size;
    if (type == RESP_VERBATIM) {
        if (size < 4 || body[3] != ':') {
            return fail(p, ERR_MALFORMED, "bad verbatim string");
        }
        memcpy(tok->format, body, 3);
        tok->data = body + 4;
        tok->len = (size_t)size - 4;
    }
    if (type != RESP_CHUNK) {
        complete_value(p, tok);
    }
    return (long)(header_len + (size_t)size + 2);
}

/* Checks that the type byte may appear here: chunks only inside a streamed string, and
 * only chunks there; "." only inside a streamed aggregate. */
static long check_placement(struct resp_reply_parser *p, char type)
{
    struct resp_reply_frame *f = top(p);
    bool in_string = f != NULL && f->type == '$';
    bool in_stream = f != NULL && f->left < 0 && f->type != '$';
    if (in_string != (type == RESP_CHUNK)) {
        return fail(p, ERR_MALFORMED, "chunk out of place");
    }
    if (type == RESP_STREAM_END && !in_stream) {
        return fail(p, ERR_MALFORMED, "stream end out of place");
    }
    return 0;
}

long resp_reply_next(struct resp_reply_parser *p, const uint8_t *data, size_t len,
                     struct resp_token *tok)
{
    if (p->error != 0) {
        return p->error;
    }
    if (len == 0) {
        return 0;
    }
    memset(tok, 0, sizeof *tok);
    char type = (char)data[0];
    tok->type = (enum resp_type)type;
    tok->depth = p->depth;
    long rc = check_placement(p, type);
    if (rc < 0) {
        return rc;
    }
    size_t scan = MIN(len - 1, p->limits.line_bytes_max + 1);
    const uint8_t *cr = memchr(data + 1, '\r', scan);
    if (cr == NULL) {
        return len - 1 > p->limits.line_bytes_max ? fail(p, ERR_TOO_LARGE, "line too long") : 0;
    }
    size_t line_len = (size_t)(cr - (data + 1));
    if (line_len > p->limits.line_bytes_max) {
        return fail(p, ERR_TOO_LARGE, "line too long");
    }
    size_t header_len = line_len + 3;
    if (header_len > len) {
        return 0;
    }
    if (cr[1] != '\n') {
        return fail(p, ERR_MALFORMED, "line not ended by CRLF");
    }
    switch (type) {
    case RESP_SIMPLE: case RESP_ERROR: case RESP_INTEGER: case RESP_NULL:
    case RESP_DOUBLE: case RESP_BOOLEAN: case RESP_BIGNUM:
        rc = parse_line_scalar(p, type, data + 1, line_len, tok);
        if (rc == 0) {
            complete_value(p, tok);
        }
        return rc < 0 ? rc : (long)header_len;
    case RESP_BULK: case RESP_BLOB_ERROR: case RESP_VERBATIM: case RESP_CHUNK:
        return parse_blob(p, type, data, len, header_len, tok);
    case RESP_ARRAY: case RESP_MAP: case RESP_SET: case RESP_ATTRIBUTE: case RESP_PUSH:
        rc = parse_aggregate(p, type, data + 1, line_len, tok);
        return rc < 0 ? rc : (long)header_len;
    case RESP_STREAM_END:
        if (line_len != 0) {
            return fail(p, ERR_MALFORMED, "bad stream end");
        }
        end_stream(p, tok);
        return (long)header_len;
    default:
        return fail(p, ERR_MALFORMED, "unknown type byte");
    }
}
