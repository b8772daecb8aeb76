/* pb_lite: the protobuf wire format by hand, for the few messages on the hot path.
 *
 * protobuf-c's generic, descriptor-driven pack and unpack cost about 1,400 instructions
 * per log entry on each replica (an AppendEntries decoded, a Command decoded to apply
 * it); these helpers read and write the same bytes directly, and a decoder built on them
 * points into the message instead of copying. They are only a faster path: every
 * message they write is valid protobuf that protoc-c's code decodes the same way, and
 * every decoder built on them must skip fields it does not know (wire types 0, 1, 2
 * and 5) as protobuf does, falling back to protoc-c's code for whatever it does not
 * handle. Tests compare both ways (tests/server/test_raft_codec.c, tests/kv).
 *
 * Reading never goes past the end: a truncated or malformed varint or length sets
 * r->failed, and every later read returns 0. Depends on base only. */
#ifndef CHORUS_WIRE_PB_LITE_H
#define CHORUS_WIRE_PB_LITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/assertions.h"
#include "base/buf.h"

enum pb_wire_type { PB_VARINT = 0, PB_FIXED64 = 1, PB_BYTES = 2, PB_FIXED32 = 5 };

struct pb_reader {
    const uint8_t *p;
    const uint8_t *end;
    bool failed;
};

static inline struct pb_reader pb_reader_make(const uint8_t *data, size_t len)
{
    return (struct pb_reader){.p = data, .end = data + len, .failed = false};
}

static inline bool pb_reader_more(const struct pb_reader *r)
{
    return !r->failed && r->p < r->end;
}

static inline uint64_t pb_read_varint(struct pb_reader *r)
{
    if (r->p < r->end && *r->p < 0x80) {
        return *r->p++; /* one byte: every key here, most lengths and small values */
    }
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64 && r->p < r->end; shift += 7) {
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            return v;
        }
    }
    r->failed = true;
    return 0;
}

/* A field's key: its number into *field, its wire type returned. */
static inline uint32_t pb_read_key(struct pb_reader *r, uint32_t *field)
{
    uint64_t key = pb_read_varint(r);
    *field = (uint32_t)(key >> 3);
    if (key >> 3 == 0 || key >> 3 > UINT32_MAX >> 3) {
        r->failed = true;
    }
    return (uint32_t)(key & 7);
}

/* A length-delimited payload (bytes or a sub-message), pointing into the message. */
static inline const uint8_t *pb_read_bytes(struct pb_reader *r, size_t *len)
{
    uint64_t n = pb_read_varint(r);
    if (r->failed || n > (uint64_t)(r->end - r->p)) {
        r->failed = true;
        *len = 0;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    *len = (size_t)n;
    return p;
}

/* Skips the value of a field of an unknown number. */
static inline void pb_skip(struct pb_reader *r, uint32_t wire_type)
{
    size_t len = 0;
    size_t fixed = wire_type == PB_FIXED64 ? 8 : wire_type == PB_FIXED32 ? 4 : 0;
    if (wire_type == PB_VARINT) {
        (void)pb_read_varint(r);
    } else if (wire_type == PB_BYTES) {
        (void)pb_read_bytes(r, &len);
    } else if (fixed != 0 && (size_t)(r->end - r->p) >= fixed) {
        r->p += fixed;
    } else {
        r->failed = true; /* groups (3, 4) and reserved types are not protobuf 3 */
    }
}

static inline size_t pb_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Writing needs no per-field bounds checks or buffer growth: either a counting pass
 * (p NULL) sizes the message and the same code then writes into space reserved once
 * (pb_encode), or the caller knows a bound on the size and the message is written in
 * one pass into that much reserved space (pb_encode_bounded). */
struct pb_writer {
    uint8_t *p;   /* NULL: count only */
    size_t size;  /* bytes counted or written */
};

static inline void pb_put_varint(struct pb_writer *w, uint64_t v)
{
    if (w->p == NULL) {
        w->size += pb_varint_size(v);
        return;
    }
    uint8_t *start = w->p + w->size;
    uint8_t *p = start;
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    w->size += (size_t)(p - start);
}

static inline void pb_put_raw(struct pb_writer *w, const uint8_t *data, size_t len)
{
    if (w->p != NULL && len != 0) {
        memcpy(w->p + w->size, data, len);
    }
    w->size += len;
}

/* The most bytes a varint field (key and value) takes, for pb_encode_bounded's callers;
 * a field number below 2^11 has a key of at most 2 bytes. */
#define PB_VARINT_FIELD_BYTES_MAX (2 + 10)
/* The most bytes the key and length of a length-delimited field take (same numbers). */
#define PB_BYTES_HEADER_BYTES_MAX (2 + 10)

/* A varint field, left out when zero (protobuf 3 scalars). */
static inline void pb_put_uint(struct pb_writer *w, uint32_t field, uint64_t v)
{
    if (v != 0) {
        pb_put_varint(w, (uint64_t)field << 3 | PB_VARINT);
        pb_put_varint(w, v);
    }
}

static inline size_t pb_uint_size(uint32_t field, uint64_t v)
{
    return v != 0 ? pb_varint_size((uint64_t)field << 3) + pb_varint_size(v) : 0;
}

/* A length-delimited field's key and length; the caller writes the len bytes. */
static inline void pb_put_bytes_header(struct pb_writer *w, uint32_t field, size_t len)
{
    pb_put_varint(w, (uint64_t)field << 3 | PB_BYTES);
    pb_put_varint(w, len);
}

static inline size_t pb_bytes_size(uint32_t field, size_t len)
{
    return pb_varint_size((uint64_t)field << 3) + pb_varint_size(len) + len;
}

/* Appends msg to out: put(msg, w) runs once to count and once to write. 0, or -1 when
 * out cannot grow. */
static inline int pb_encode(struct buf *out, void (*put)(const void *msg, struct pb_writer *w),
                            const void *msg)
{
    struct pb_writer w = {.p = NULL, .size = 0};
    put(msg, &w);
    size_t size = w.size;
    w = (struct pb_writer){.p = buf_extend(out, size), .size = 0};
    if (w.p == NULL) {
        return -1;
    }
    put(msg, &w);
    ASSERT(w.size == size);
    return 0;
}

/* Appends msg to out in one pass: put(msg, w) writes into bound_bytes reserved first,
 * which must be at least the message's size (asserted). 0, or -1 when out cannot grow. */
static inline int pb_encode_bounded(struct buf *out,
                                    void (*put)(const void *msg, struct pb_writer *w),
                                    const void *msg, size_t bound_bytes)
{
    if (buf_reserve(out, bound_bytes) != 0) {
        return -1;
    }
    struct pb_writer w = {.p = out->data + out->len, .size = 0};
    put(msg, &w);
    ASSERT(w.size <= bound_bytes);
    out->len += w.size;
    return 0;
}

#endif
