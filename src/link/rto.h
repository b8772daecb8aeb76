/* The retransmission timeout estimator of RFC 6298 (Jacobson/Karels), in nanoseconds.
 *
 * The link feeds it one round-trip sample per acknowledgement that newly covers a fragment
 * sent exactly once (Karn's rule: a retransmitted fragment's ack is ambiguous and never
 * sampled; the caller enforces that). The first sample R sets SRTT = R and
 * RTTVAR = R/2; later samples update RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R| and then
 * SRTT = 7/8 SRTT + 1/8 R. The base timeout is SRTT + max(granularity, 4 RTTVAR), clamped
 * to [rto_min_ns, rto_max_ns]; when the peer may delay its acks, its maximum ack delay is
 * added before clamping (as RFC 9002's PTO adds max_ack_delay), so that even at the
 * rto_min_ns floor the timeout never fires before an ack the peer was entitled to hold
 * back. The samples themselves are not corrected: the ack carries no measure of the delay
 * (QUIC's ACK frame does; our datagram format does not), so a sample may include up to the
 * ack delay and the estimate errs long, never short. Each expiry doubles the effective
 * timeout (exponential backoff) up to rto_max_ns; the next valid sample clears the backoff
 * (RFC 6298 §5.5-5.7), and so does the link whenever an ack covers new data (link_send.c
 * says why).
 * Pure arithmetic; depends on libc only. */
#ifndef CHORUS_LINK_RTO_H
#define CHORUS_LINK_RTO_H

#include <stdbool.h>
#include <stdint.h>

/* Clock granularity G of RFC 6298 §2: the smallest variance term we allow. */
#define LINK_RTO_GRANULARITY_NS 1000000ull
/* Backoff doublings beyond this cannot matter (rto_max_ns caps the result first). */
#define LINK_RTO_BACKOFF_SHIFT_MAX 30

struct link_rto {
    uint64_t srtt_ns;      /* smoothed round-trip time; 0 until the first sample */
    uint64_t rttvar_ns;    /* round-trip time variation */
    uint64_t base_ns;      /* timeout before backoff, clamped to [min, max] */
    uint32_t backoff_shift; /* expiries since the last valid sample */
    bool has_sample;
    uint64_t rto_min_ns;
    uint64_t rto_max_ns;
    uint64_t ack_delay_ns;  /* the peer's maximum ack delay; 0 unless set */
};

void link_rto_init(struct link_rto *r, uint64_t initial_ns, uint64_t min_ns, uint64_t max_ns);
/* Allows for a peer that may hold an ack back by up to ack_delay_ns (from the next sample). */
void link_rto_allow_ack_delay(struct link_rto *r, uint64_t ack_delay_ns);
/* Feeds one round-trip sample (never from a retransmitted fragment). */
void link_rto_sample(struct link_rto *r, uint64_t rtt_ns);
/* Records a timer expiry: the effective timeout doubles, up to rto_max_ns. */
void link_rto_backoff(struct link_rto *r);
/* Forgets the backoff but keeps the estimate (used when a peer restarts). */
void link_rto_clear_backoff(struct link_rto *r);
/* The timeout to arm now: base << backoff, capped at rto_max_ns. */
uint64_t link_rto_current_ns(const struct link_rto *r);

#endif
