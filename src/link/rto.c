/* RFC 6298 retransmission timeout arithmetic; the rules are in rto.h. */
#include "link/rto.h"

#include "base/assertions.h"

static uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

void link_rto_init(struct link_rto *r, uint64_t initial_ns, uint64_t min_ns, uint64_t max_ns)
{
    ASSERT(min_ns > 0 && min_ns <= max_ns);
    r->srtt_ns = 0;
    r->rttvar_ns = 0;
    r->backoff_shift = 0;
    r->has_sample = false;
    r->rto_min_ns = min_ns;
    r->rto_max_ns = max_ns;
    r->ack_delay_ns = 0;
    r->base_ns = clamp_u64(initial_ns, min_ns, max_ns);
}

void link_rto_allow_ack_delay(struct link_rto *r, uint64_t ack_delay_ns)
{
    r->ack_delay_ns = ack_delay_ns;
}

void link_rto_sample(struct link_rto *r, uint64_t rtt_ns)
{
    if (!r->has_sample) {
        r->srtt_ns = rtt_ns;
        r->rttvar_ns = rtt_ns / 2;
        r->has_sample = true;
    } else {
        uint64_t diff = r->srtt_ns > rtt_ns ? r->srtt_ns - rtt_ns : rtt_ns - r->srtt_ns;
        r->rttvar_ns = r->rttvar_ns - r->rttvar_ns / 4 + diff / 4;
        r->srtt_ns = r->srtt_ns - r->srtt_ns / 8 + rtt_ns / 8;
    }
    uint64_t var = MAX(LINK_RTO_GRANULARITY_NS, 4 * r->rttvar_ns);
    r->base_ns = clamp_u64(r->srtt_ns + var + r->ack_delay_ns, r->rto_min_ns, r->rto_max_ns);
    r->backoff_shift = 0;
}

void link_rto_backoff(struct link_rto *r)
{
    if (r->backoff_shift < LINK_RTO_BACKOFF_SHIFT_MAX) {
        r->backoff_shift++;
    }
}

void link_rto_clear_backoff(struct link_rto *r) { r->backoff_shift = 0; }

uint64_t link_rto_current_ns(const struct link_rto *r)
{
    uint64_t v = r->base_ns;
    for (uint32_t i = 0; i < r->backoff_shift && v < r->rto_max_ns; i++) {
        v *= 2;
    }
    return MIN(v, r->rto_max_ns);
}
