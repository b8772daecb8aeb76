/* Link datagram encoding, sealing, opening and validation; the byte format is in
 * datagram.h. */
#include "link/datagram.h"

#include <sodium.h>

#include "base/assertions.h"
#include "base/errors.h"

_Static_assert(LINK_TAG_SIZE == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag size");
_Static_assert(LINK_KEY_SIZE == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == 24, "nonce size");
_Static_assert(LINK_MTU_MIN >= FRAME_HEADER_SIZE + LINK_PREFIX_SIZE + LINK_TAG_SIZE +
                                   LINK_BODY_FIXED_SIZE +
                                   LINK_SACK_RANGES_MAX * LINK_SACK_RANGE_SIZE,
               "a full ACK must fit the smallest MTU");
_Static_assert(LINK_MTU_MIN > LINK_DATA_OVERHEAD, "a DATA datagram must carry a byte");

/* Associated data: the frame header up to, not including, its CRC. */
#define LINK_AD_SIZE 28

static const char *const drop_names[LINK_DROP_COUNT_] = {
    [LINK_DROP_NONE] = "none",
    [LINK_DROP_TRUNCATED] = "truncated",
    [LINK_DROP_CHECKSUM] = "checksum",
    [LINK_DROP_MALFORMED] = "malformed",
    [LINK_DROP_WRONG_CLUSTER] = "wrong_cluster",
    [LINK_DROP_MISADDRESSED] = "misaddressed",
    [LINK_DROP_AUTH] = "auth",
    [LINK_DROP_STALE_INCARNATION] = "stale_incarnation",
    [LINK_DROP_OUT_OF_WINDOW] = "out_of_window",
    [LINK_DROP_REASSEMBLY_FULL] = "reassembly_full",
    [LINK_DROP_BAD_ACK] = "bad_ack",
    [LINK_DROP_VERSION] = "version",
};

const char *link_drop_name(enum link_drop reason)
{
    ASSERT((unsigned)reason < LINK_DROP_COUNT_);
    return drop_names[reason];
}

uint32_t link_codec_fragment_size_max(const struct link_codec *c)
{
    ASSERT(c->mtu_bytes >= LINK_MTU_MIN && c->mtu_bytes <= LINK_MTU_MAX);
    return c->mtu_bytes - LINK_DATA_OVERHEAD;
}

static size_t fixed_size(const struct link_codec *c)
{
    return FRAME_HEADER_SIZE + LINK_PREFIX_SIZE + (c->sealed ? LINK_TAG_SIZE : 0) +
           LINK_BODY_FIXED_SIZE;
}

uint32_t link_codec_sacks_fit(const struct link_codec *c, size_t records_bytes)
{
    size_t used = fixed_size(c) + records_bytes;
    ASSERT(used <= c->mtu_bytes);
    size_t fit = (c->mtu_bytes - used) / LINK_SACK_RANGE_SIZE;
    return (uint32_t)MIN(fit, (size_t)LINK_SACK_RANGES_MAX);
}

static void make_nonce(uint8_t nonce[24], uint32_t from, uint32_t to, uint64_t incarnation,
                       uint64_t counter)
{
    le_store_u32(nonce, from);
    le_store_u32(nonce + 4, to);
    le_store_u64(nonce + 8, incarnation);
    le_store_u64(nonce + 16, counter);
}

static size_t body_size(const struct link_datagram *d)
{
    size_t n = LINK_BODY_FIXED_SIZE + (size_t)d->sacks_count * LINK_SACK_RANGE_SIZE;
    for (uint32_t i = 0; i < d->frags_count; i++) {
        n += LINK_DATA_HEADER_SIZE + d->frags[i].len;
    }
    return n;
}

static uint8_t *write_fragment(uint8_t *p, const struct link_frag *f)
{
    le_store_u64(p, f->seq);
    le_store_u32(p + 8, f->msg_len);
    le_store_u32(p + 12, f->offset);
    le_store_u32(p + 16, f->len);
    if (f->len != 0) {
        memcpy(p + LINK_DATA_HEADER_SIZE, f->data, f->len);
    }
    return p + LINK_DATA_HEADER_SIZE + f->len;
}

static void write_body(uint8_t *b, const struct link_datagram *d)
{
    b[0] = d->type;
    b[1] = (uint8_t)d->sacks_count;
    b[2] = LINK_BODY_VERSION;
    b[3] = (uint8_t)d->frags_count;
    le_store_u32(b + 4, d->window_fragments);
    le_store_u64(b + 8, d->dst_incarnation);
    le_store_u64(b + 16, d->ack_cum);
    uint8_t *p = b + LINK_BODY_FIXED_SIZE;
    for (uint32_t i = 0; i < d->sacks_count; i++) {
        const struct link_sack *s = &d->sacks[i];
        ASSERT(s->start > d->ack_cum && s->end > s->start);
        le_store_u32(p, (uint32_t)(s->start - d->ack_cum));
        le_store_u32(p + 4, (uint32_t)(s->end - s->start));
        p += LINK_SACK_RANGE_SIZE;
    }
    for (uint32_t i = 0; i < d->frags_count; i++) {
        p = write_fragment(p, &d->frags[i]);
    }
}

int link_datagram_encode(const struct link_codec *c, const struct link_datagram *d,
                         struct buf *out)
{
    ASSERT(d->sacks_count <= LINK_SACK_RANGES_MAX);
    ASSERT(d->src_incarnation != 0 && d->counter != 0);
    ASSERT((d->type == LINK_DGRAM_DATA) == (d->frags_count >= 1) &&
           d->frags_count <= LINK_DATAGRAM_FRAGMENTS_MAX);
    size_t body_len = body_size(d);
    size_t payload_len = LINK_PREFIX_SIZE + body_len + (c->sealed ? LINK_TAG_SIZE : 0);
    ASSERT(FRAME_HEADER_SIZE + payload_len <= c->mtu_bytes);
    uint8_t *p = buf_extend(out, FRAME_HEADER_SIZE + payload_len);
    if (p == NULL) {
        return ERR_NOMEM;
    }
    uint8_t *payload = p + FRAME_HEADER_SIZE;
    le_store_u64(payload, d->src_incarnation);
    le_store_u64(payload + 8, d->counter);
    uint8_t *body = payload + LINK_PREFIX_SIZE;
    write_body(body, d);
    struct frame_header h = {0};
    h.flags = c->sealed ? FRAME_FLAG_SEALED : 0;
    h.kind = FRAME_KIND_LINK;
    h.cluster_id = c->cluster_id;
    h.from = d->from;
    h.to = d->to;
    /* The first pass writes header bytes 0..27, the associated data of the seal; the CRC
     * it also writes is replaced below once the payload is final. */
    frame_encode_header(p, &h, payload, payload_len);
    if (c->sealed) {
        uint8_t nonce[24];
        make_nonce(nonce, d->from, d->to, d->src_incarnation, d->counter);
        unsigned long long tag_len = 0;
        crypto_aead_xchacha20poly1305_ietf_encrypt_detached(body, body + body_len, &tag_len,
                                                            body, body_len, p, LINK_AD_SIZE,
                                                            NULL, nonce, c->key);
        ASSERT(tag_len == LINK_TAG_SIZE);
        frame_encode_header(p, &h, payload, payload_len);
    }
    return 0;
}

static enum link_drop drop_from_frame_error(long rc)
{
    switch (rc) {
    case ERR_TRUNCATED:
        return LINK_DROP_TRUNCATED;
    case ERR_CHECKSUM:
        return LINK_DROP_CHECKSUM;
    case ERR_AUTH:
        return LINK_DROP_WRONG_CLUSTER;
    default:
        return LINK_DROP_MALFORMED;
    }
}

/* Reads the SACK ranges and checks that they ascend above ack_cum without touching. */
static enum link_drop read_sacks(struct buf_reader *r, struct link_datagram *d)
{
    uint64_t floor = d->ack_cum; /* every range must start above this */
    for (uint32_t i = 0; i < d->sacks_count; i++) {
        uint32_t delta = buf_get_u32(r);
        uint32_t len = buf_get_u32(r);
        if (r->failed) {
            return LINK_DROP_TRUNCATED;
        }
        uint64_t start = d->ack_cum + delta;
        if (delta == 0 || len == 0 || start < d->ack_cum || start + len < start ||
            start <= floor) {
            return LINK_DROP_MALFORMED;
        }
        d->sacks[i].start = start;
        d->sacks[i].end = start + len;
        floor = d->sacks[i].end;
    }
    return LINK_DROP_NONE;
}

static enum link_drop read_fragment(const struct link_codec *c, struct buf_reader *r,
                                    struct link_frag *f)
{
    f->seq = buf_get_u64(r);
    f->msg_len = buf_get_u32(r);
    f->offset = buf_get_u32(r);
    f->len = buf_get_u32(r);
    if (r->failed) {
        return LINK_DROP_TRUNCATED;
    }
    if (f->len > buf_reader_left(r)) {
        return LINK_DROP_TRUNCATED;
    }
    f->data = buf_get_bytes(r, f->len);
    if (f->seq == 0 || f->msg_len > c->message_size_max ||
        (uint64_t)f->offset + f->len > f->msg_len || (f->len == 0 && f->msg_len != 0)) {
        return LINK_DROP_MALFORMED;
    }
    return LINK_DROP_NONE;
}

static enum link_drop parse_body(const struct link_codec *c, const uint8_t *body, size_t len,
                                 struct link_datagram *d)
{
    struct buf_reader r = buf_reader_make(body, len);
    d->type = buf_get_u8(&r);
    d->sacks_count = buf_get_u8(&r);
    uint8_t version = buf_get_u8(&r);
    d->frags_count = buf_get_u8(&r);
    d->window_fragments = buf_get_u32(&r);
    d->dst_incarnation = buf_get_u64(&r);
    d->ack_cum = buf_get_u64(&r);
    if (r.failed) {
        return LINK_DROP_TRUNCATED;
    }
    if (version != LINK_BODY_VERSION) {
        return LINK_DROP_VERSION;
    }
    if (d->type < LINK_DGRAM_HELLO || d->type > LINK_DGRAM_DATA ||
        d->sacks_count > LINK_SACK_RANGES_MAX || d->frags_count > LINK_DATAGRAM_FRAGMENTS_MAX ||
        (d->type == LINK_DGRAM_DATA) != (d->frags_count >= 1)) {
        return LINK_DROP_MALFORMED;
    }
    enum link_drop why = read_sacks(&r, d);
    for (uint32_t i = 0; i < d->frags_count && why == LINK_DROP_NONE; i++) {
        why = read_fragment(c, &r, &d->frags[i]);
    }
    if (why != LINK_DROP_NONE) {
        return why;
    }
    return buf_reader_left(&r) == 0 ? LINK_DROP_NONE : LINK_DROP_MALFORMED;
}

static enum link_drop open_sealed(const struct link_codec *c, const uint8_t *frame,
                                  const uint8_t *sealed, size_t sealed_len, uint8_t *scratch,
                                  const struct link_datagram *d)
{
    if (sealed_len < LINK_TAG_SIZE) {
        return LINK_DROP_TRUNCATED;
    }
    size_t body_len = sealed_len - LINK_TAG_SIZE;
    uint8_t nonce[24];
    make_nonce(nonce, d->from, d->to, d->src_incarnation, d->counter);
    memcpy(scratch, sealed, body_len);
    int rc = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
        scratch, NULL, scratch, body_len, sealed + body_len, frame, LINK_AD_SIZE, nonce, c->key);
    return rc == 0 ? LINK_DROP_NONE : LINK_DROP_AUTH;
}

enum link_drop link_datagram_decode(const struct link_codec *c, const uint8_t *bytes, size_t len,
                                    uint8_t *scratch, struct link_datagram *out)
{
    memset(out, 0, offsetof(struct link_datagram, frags)); /* records are filled as read */
    if (len > LINK_MTU_MAX) {
        return LINK_DROP_MALFORMED;
    }
    struct frame_header h;
    const uint8_t *payload;
    long n = frame_decode(bytes, len, c->cluster_id, &h, &payload);
    if (n < 0) {
        return drop_from_frame_error(n);
    }
    if ((size_t)n != len || h.kind != FRAME_KIND_LINK) {
        return LINK_DROP_MALFORMED;
    }
    if (((h.flags & FRAME_FLAG_SEALED) != 0) != c->sealed) {
        return LINK_DROP_AUTH;
    }
    if (h.length < LINK_PREFIX_SIZE) {
        return LINK_DROP_TRUNCATED;
    }
    out->from = h.from;
    out->to = h.to;
    out->src_incarnation = le_load_u64(payload);
    out->counter = le_load_u64(payload + 8);
    if (out->src_incarnation == 0 || out->counter == 0) {
        return LINK_DROP_MALFORMED;
    }
    const uint8_t *body = payload + LINK_PREFIX_SIZE;
    size_t body_len = h.length - LINK_PREFIX_SIZE;
    if (c->sealed) {
        enum link_drop why = open_sealed(c, bytes, body, body_len, scratch, out);
        if (why != LINK_DROP_NONE) {
            return why;
        }
        body = scratch;
        body_len -= LINK_TAG_SIZE;
    }
    return parse_body(c, body, body_len, out);
}
