/* libFuzzer target: raft_codec_decode on arbitrary bytes never crashes, and whatever it
 * accepts (entries, snapshot chunks) encodes and decodes again to the same message. */
#include <stdint.h>
#include <string.h>

#include "base/assertions.h"
#include "server/raft_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct raft_codec_decoded d;
    if (raft_codec_decode(data, size, &d) != 0) {
        return 0;
    }
    struct buf b;
    buf_init(&b, 0);
    ASSERT(raft_codec_encode(&d.msg, &b) == 0);
    struct raft_codec_decoded again;
    ASSERT(raft_codec_decode(b.data, b.len, &again) == 0);
    ASSERT(again.msg.type == d.msg.type && again.msg.term == d.msg.term);
    ASSERT(again.msg.transfer == d.msg.transfer && again.msg.pre_vote == d.msg.pre_vote);
    ASSERT(again.msg.entries_count == d.msg.entries_count);
    ASSERT(again.msg.snapshot_index == d.msg.snapshot_index &&
           again.msg.snapshot_size_bytes == d.msg.snapshot_size_bytes &&
           again.msg.offset == d.msg.offset && again.msg.done == d.msg.done);
    ASSERT(again.msg.data_len == d.msg.data_len);
    ASSERT(d.msg.data_len == 0 || memcmp(again.msg.data, d.msg.data, d.msg.data_len) == 0);
    ASSERT(d.msg.data_len == 0 || d.msg.offset + d.msg.data_len <= d.msg.snapshot_size_bytes);
    for (uint32_t i = 0; i < d.msg.entries_count; i++) {
        ASSERT(again.msg.entries[i].data_len == d.msg.entries[i].data_len);
        ASSERT(d.msg.entries[i].data_len == 0 ||
               memcmp(again.msg.entries[i].data, d.msg.entries[i].data, d.msg.entries[i].data_len) == 0);
    }
    raft_codec_free(&again);
    raft_codec_free(&d);
    buf_free(&b);
    return 0;
}
