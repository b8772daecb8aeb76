/* libFuzzer target: the frame decoder and the IDL unpacker must survive any bytes.
 * Whatever decodes must re-encode to the same bytes (the format has one encoding). */
#include <stdint.h>
#include <stdlib.h>

#include "base/assertions.h"
#include "proto/chorus.pb-c.h"
#include "wire/arena.h"
#include "wire/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct frame_header h;
    const uint8_t *payload;
    long n = frame_decode(data, size, 0, &h, &payload);
    if (n > 0) {
        struct buf b;
        buf_init(&b, 0);
        ASSERT(frame_encode(&b, &h, payload, h.length) == 0);
        ASSERT(b.len == (size_t)n);
        ASSERT(memcmp(b.data, data, b.len) == 0);
        buf_free(&b);
    }
    /* Whatever the frame said, try the payload types on the raw bytes too. */
    struct arena a;
    arena_init(&a, 1024, 1 << 20);
    Chorus__RaftMessage *m = chorus__raft_message__unpack(&a.allocator, size, data);
    if (m != NULL) {
        size_t packed = chorus__raft_message__get_packed_size(m);
        ASSERT(packed <= 4 * size + 64);
    }
    arena_reset(&a);
    Chorus__Command *c = chorus__command__unpack(&a.allocator, size, data);
    (void)c;
    arena_free(&a);
    return 0;
}
