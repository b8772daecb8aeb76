/* backoff: when a call's next attempt goes out.
 *
 * Exponential backoff with full jitter (the "Full Jitter" variant of Brooker, "Exponential
 * Backoff and Jitter", AWS Architecture Blog, 2015): after the n-th attempt the client
 * waits a delay drawn uniformly from [0, min(cap, base * 2^n)]. Spreading retries over the
 * whole window, rather than around its end, keeps many clients that failed together from
 * retrying together. The draw comes from the caller's PRNG, so the simulator reproduces
 * every delay from its seed. Pure; depends on base. */
#ifndef CHORUS_RPC_BACKOFF_H
#define CHORUS_RPC_BACKOFF_H

#include <stdint.h>

#include "base/prng.h"

/* The upper bound of the window after attempts_sent attempts: min(cap_ns, base_ns << n),
 * computed without overflow. */
uint64_t rpc_backoff_window_ns(uint64_t base_ns, uint64_t cap_ns, uint32_t attempts_sent);

/* A delay drawn uniformly from [0, rpc_backoff_window_ns(...)]. */
uint64_t rpc_backoff_full_jitter_ns(struct prng *rng, uint64_t base_ns, uint64_t cap_ns,
                                    uint32_t attempts_sent);

#endif
