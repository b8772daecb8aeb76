/* backoff: full-jitter exponential backoff; see backoff.h. */
#include "rpc/backoff.h"

uint64_t rpc_backoff_window_ns(uint64_t base_ns, uint64_t cap_ns, uint32_t attempts_sent)
{
    uint64_t window_ns = base_ns;
    for (uint32_t i = 0; i < attempts_sent && window_ns < cap_ns; i++) {
        window_ns = window_ns > cap_ns / 2 ? cap_ns : 2 * window_ns;
    }
    return window_ns < cap_ns ? window_ns : cap_ns;
}

uint64_t rpc_backoff_full_jitter_ns(struct prng *rng, uint64_t base_ns, uint64_t cap_ns,
                                    uint32_t attempts_sent)
{
    return prng_range(rng, 0, rpc_backoff_window_ns(base_ns, cap_ns, attempts_sent));
}
