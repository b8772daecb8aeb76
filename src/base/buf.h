/* Byte buffers with little-endian encoding and bounds checks.
 *
 * struct buf is a growable owned byte array for building messages and records. Its
 * put_* functions grow it on demand and return ERR_NOMEM (never abort) when growth fails
 * or would pass cap_max; after a failure the buffer is marked failed and later puts are
 * no-ops, so a caller may write a whole record and check once at the end.
 *
 * struct buf_reader decodes from a borrowed byte range. Every get_* checks the bounds
 * first; reading past the end sets `failed` and returns zeros, so a decoder reads all
 * fields and checks reader.failed once. All multi-byte integers are little-endian on
 * disk and on the wire, whatever the host. Depends on libc only. */
#ifndef CHORUS_BASE_BUF_H
#define CHORUS_BASE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct buf {
    uint8_t *data;      /* owned; NULL until the first put */
    size_t len;         /* bytes written */
    size_t cap;         /* bytes allocated */
    size_t cap_max;     /* growth limit; 0 means SIZE_MAX/2 */
    bool failed;        /* a put failed (no memory or over cap_max) */
};

void buf_init(struct buf *b, size_t cap_max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b); /* len = 0 and clears failed; keeps the memory */
int buf_reserve(struct buf *b, size_t extra);
/* Returns a pointer to n fresh bytes at the end (len += n), or NULL on failure. */
static inline uint8_t *buf_extend(struct buf *b, size_t n);
static inline int buf_put(struct buf *b, const void *data, size_t n);
static inline int buf_put_u8(struct buf *b, uint8_t v);
int buf_put_u16(struct buf *b, uint16_t v);
static inline int buf_put_u32(struct buf *b, uint32_t v);
static inline int buf_put_u64(struct buf *b, uint64_t v);
/* The out-of-line halves of buf_extend and buf_put: growth and failure. */
uint8_t *buf_extend_slow(struct buf *b, size_t n);
int buf_put_slow(struct buf *b, const void *data, size_t n);
/* Gives the bytes to the caller (who frees them) and leaves b empty. */
uint8_t *buf_take(struct buf *b, size_t *len_out);

struct buf_reader {
    const uint8_t *data; /* borrowed */
    size_t len;
    size_t pos;
    bool failed;
};

static inline struct buf_reader buf_reader_make(const void *data, size_t len)
{
    struct buf_reader r = {(const uint8_t *)data, len, 0, false};
    return r;
}

static inline size_t buf_reader_left(const struct buf_reader *r) { return r->len - r->pos; }

static inline uint8_t buf_get_u8(struct buf_reader *r);
uint16_t buf_get_u16(struct buf_reader *r);
static inline uint32_t buf_get_u32(struct buf_reader *r);
static inline uint64_t buf_get_u64(struct buf_reader *r);
/* Returns a pointer into the reader's bytes (borrowed), or NULL when fewer than n left. */
static inline const uint8_t *buf_get_bytes(struct buf_reader *r, size_t n);
bool buf_get_copy(struct buf_reader *r, void *out, size_t n);

/* Raw little-endian load and store on memory the caller has bounds-checked. On a
 * little-endian host the 32- and 64-bit forms are one unaligned memcpy, which compilers
 * turn into one move (GCC left the 64-bit byte loop as a loop); elsewhere byte by byte. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define BUF_HOST_LITTLE_ENDIAN 1
#else
#define BUF_HOST_LITTLE_ENDIAN 0
#endif

static inline void le_store_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void le_store_u32(uint8_t *p, uint32_t v)
{
    if (BUF_HOST_LITTLE_ENDIAN) {
        memcpy(p, &v, sizeof v);
        return;
    }
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}
static inline void le_store_u64(uint8_t *p, uint64_t v)
{
    if (BUF_HOST_LITTLE_ENDIAN) {
        memcpy(p, &v, sizeof v);
        return;
    }
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}
static inline uint16_t le_load_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t le_load_u32(const uint8_t *p)
{
    if (BUF_HOST_LITTLE_ENDIAN) {
        uint32_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t le_load_u64(const uint8_t *p)
{
    if (BUF_HOST_LITTLE_ENDIAN) {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    return (uint64_t)le_load_u32(p) | ((uint64_t)le_load_u32(p + 4) << 32);
}

/* ---- the hot paths, inline: a put that fits the capacity costs a copy and a compare
 * (these run several times per request on every node); growth and failure go to
 * buf.c ---- */

static inline uint8_t *buf_extend(struct buf *b, size_t n)
{
    if (!b->failed && n <= b->cap - b->len) {
        uint8_t *p = b->data + b->len;
        b->len += n;
        return p;
    }
    return buf_extend_slow(b, n);
}

static inline int buf_put(struct buf *b, const void *data, size_t n)
{
    if (!b->failed && n != 0 && n <= b->cap - b->len) {
        memcpy(b->data + b->len, data, n);
        b->len += n;
        return 0;
    }
    return buf_put_slow(b, data, n);
}

static inline int buf_put_u8(struct buf *b, uint8_t v) { return buf_put(b, &v, 1); }

static inline int buf_put_u32(struct buf *b, uint32_t v)
{
    uint8_t tmp[4];
    le_store_u32(tmp, v);
    return buf_put(b, tmp, sizeof tmp);
}

static inline int buf_put_u64(struct buf *b, uint64_t v)
{
    uint8_t tmp[8];
    le_store_u64(tmp, v);
    return buf_put(b, tmp, sizeof tmp);
}

static inline const uint8_t *buf_get_bytes(struct buf_reader *r, size_t n)
{
    if (r->failed || n > r->len - r->pos) {
        r->failed = true;
        return NULL;
    }
    const uint8_t *p = r->data + r->pos;
    r->pos += n;
    return p;
}

static inline uint8_t buf_get_u8(struct buf_reader *r)
{
    const uint8_t *p = buf_get_bytes(r, 1);
    return p != NULL ? p[0] : 0;
}

static inline uint32_t buf_get_u32(struct buf_reader *r)
{
    const uint8_t *p = buf_get_bytes(r, 4);
    return p != NULL ? le_load_u32(p) : 0;
}

static inline uint64_t buf_get_u64(struct buf_reader *r)
{
    const uint8_t *p = buf_get_bytes(r, 8);
    return p != NULL ? le_load_u64(p) : 0;
}

#endif
