/* libFuzzer target for a config entry's payload (src/raft/config.c), which arrives from
 * peers inside AppendEntries and from the disk at boot. raft_config_decode must accept
 * or refuse any bytes without crashing; what it accepts must be a valid configuration
 * (at least one voter, no id 0, no id twice in a set, no learner that is also a voter,
 * no address over the limit) that encodes back to exactly the same bytes in the current
 * version, and to an equal configuration from version 1. No crash, leak or UB is
 * allowed. */
#include <stdint.h>
#include <string.h>

#include "base/assertions.h"
#include "raft/raft.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct raft_config c;
    if (raft_config_decode(data, size, &c) != 0) {
        return 0;
    }
    ASSERT(c.voters_count >= 1);
    for (uint32_t i = 0; i < c.learners_count; i++) {
        ASSERT(c.learners[i] != 0 && !raft_config_is_voter(&c, c.learners[i]));
    }
    for (uint32_t i = 0; i < c.addresses_count; i++) {
        ASSERT(c.addresses[i].len >= 1 && c.addresses[i].len <= RAFT_MEMBER_ADDRESS_BYTES_MAX);
    }
    uint8_t out[RAFT_CONFIG_ENCODED_SIZE_MAX];
    size_t len = raft_config_encode(&c, out);
    if (data[0] == 1) {
        struct raft_config again;
        ASSERT(raft_config_decode(out, len, &again) == 0);
        ASSERT(memcmp(&again, &c, sizeof c) == 0 && c.addresses_count == 0);
        return 0;
    }
    ASSERT(len == size && memcmp(out, data, size) == 0);
    return 0;
}
