/* libFuzzer target: admin_seal_open (src/server/admin_seal.h) on arbitrary datagrams,
 * plain and keyed, never crashes; a plain frame it accepts seals again to the same bytes;
 * the input used as an envelope, sealed with the key, opens to itself, and with any one
 * byte flipped (chosen by the input) does not open. */
#include <stdint.h>
#include <string.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "server/admin_seal.h"

static const uint8_t KEY[32] = {7};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct admin_seal plain, keyed;
    ASSERT(admin_seal_init(&plain, NULL) == 0 && admin_seal_init(&keyed, KEY) == 0);
    struct frame_header h;
    const uint8_t *envelope = NULL;
    size_t len = 0;
    struct buf b;
    buf_init(&b, 0);
    (void)admin_seal_open(&keyed, data, size, 0, true, &h, &envelope, &len);
    if (admin_seal_open(&plain, data, size, 0, true, &h, &envelope, &len) == 0) {
        ASSERT(admin_seal_frame(&plain, &b, h, envelope, len, 0) == 0);
        ASSERT(b.len == size && memcmp(b.data, data, size) == 0);
    }
    struct frame_header out = {.version = FRAME_VERSION, .kind = FRAME_KIND_RPC, .cluster_id = 1};
    buf_reset(&b);
    ASSERT(admin_seal_frame(&keyed, &b, out, data, size, 1000) == 0);
    ASSERT(admin_seal_open(&keyed, b.data, b.len, 1000, true, &h, &envelope, &len) == 0);
    ASSERT(len == size && (size == 0 || memcmp(envelope, data, size) == 0));
    size_t flip = size > 0 ? data[0] * 257u % b.len : 0;
    b.data[flip] ^= 1;
    ASSERT(admin_seal_open(&keyed, b.data, b.len, 1000, true, &h, &envelope, &len) != 0);
    buf_free(&b);
    admin_seal_free(&plain);
    admin_seal_free(&keyed);
    return 0;
}
