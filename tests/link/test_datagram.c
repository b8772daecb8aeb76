/* The link datagram codec: round trips in both modes, every truncation and bit flip is
 * rejected, the wrong key and a sealed/plain mismatch are refused, SACK ranges and
 * fragments are validated, and sealed nonces differ per datagram. */
#include <stdlib.h>

#include "harness.h"
#include "link/datagram.h"

static uint8_t scratch[LINK_MTU_MAX];

static struct link_codec codec(bool sealed, uint8_t key_byte)
{
    struct link_codec c;
    memset(&c, 0, sizeof c);
    c.cluster_id = 77;
    c.mtu_bytes = 1400;
    c.message_size_max = 1 << 20;
    c.sealed = sealed;
    memset(c.key, key_byte, sizeof c.key);
    return c;
}

static struct link_datagram sample_data(const uint8_t *frag, uint32_t frag_len)
{
    struct link_datagram d;
    memset(&d, 0, sizeof d);
    d.from = 1;
    d.to = 2;
    d.src_incarnation = 1000;
    d.dst_incarnation = 2000;
    d.counter = 5;
    d.type = LINK_DGRAM_DATA;
    d.window_fragments = 64;
    d.ack_cum = 10;
    d.sacks_count = 2;
    d.sacks[0] = (struct link_sack){12, 14};
    d.sacks[1] = (struct link_sack){20, 21};
    d.frags_count = 1;
    d.frags[0] = (struct link_frag){.seq = 99, .msg_len = 5000, .offset = 1264, .len = frag_len,
                                    .data = frag};
    return d;
}

static void check_same(const struct link_datagram *a, const struct link_datagram *b)
{
    CHECK_EQ(a->from, b->from);
    CHECK_EQ(a->to, b->to);
    CHECK(a->src_incarnation == b->src_incarnation && a->dst_incarnation == b->dst_incarnation);
    CHECK(a->counter == b->counter && a->type == b->type && a->ack_cum == b->ack_cum);
    CHECK_EQ(a->window_fragments, b->window_fragments);
    CHECK_EQ(a->sacks_count, b->sacks_count);
    for (uint32_t i = 0; i < a->sacks_count; i++) {
        CHECK(a->sacks[i].start == b->sacks[i].start && a->sacks[i].end == b->sacks[i].end);
    }
    CHECK_EQ(a->frags_count, b->frags_count);
    for (uint32_t i = 0; i < a->frags_count; i++) {
        const struct link_frag *x = &a->frags[i], *y = &b->frags[i];
        CHECK(x->seq == y->seq && x->msg_len == y->msg_len && x->offset == y->offset);
        CHECK_EQ(x->len, y->len);
        CHECK(x->len == 0 || memcmp(x->data, y->data, x->len) == 0);
    }
}

/* Encodes d, decodes it back and checks nothing changed. */
static void encode_decode_same(bool sealed, const struct link_datagram *d)
{
    struct link_codec c = codec(sealed, 7);
    static struct link_datagram e;
    struct buf b;
    buf_init(&b, 0);
    CHECK_EQ(link_datagram_encode(&c, d, &b), 0);
    CHECK_EQ(link_datagram_decode(&c, b.data, b.len, scratch, &e), LINK_DROP_NONE);
    check_same(d, &e);
    buf_free(&b);
}

static void round_trip(bool sealed)
{
    uint8_t frag[300];
    for (size_t i = 0; i < sizeof frag; i++) {
        frag[i] = (uint8_t)(i * 13);
    }
    struct link_datagram d = sample_data(frag, sizeof frag);
    encode_decode_same(sealed, &d);
}

TEST(datagram_round_trips_plain) { round_trip(false); }

TEST(datagram_round_trips_sealed) { round_trip(true); }

static void coalesced_round_trip(bool sealed)
{
    uint8_t bytes[64];
    for (size_t i = 0; i < sizeof bytes; i++) {
        bytes[i] = (uint8_t)(i * 7);
    }
    struct link_datagram d = sample_data(bytes, 10);
    d.frags_count = 0;
    for (uint32_t i = 0; i < 12; i++) { /* small messages, one empty, and a retransmission */
        uint32_t len = i == 3 ? 0 : 1 + i * 5;
        d.frags[d.frags_count++] = (struct link_frag){
            .seq = i == 11 ? 50 : 100 + i, .msg_len = len, .offset = 0, .len = len,
            .data = len == 0 ? NULL : bytes};
    }
    encode_decode_same(sealed, &d);
}

TEST(coalesced_datagram_round_trips_plain) { coalesced_round_trip(false); }

TEST(coalesced_datagram_round_trips_sealed) { coalesced_round_trip(true); }

TEST(sealed_datagram_hides_the_fragment_bytes)
{
    struct link_codec c = codec(true, 7);
    const char *secret = "attack at dawn, attack at dawn";
    struct link_datagram d = sample_data((const uint8_t *)secret, (uint32_t)strlen(secret));
    struct buf b;
    buf_init(&b, 0);
    CHECK_EQ(link_datagram_encode(&c, &d, &b), 0);
    CHECK(memmem(b.data, b.len, "attack", 6) == NULL);
    buf_free(&b);
}

static void reject_every_truncation_and_flip(bool sealed)
{
    struct link_codec c = codec(sealed, 9);
    uint8_t frag[40] = {1, 2, 3};
    struct link_datagram d = sample_data(frag, sizeof frag), e;
    struct buf b;
    buf_init(&b, 0);
    CHECK_EQ(link_datagram_encode(&c, &d, &b), 0);
    for (size_t n = 0; n < b.len; n++) {
        CHECK(link_datagram_decode(&c, b.data, n, scratch, &e) != LINK_DROP_NONE);
    }
    for (size_t bit = 0; bit < b.len * 8; bit++) {
        b.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        CHECK(link_datagram_decode(&c, b.data, b.len, scratch, &e) != LINK_DROP_NONE);
        b.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    buf_free(&b);
}

TEST(datagram_rejects_every_truncation_and_bit_flip_plain) { reject_every_truncation_and_flip(false); }

TEST(datagram_rejects_every_truncation_and_bit_flip_sealed) { reject_every_truncation_and_flip(true); }

TEST(sealed_datagram_with_wrong_key_is_refused_as_auth)
{
    struct link_codec right = codec(true, 1), wrong = codec(true, 2);
    struct link_datagram d = sample_data((const uint8_t *)"x", 1), e;
    struct buf b;
    buf_init(&b, 0);
    CHECK_EQ(link_datagram_encode(&right, &d, &b), 0);
    CHECK_EQ(link_datagram_decode(&wrong, b.data, b.len, scratch, &e), LINK_DROP_AUTH);
    buf_free(&b);
}

TEST(plain_datagram_is_refused_by_a_sealed_codec_and_vice_versa)
{
    struct link_codec plain = codec(false, 0), sealed = codec(true, 1);
    struct link_datagram d = sample_data((const uint8_t *)"x", 1), e;
    struct buf b;
    buf_init(&b, 0);
    CHECK_EQ(link_datagram_encode(&plain, &d, &b), 0);
    CHECK_EQ(link_datagram_decode(&sealed, b.data, b.len, scratch, &e), LINK_DROP_AUTH);
    buf_reset(&b);
    CHECK_EQ(link_datagram_encode(&sealed, &d, &b), 0);
    CHECK_EQ(link_datagram_decode(&plain, b.data, b.len, scratch, &e), LINK_DROP_AUTH);
    buf_free(&b);
}

TEST(datagram_from_another_cluster_is_dropped_as_wrong_cluster)
{
    struct link_codec ours = codec(false, 0), theirs = codec(false, 0);
    theirs.cluster_id = 78;
    struct link_datagram d = sample_data((const uint8_t *)"x", 1), e;
    struct buf b;
    buf_init(&b, 0);
    CHECK_EQ(link_datagram_encode(&theirs, &d, &b), 0);
    CHECK_EQ(link_datagram_decode(&ours, b.data, b.len, scratch, &e), LINK_DROP_WRONG_CLUSTER);
    buf_free(&b);
}

TEST(sealed_datagrams_with_different_counters_differ_entirely)
{
    struct link_codec c = codec(true, 3);
    struct link_datagram d = sample_data((const uint8_t *)"same bytes", 10);
    struct buf a, b;
    buf_init(&a, 0);
    buf_init(&b, 0);
    CHECK_EQ(link_datagram_encode(&c, &d, &a), 0);
    d.counter++;
    CHECK_EQ(link_datagram_encode(&c, &d, &b), 0);
    CHECK_EQ(a.len, b.len);
    size_t body = FRAME_HEADER_SIZE + LINK_PREFIX_SIZE;
    size_t same = 0;
    for (size_t i = body; i < a.len; i++) {
        same += a.data[i] == b.data[i];
    }
    CHECK(same < (a.len - body) / 4); /* a fresh keystream, not a reused one */
    buf_free(&a);
    buf_free(&b);
}

/* Builds a plain frame around a hand-written body, for malformed-field tests. */
static void frame_around(struct buf *b, const uint8_t *body, size_t body_len)
{
    uint8_t payload[256];
    memset(payload, 0, LINK_PREFIX_SIZE);
    le_store_u64(payload, 1000);
    le_store_u64(payload + 8, 1);
    memcpy(payload + LINK_PREFIX_SIZE, body, body_len);
    struct frame_header h = {0};
    h.kind = FRAME_KIND_LINK;
    h.cluster_id = 77;
    h.from = 1;
    h.to = 2;
    buf_reset(b);
    CHECK_EQ(frame_encode(b, &h, payload, LINK_PREFIX_SIZE + body_len), 0);
}

static enum link_drop decode_body(const uint8_t *body, size_t len)
{
    struct link_codec c = codec(false, 0);
    struct buf b;
    buf_init(&b, 0);
    frame_around(&b, body, len);
    struct link_datagram e;
    enum link_drop why = link_datagram_decode(&c, b.data, b.len, scratch, &e);
    buf_free(&b);
    return why;
}

static size_t ack_body(uint8_t *p, uint8_t type, uint8_t sacks, uint64_t ack_cum)
{
    memset(p, 0, LINK_BODY_FIXED_SIZE);
    p[0] = type;
    p[1] = sacks;
    p[2] = LINK_BODY_VERSION;
    p[3] = type == LINK_DGRAM_DATA ? 1 : 0;
    le_store_u64(p + 8, 2000);
    le_store_u64(p + 16, ack_cum);
    return LINK_BODY_FIXED_SIZE;
}

TEST(datagram_rejects_bad_types_reserved_bits_and_sack_ranges)
{
    uint8_t p[128];
    size_t n = ack_body(p, LINK_DGRAM_ACK, 0, 5);
    CHECK_EQ(decode_body(p, n), LINK_DROP_NONE);
    p[0] = 9;
    CHECK_EQ(decode_body(p, n), LINK_DROP_MALFORMED);
    n = ack_body(p, LINK_DGRAM_ACK, 0, 5);
    p[2] = 0; /* the unversioned format, or any other version */
    CHECK_EQ(decode_body(p, n), LINK_DROP_VERSION);
    p[2] = LINK_BODY_VERSION + 1;
    CHECK_EQ(decode_body(p, n), LINK_DROP_VERSION);
    n = ack_body(p, LINK_DGRAM_ACK, 0, 5);
    p[3] = 1; /* an ACK with a fragment record */
    CHECK_EQ(decode_body(p, n), LINK_DROP_MALFORMED);
    n = ack_body(p, LINK_DGRAM_ACK, 2, 5);
    CHECK_EQ(decode_body(p, n), LINK_DROP_TRUNCATED);
    /* Two ranges that touch: [7,9) then [9,10). */
    le_store_u32(p + n, 2);
    le_store_u32(p + n + 4, 2);
    le_store_u32(p + n + 8, 4);
    le_store_u32(p + n + 12, 1);
    CHECK_EQ(decode_body(p, n + 16), LINK_DROP_MALFORMED);
    le_store_u32(p + n + 8, 5);
    CHECK_EQ(decode_body(p, n + 16), LINK_DROP_NONE);
    le_store_u32(p + n, 0); /* a range may not start at ack_cum */
    CHECK_EQ(decode_body(p, n + 16), LINK_DROP_MALFORMED);
    n = ack_body(p, LINK_DGRAM_ACK, LINK_SACK_RANGES_MAX + 1, 5);
    CHECK_EQ(decode_body(p, n), LINK_DROP_MALFORMED);
    n = ack_body(p, LINK_DGRAM_ACK, 0, 5);
    CHECK_EQ(decode_body(p, n + 1), LINK_DROP_MALFORMED); /* trailing byte */
}

/* Writes one fragment record of frag_len 'x' bytes; returns its size. */
static size_t fragment_record(uint8_t *p, uint64_t seq, uint32_t msg_len, uint32_t offset,
                              uint32_t frag_len)
{
    le_store_u64(p, seq);
    le_store_u32(p + 8, msg_len);
    le_store_u32(p + 12, offset);
    le_store_u32(p + 16, frag_len);
    memset(p + LINK_DATA_HEADER_SIZE, 'x', frag_len);
    return LINK_DATA_HEADER_SIZE + frag_len;
}

TEST(datagram_rejects_fragments_outside_their_message)
{
    uint8_t p[128];
    size_t n = ack_body(p, LINK_DGRAM_DATA, 0, 1);
    CHECK_EQ(decode_body(p, n + fragment_record(p + n, 1, 10, 8, 2)), LINK_DROP_NONE);
    CHECK_EQ(decode_body(p, n + fragment_record(p + n, 1, 10, 8, 3)),
             LINK_DROP_MALFORMED); /* 8 + 3 > 10 */
    CHECK_EQ(decode_body(p, n + fragment_record(p + n, 1, 10, 8, 0)),
             LINK_DROP_MALFORMED); /* empty, message not */
    CHECK_EQ(decode_body(p, n + fragment_record(p + n, 1, (1 << 20) + 1, 8, 2)),
             LINK_DROP_MALFORMED); /* over the limit */
    CHECK_EQ(decode_body(p, n + fragment_record(p + n, 0, 10, 8, 2)),
             LINK_DROP_MALFORMED); /* seq 0 */
    size_t r = fragment_record(p + n, 1, 10, 8, 2);
    CHECK_EQ(decode_body(p, n + r - 1), LINK_DROP_TRUNCATED); /* frag_len past the end */
    CHECK_EQ(decode_body(p, n + r + 1), LINK_DROP_MALFORMED); /* trailing byte */
}

TEST(coalesced_datagram_rejects_a_count_that_disagrees_with_its_records)
{
    uint8_t p[256];
    size_t n = ack_body(p, LINK_DGRAM_DATA, 0, 1);
    p[3] = 3;
    size_t len = n;
    for (uint64_t seq = 1; seq <= 3; seq++) {
        len += fragment_record(p + len, seq, 4, 0, 4);
    }
    CHECK_EQ(decode_body(p, len), LINK_DROP_NONE);
    p[3] = 2; /* a record more than counted */
    CHECK_EQ(decode_body(p, len), LINK_DROP_MALFORMED);
    p[3] = 4; /* one fewer */
    CHECK_EQ(decode_body(p, len), LINK_DROP_TRUNCATED);
    p[3] = 0; /* DATA without a fragment */
    CHECK_EQ(decode_body(p, n), LINK_DROP_MALFORMED);
    p[3] = LINK_DATAGRAM_FRAGMENTS_MAX + 1;
    CHECK_EQ(decode_body(p, len), LINK_DROP_MALFORMED);
}

TEST(datagram_sack_capacity_and_fragment_size_fit_the_mtu)
{
    struct link_codec c = codec(true, 1);
    uint32_t frag = link_codec_fragment_size_max(&c);
    CHECK_EQ(frag, 1400 - LINK_DATA_OVERHEAD);
    CHECK(link_codec_sacks_fit(&c, LINK_DATA_HEADER_SIZE + frag) >= LINK_SACK_RANGES_IN_DATA_MIN);
    CHECK_EQ(link_codec_sacks_fit(&c, 0), LINK_SACK_RANGES_MAX);
    c.mtu_bytes = LINK_MTU_MIN;
    CHECK_EQ(link_codec_sacks_fit(&c, 0), LINK_SACK_RANGES_MAX);
}
