/* Growable byte buffer and bounds-checked reader; see buf.h for the contract. */
#include "base/buf.h"

#include <stdlib.h>

#include "base/errors.h"

void buf_init(struct buf *b, size_t cap_max)
{
    memset(b, 0, sizeof *b);
    b->cap_max = cap_max != 0 ? cap_max : SIZE_MAX / 2;
}

void buf_free(struct buf *b)
{
    size_t cap_max = b->cap_max;
    free(b->data);
    buf_init(b, cap_max);
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    b->failed = false;
}

int buf_reserve(struct buf *b, size_t extra)
{
    if (b->failed) {
        return ERR_NOMEM;
    }
    if (extra > b->cap_max - b->len) {
        b->failed = true;
        return ERR_TOO_LARGE;
    }
    size_t need = b->len + extra;
    if (need <= b->cap) {
        return 0;
    }
    size_t cap = b->cap != 0 ? b->cap : 64;
    while (cap < need) {
        cap = cap > b->cap_max / 2 ? b->cap_max : cap * 2;
    }
    /* Never past cap_max, so buf.h's fast paths need only compare with cap. */
    cap = cap < b->cap_max ? cap : b->cap_max;
    uint8_t *data = realloc(b->data, cap);
    if (data == NULL) {
        b->failed = true;
        return ERR_NOMEM;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

uint8_t *buf_extend_slow(struct buf *b, size_t n)
{
    if (buf_reserve(b, n) != 0) {
        return NULL;
    }
    uint8_t *p = b->data + b->len;
    b->len += n;
    return p;
}

int buf_put_slow(struct buf *b, const void *data, size_t n)
{
    if (n == 0) {
        return b->failed ? ERR_NOMEM : 0; /* no pointer arithmetic on an empty buffer */
    }
    uint8_t *p = buf_extend_slow(b, n);
    if (p == NULL) {
        return b->failed ? ERR_NOMEM : ERR_TOO_LARGE;
    }
    memcpy(p, data, n);
    return 0;
}

int buf_put_u16(struct buf *b, uint16_t v)
{
    uint8_t tmp[2];
    le_store_u16(tmp, v);
    return buf_put(b, tmp, sizeof tmp);
}

uint8_t *buf_take(struct buf *b, size_t *len_out)
{
    uint8_t *data = b->data;
    *len_out = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = false;
    return data;
}

bool buf_get_copy(struct buf_reader *r, void *out, size_t n)
{
    const uint8_t *p = buf_get_bytes(r, n);
    if (p == NULL) {
        memset(out, 0, n);
        return false;
    }
    memcpy(out, p, n);
    return true;
}

uint16_t buf_get_u16(struct buf_reader *r)
{
    const uint8_t *p = buf_get_bytes(r, 2);
    return p != NULL ? le_load_u16(p) : 0;
}
