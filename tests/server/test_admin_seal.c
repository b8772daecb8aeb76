/* Admin frame sealing (src/server/admin_seal.h): what one side seals with the cluster key
 * the other opens; a wrong key, a flipped byte anywhere, a plain frame where a sealed one
 * is wanted (and the reverse), and a send time outside the window are all ERR_AUTH. */
#include <string.h>

#include "base/errors.h"
#include "harness.h"
#include "server/admin_seal.h"

static const uint8_t KEY[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t ENVELOPE[] = "an RPC envelope";
#define NOW_MS 1700000000000ull

static void seal(struct admin_seal *a, struct buf *out, uint64_t now_ms)
{
    struct frame_header h = {.version = FRAME_VERSION, .kind = FRAME_KIND_RPC, .cluster_id = 1,
                             .from = 0, .to = 2};
    buf_reset(out);
    CHECK_EQ(admin_seal_frame(a, out, h, ENVELOPE, sizeof ENVELOPE, now_ms), 0);
}

static int open_at(struct admin_seal *a, const struct buf *frame, uint64_t now_ms)
{
    struct frame_header h;
    const uint8_t *envelope = NULL;
    size_t len = 0;
    int rc = admin_seal_open(a, frame->data, frame->len, now_ms, true, &h, &envelope, &len);
    if (rc == 0) {
        CHECK_EQ(len, sizeof ENVELOPE);
        CHECK(memcmp(envelope, ENVELOPE, len) == 0);
        CHECK_EQ(h.kind, FRAME_KIND_RPC);
        CHECK_EQ(h.to, 2);
    }
    return rc;
}

TEST(admin_seal_sealed_frame_opens_with_the_same_key_only)
{
    struct admin_seal a, b, wrong;
    uint8_t other[32];
    memcpy(other, KEY, sizeof other);
    other[31] ^= 1;
    CHECK_EQ(admin_seal_init(&a, KEY), 0);
    CHECK_EQ(admin_seal_init(&b, KEY), 0);
    CHECK_EQ(admin_seal_init(&wrong, other), 0);
    struct buf f;
    buf_init(&f, 0);
    seal(&a, &f, NOW_MS);
    CHECK_EQ(f.len, FRAME_HEADER_SIZE + ADMIN_SEAL_OVERHEAD_BYTES + sizeof ENVELOPE);
    CHECK(memmem(f.data, f.len, ENVELOPE, sizeof ENVELOPE) == NULL); /* not in the clear */
    CHECK_EQ(open_at(&b, &f, NOW_MS), 0);
    CHECK_EQ(open_at(&wrong, &f, NOW_MS), ERR_AUTH);
    buf_free(&f);
    admin_seal_free(&a);
    admin_seal_free(&b);
    admin_seal_free(&wrong);
}

TEST(admin_seal_refuses_every_flipped_byte)
{
    struct admin_seal a;
    CHECK_EQ(admin_seal_init(&a, KEY), 0);
    struct buf f;
    buf_init(&f, 0);
    seal(&a, &f, NOW_MS);
    for (size_t i = 0; i < f.len; i++) {
        f.data[i] ^= 0x40;
        CHECK(open_at(&a, &f, NOW_MS) != 0); /* the CRC or the tag catches it */
        f.data[i] ^= 0x40;
    }
    CHECK_EQ(open_at(&a, &f, NOW_MS), 0);
    buf_free(&f);
    admin_seal_free(&a);
}

TEST(admin_seal_plain_and_sealed_do_not_mix)
{
    struct admin_seal keyed, plain;
    CHECK_EQ(admin_seal_init(&keyed, KEY), 0);
    CHECK_EQ(admin_seal_init(&plain, NULL), 0);
    struct buf f;
    buf_init(&f, 0);
    seal(&plain, &f, NOW_MS);
    CHECK_EQ(f.len, FRAME_HEADER_SIZE + sizeof ENVELOPE);
    CHECK_EQ(open_at(&plain, &f, NOW_MS), 0);
    CHECK_EQ(open_at(&keyed, &f, NOW_MS), ERR_AUTH);
    seal(&keyed, &f, NOW_MS);
    CHECK_EQ(open_at(&plain, &f, NOW_MS), ERR_AUTH);
    buf_free(&f);
    admin_seal_free(&keyed);
    admin_seal_free(&plain);
}

TEST(admin_seal_refuses_a_send_time_outside_the_window)
{
    struct admin_seal a;
    CHECK_EQ(admin_seal_init(&a, KEY), 0);
    struct buf f;
    buf_init(&f, 0);
    seal(&a, &f, NOW_MS);
    CHECK_EQ(open_at(&a, &f, NOW_MS + ADMIN_SEAL_SKEW_MS_MAX), 0);
    CHECK_EQ(open_at(&a, &f, NOW_MS - ADMIN_SEAL_SKEW_MS_MAX), 0);
    CHECK_EQ(open_at(&a, &f, NOW_MS + ADMIN_SEAL_SKEW_MS_MAX + 1), ERR_AUTH); /* a replay */
    CHECK_EQ(open_at(&a, &f, NOW_MS - ADMIN_SEAL_SKEW_MS_MAX - 1), ERR_AUTH);
    buf_free(&f);
    admin_seal_free(&a);
}
