/* Replies of the state machine as plain bytes.
 *
 * A struct kv_reply owns one encoded reply value. The encoding is self-contained, so a
 * reply can be cached in the session table, written into a snapshot and compared with
 * memcmp. It keeps every distinction RESP2/RESP3 needs (status vs bulk vs integer vs
 * nil vs array vs error), so src/server can translate it without knowing kv.
 *
 * Byte format of one value (integers little-endian), tag first:
 *   's' u32 len, bytes      status ("+OK")
 *   'e' u32 len, bytes      error, text without the leading '-' ("ERR syntax error")
 *   'i' i64                 integer
 *   'b' u32 len, bytes      bulk string
 *   'n'                     nil bulk ($-1 / RESP3 null)
 *   'N'                     nil array (*-1 / RESP3 null), e.g. an aborted EXEC
 *   'a' u32 count, values   array; values may be arrays again (EXEC replies)
 *   'm' u32 pairs, 2*pairs values   map (HGETALL): key, value, key, value...; RESP2
 *                           writes it as an array of 2*pairs, RESP3 as a map
 * kv_reply_valid() checks that a byte string is exactly one well-formed value.
 * Depends on base only. */
#ifndef CHORUS_KV_REPLY_H
#define CHORUS_KV_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* Nesting limit for arrays; EXEC gives depth 2, SCAN inside EXEC depth 3. */
#define KV_REPLY_DEPTH_MAX 8

enum kv_reply_type {
    KV_REPLY_STATUS = 's',
    KV_REPLY_ERROR = 'e',
    KV_REPLY_INTEGER = 'i',
    KV_REPLY_BULK = 'b',
    KV_REPLY_NIL = 'n',
    KV_REPLY_NIL_ARRAY = 'N',
    KV_REPLY_ARRAY = 'a',
    KV_REPLY_MAP = 'm',
};

struct kv_reply {
    struct buf bytes; /* owned; exactly one encoded value once filled */
};

void kv_reply_init(struct kv_reply *r);
void kv_reply_free(struct kv_reply *r);
void kv_reply_reset(struct kv_reply *r); /* empties it, keeps the memory */
/* Replaces r's contents with a copy of data (borrowed) after checking it encodes one
 * value. ERR_MALFORMED leaves r empty. */
int kv_reply_set_bytes(struct kv_reply *r, const uint8_t *data, size_t len);
bool kv_reply_valid(const uint8_t *data, size_t len);

/* Builders: each appends one value (or an array header) to r. */
void kv_reply_status(struct kv_reply *r, const char *text);
void kv_reply_error(struct kv_reply *r, const char *text); /* "ERR ..." without '-' */
void kv_reply_errorf(struct kv_reply *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void kv_reply_integer(struct kv_reply *r, int64_t v);
void kv_reply_bulk(struct kv_reply *r, const uint8_t *data, size_t len); /* data copied */
void kv_reply_nil(struct kv_reply *r);
void kv_reply_nil_array(struct kv_reply *r);
/* Writes an array header with a count to be patched: begin returns its position,
 * end sets the element count after the caller appended exactly `count` values. */
size_t kv_reply_array_begin(struct kv_reply *r);
void kv_reply_array_end(struct kv_reply *r, size_t pos, uint32_t count);
/* The same for a map; end takes the number of pairs (2 * pairs values appended). */
size_t kv_reply_map_begin(struct kv_reply *r);
void kv_reply_map_end(struct kv_reply *r, size_t pos, uint32_t pairs);
void kv_reply_append(struct kv_reply *r, const struct kv_reply *value); /* value copied */

/* Reading: one node of a pre-order walk. Strings point into the reply (borrowed while
 * the reply is unchanged). An array node is followed by its `count` element nodes, a map
 * node by 2 * `count` nodes (key, value, ...). */
struct kv_reply_item {
    enum kv_reply_type type;
    int64_t integer;    /* KV_REPLY_INTEGER */
    const uint8_t *str; /* STATUS, ERROR, BULK */
    size_t str_len;
    uint32_t count;     /* ARRAY: elements; MAP: pairs */
};

struct kv_reply_iter {
    struct buf_reader r;
};

void kv_reply_iter_init(struct kv_reply_iter *it, const struct kv_reply *r);
/* False at the end of the value (or on a malformed encoding). */
bool kv_reply_next(struct kv_reply_iter *it, struct kv_reply_item *out);
/* The type of the top-level value; KV_REPLY_NIL for an empty reply. */
enum kv_reply_type kv_reply_type_of(const struct kv_reply *r);
bool kv_reply_is_error(const struct kv_reply *r);

/* Renders a short human-readable form into out (always NUL-terminated, truncated with
 * "..." when cap is too small): OK, (nil), (integer) 5, "v", ["a","b"], {"f":"v"},
 * (error) ERR x.
 * Returns the length written. */
size_t kv_reply_format(const struct kv_reply *r, char *out, size_t cap);

#endif
