/* Frame encode/decode: round trip, every single-bit corruption and every truncation is
 * rejected with the right error. */
#include "base/errors.h"
#include "harness.h"
#include "wire/frame.h"

static struct frame_header sample_header(void)
{
    struct frame_header h = {0};
    h.kind = FRAME_KIND_RAFT;
    h.cluster_id = 0x1122334455667788ull;
    h.from = 3;
    h.to = 5;
    return h;
}

TEST(frame_round_trips)
{
    struct buf b;
    buf_init(&b, 0);
    struct frame_header h = sample_header();
    CHECK_EQ(frame_encode(&b, &h, "hello", 5), 0);
    CHECK_EQ(b.len, FRAME_HEADER_SIZE + 5);
    struct frame_header d;
    const uint8_t *payload;
    CHECK_EQ(frame_decode(b.data, b.len, h.cluster_id, &d, &payload), FRAME_HEADER_SIZE + 5);
    CHECK_EQ(d.kind, FRAME_KIND_RAFT);
    CHECK(d.cluster_id == h.cluster_id);
    CHECK_EQ(d.from, 3);
    CHECK_EQ(d.to, 5);
    CHECK_EQ(d.length, 5);
    CHECK(memcmp(payload, "hello", 5) == 0);
    buf_free(&b);
}

TEST(frame_rejects_every_single_bit_flip)
{
    struct buf b;
    buf_init(&b, 0);
    struct frame_header h = sample_header();
    CHECK_EQ(frame_encode(&b, &h, "payload bytes", 13), 0);
    for (size_t bit = 0; bit < b.len * 8; bit++) {
        b.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        struct frame_header d;
        const uint8_t *payload;
        long rc = frame_decode(b.data, b.len, 0, &d, &payload);
        CHECK(rc < 0);
        b.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    buf_free(&b);
}

TEST(frame_rejects_every_truncation)
{
    struct buf b;
    buf_init(&b, 0);
    struct frame_header h = sample_header();
    CHECK_EQ(frame_encode(&b, &h, "0123456789", 10), 0);
    for (size_t len = 0; len < b.len; len++) {
        struct frame_header d;
        const uint8_t *payload;
        CHECK_EQ(frame_decode(b.data, len, 0, &d, &payload), ERR_TRUNCATED);
    }
    buf_free(&b);
}

TEST(frame_rejects_wrong_cluster_version_and_oversize)
{
    struct buf b;
    buf_init(&b, 0);
    struct frame_header h = sample_header();
    CHECK_EQ(frame_encode(&b, &h, "x", 1), 0);
    struct frame_header d;
    const uint8_t *payload;
    CHECK_EQ(frame_decode(b.data, b.len, 42, &d, &payload), ERR_AUTH);
    b.data[4] = 2;
    CHECK_EQ(frame_decode(b.data, b.len, 0, &d, &payload), ERR_VERSION);
    b.data[4] = FRAME_VERSION;
    b.data[0] ^= 1;
    CHECK_EQ(frame_decode(b.data, b.len, 0, &d, &payload), ERR_MAGIC);
    b.data[0] ^= 1;
    le_store_u32(b.data + 24, FRAME_PAYLOAD_SIZE_MAX + 1);
    CHECK_EQ(frame_decode(b.data, b.len, 0, &d, &payload), ERR_TOO_LARGE);
    buf_free(&b);
    buf_init(&b, 0);
    CHECK_EQ(frame_encode(&b, &h, "", (size_t)FRAME_PAYLOAD_SIZE_MAX + 1), ERR_TOO_LARGE);
    buf_free(&b);
}

TEST(frame_decodes_back_to_back_frames)
{
    struct buf b;
    buf_init(&b, 0);
    struct frame_header h = sample_header();
    CHECK_EQ(frame_encode(&b, &h, "one", 3), 0);
    CHECK_EQ(frame_encode(&b, &h, "second", 6), 0);
    struct frame_header d;
    const uint8_t *payload;
    long n = frame_decode(b.data, b.len, 0, &d, &payload);
    CHECK_EQ(n, FRAME_HEADER_SIZE + 3);
    CHECK_EQ(frame_decode(b.data + n, b.len - (size_t)n, 0, &d, &payload), FRAME_HEADER_SIZE + 6);
    CHECK(memcmp(payload, "second", 6) == 0);
    buf_free(&b);
}

TEST(frame_peek_reads_the_kind_and_nothing_else)
{
    struct buf b;
    buf_init(&b, 0);
    struct frame_header h = sample_header();
    h.kind = FRAME_KIND_RPC;
    CHECK_EQ(frame_encode(&b, &h, "x", 1), 0);
    CHECK_EQ(frame_peek_kind(b.data, b.len), FRAME_KIND_RPC);
    b.data[FRAME_HEADER_SIZE] ^= 1; /* a bad checksum does not stop a peek */
    CHECK_EQ(frame_peek_kind(b.data, b.len), FRAME_KIND_RPC);
    CHECK_EQ(frame_peek_kind(b.data, FRAME_HEADER_SIZE - 1), 0);
    b.data[0] ^= 1; /* no magic */
    CHECK_EQ(frame_peek_kind(b.data, b.len), 0);
    buf_free(&b);
}
