/* The sender half of a link: the bounded queue of unsent messages, fragmentation,
 * in-flight fragments, cumulative and selective acknowledgement processing, loss
 * detection (RACK-style: a fragment is lost once one transmitted LINK_REORDER_THRESHOLD
 * transmissions after it is acknowledged; early retransmit for a small flight with
 * nothing new to send), tail-loss probes, AIMD congestion control and flow control.
 *
 * Heavy random loss is not congestion, and the sender must not let it look like a dead
 * path: the window is cut once per loss episode (not once per lost fragment) and never
 * below LINK_CWND_FLOOR_FRAGMENTS, so SACK evidence keeps finding holes; a tail-loss probe
 * turns a lost tail into SACK evidence after 2 SRTT instead of an RTO; and an ack of new
 * data clears the RTO backoff. Only when the probe too goes unanswered does the RTO fire.
 *
 * Sequence numbers are assigned when a fragment is first transmitted, so "unsent" is
 * precise: a message in the queue has no sequence number and can be dropped (overflow)
 * or carried to a new channel (peer restart) without a hole. In-flight fragments live in
 * a ring indexed by seq % window_fragments_max and point into their message's bytes;
 * a message is freed when its last fragment is cumulatively acknowledged. */
#include <stdlib.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "link/link_internal.h"

static struct link_msg *ring_at(const struct link_msg_ring *r, uint32_t i)
{
    ASSERT(i < r->count);
    return &r->items[(r->head + i) % r->cap];
}

static struct link_msg *ring_push(struct link_msg_ring *r)
{
    ASSERT(r->count < r->cap);
    r->count++;
    return ring_at(r, r->count - 1);
}

static void ring_pop(struct link_msg_ring *r)
{
    ASSERT(r->count > 0);
    r->head = (r->head + 1) % r->cap;
    r->count--;
}

static uint8_t *msg_copy_alloc(const void *msg, size_t len)
{
    if (len == 0) {
        return NULL;
    }
    uint8_t *p = malloc(len);
    if (p != NULL) {
        memcpy(p, msg, len);
    }
    return p;
}

static void msg_free(struct link_msg *m)
{
    free(m->data);
    m->data = NULL;
}

void link_msg_ring_free(struct link_msg_ring *r)
{
    while (r->count > 0) {
        msg_free(ring_at(r, 0));
        ring_pop(r);
    }
    free(r->items);
    r->items = NULL;
}

static struct link_sfrag *sfrag(const struct link *l, uint64_t seq)
{
    return &l->sfrags[seq % l->cfg.window_fragments_max];
}

static bool msg_fully_cut(const struct link_msg *m) { return m->started && m->sent_bytes == m->len; }

uint32_t link_send_in_flight(const struct link *l) { return (uint32_t)(l->snd_nxt - l->snd_una); }

/* Congestion control counts record bytes in units of one full-size fragment
 * (link_unit_bytes: what a datagram's records can hold), as TCP counts bytes in units of
 * its segment size: a full-size fragment weighs one unit, fifteen coalesced 64-byte
 * messages about one. */
static uint32_t weight_bytes(const struct link_sfrag *f) { return f->len + LINK_DATA_HEADER_SIZE; }

/* The flight in units, rounded up: at least one whenever anything is in flight. */
static uint32_t flight_units(const struct link *l)
{
    uint64_t unit = link_unit_bytes(l);
    return (uint32_t)((l->flight_bytes + unit - 1) / unit);
}

/* RFC 6675's pipe: bytes in flight, not known to have arrived nor marked lost. */
static bool pipe_full(const struct link *l)
{
    uint64_t pipe = l->flight_bytes - l->sacked_bytes - l->lost_bytes;
    return pipe >= (uint64_t)l->cwnd * link_unit_bytes(l);
}

/* Sets one of a fragment's flags, keeping the count and the bytes of its set in step. */
static void flag_set(bool *flag, uint32_t *count, uint64_t *bytes, uint32_t weight, bool on)
{
    if (*flag == on) {
        return;
    }
    *flag = on;
    *count += on ? 1 : -1u;
    *bytes += on ? weight : -(uint64_t)weight;
}

static void set_sacked(struct link *l, struct link_sfrag *f, bool sacked)
{
    flag_set(&f->sacked, &l->sacked_count, &l->sacked_bytes, weight_bytes(f), sacked);
}

static void set_lost(struct link *l, struct link_sfrag *f, bool lost)
{
    flag_set(&f->lost, &l->lost_count, &l->lost_bytes, weight_bytes(f), lost);
}

/* Drops the oldest unsent message, counted: overflow prefers the newest messages. */
static void queue_drop_oldest(struct link *l)
{
    struct link_msg *m = ring_at(&l->queue, 0);
    l->queue_bytes -= m->len;
    l->counters.queue_overflow_messages++;
    l->counters.queue_overflow_bytes += m->len;
    msg_free(m);
    ring_pop(&l->queue);
}

int link_send_queue(struct link *l, const void *msg, size_t len)
{
    if (len > l->cfg.message_size_max || len > l->cfg.send_queue_bytes_max) {
        return ERR_TOO_LARGE;
    }
    uint8_t *copy = msg_copy_alloc(msg, len);
    if (len != 0 && copy == NULL) {
        return ERR_NOMEM;
    }
    while (l->queue.count == l->queue.cap || l->queue_bytes + len > l->cfg.send_queue_bytes_max) {
        queue_drop_oldest(l);
    }
    struct link_msg *m = ring_push(&l->queue);
    memset(m, 0, sizeof *m);
    m->data = copy;
    m->len = (uint32_t)len;
    l->queue_bytes += len;
    l->counters.messages_queued++;
    return 0;
}

void link_send_reset(struct link *l)
{
    while (l->started.count > 0) {
        msg_free(ring_at(&l->started, 0));
        ring_pop(&l->started);
        l->counters.messages_abandoned++;
    }
    l->snd_una = 1;
    l->snd_nxt = 1;
    l->sacked_count = 0;
    l->lost_count = 0;
    l->flight_bytes = 0;
    l->sacked_bytes = 0;
    l->lost_bytes = 0;
    l->acked_tx_order_max = 0;
    l->rtt_min_ns = UINT64_MAX;
    l->cwnd = l->cfg.cwnd_initial_fragments;
    l->cwnd_acked_bytes = 0;
    l->ssthresh = l->cfg.window_fragments_max;
    l->recovery_end = 0;
    l->probe_armed = false;
    l->probe_pending = false;
    l->probe_sent = false;
    l->peer_window = l->cfg.cwnd_initial_fragments;
    link_rto_clear_backoff(&l->rto);
}

/* The tail-loss probe timeout, 2 SRTT (RFC 8985 §7.2). The peer acknowledges at once as
 * soon as more than one full-size fragment's worth of records is unacknowledged (link.c's
 * schedule_ack), so only a flight of at most that much can find its ack held back: then
 * the probe also waits out the peer's ack delay (RFC 8985's WCDelAckT; both ends run one
 * config), so a peer that acks at its deadline is not probed. */
static uint64_t probe_timeout_ns(const struct link *l)
{
    uint64_t pto = MAX(2 * l->rto.srtt_ns, LINK_RTO_GRANULARITY_NS);
    if (l->flight_bytes <= link_unit_bytes(l)) {
        pto += l->cfg.ack_delay_ns;
    }
    return pto;
}

/* Arms the timer for what is outstanding: a tail-loss probe when an RTT is known, no
 * probe is out in this episode and it comes before the RTO; otherwise the RTO. */
static void arm_timer(struct link *l, uint64_t now_ns)
{
    l->probe_armed = false;
    if (link_send_in_flight(l) == 0) {
        l->timer_ns = 0;
        return;
    }
    uint64_t rto = link_rto_current_ns(&l->rto);
    if (l->rto.has_sample && !l->probe_sent) {
        uint64_t pto = probe_timeout_ns(l);
        if (pto < rto) {
            l->timer_ns = now_ns + pto;
            l->probe_armed = true;
            return;
        }
    }
    l->timer_ns = now_ns + rto;
}

/* Notes one transmission of f, in the datagram being composed, and arms the timer if it
 * is idle (RFC 6298 §5.1). */
static void transmit(struct link *l, struct link_sfrag *f, uint64_t now_ns)
{
    f->tx_count++;
    f->tx_order = l->tx_order + 1;
    f->sent_ns = now_ns;
    if (l->timer_ns == 0) {
        arm_timer(l, now_ns);
    }
}

static void fill_frag(struct link_frag *d, uint64_t seq, const struct link_sfrag *f)
{
    d->seq = seq;
    d->msg_len = f->msg_len;
    d->offset = f->offset;
    d->len = f->len;
    d->data = f->data;
}

static void retransmit(struct link *l, uint64_t seq, uint64_t now_ns, struct link_frag *d)
{
    struct link_sfrag *f = sfrag(l, seq);
    set_lost(l, f, false);
    transmit(l, f, now_ns);
    fill_frag(d, seq, f);
    l->counters.fragments_retransmitted++;
}

static uint64_t first_lost(const struct link *l)
{
    for (uint64_t seq = l->snd_una; seq < l->snd_nxt; seq++) {
        if (sfrag(l, seq)->lost) {
            return seq;
        }
    }
    UNREACHABLE();
}

/* The message to cut the next fragment from, starting the oldest unsent one if needed;
 * NULL when there is nothing new to send. */
static struct link_msg *next_message(struct link *l)
{
    if (l->started.count > 0) {
        struct link_msg *last = ring_at(&l->started, l->started.count - 1);
        if (!msg_fully_cut(last)) {
            return last;
        }
    }
    if (l->queue.count == 0) {
        return NULL;
    }
    struct link_msg *m = ring_push(&l->started);
    *m = *ring_at(&l->queue, 0);
    ring_pop(&l->queue);
    l->queue_bytes -= m->len;
    m->started = true;
    return m;
}

static void send_new_fragment(struct link *l, uint64_t now_ns, struct link_msg *m,
                              struct link_frag *d)
{
    uint64_t seq = l->snd_nxt++;
    struct link_sfrag *f = sfrag(l, seq);
    memset(f, 0, sizeof *f);
    f->msg_len = m->len;
    f->offset = m->sent_bytes;
    f->len = MIN(l->frag_size_max, m->len - m->sent_bytes);
    f->data = m->data == NULL ? NULL : m->data + m->sent_bytes;
    m->sent_bytes += f->len;
    m->seq_end = l->snd_nxt;
    l->flight_bytes += weight_bytes(f);
    transmit(l, f, now_ns);
    fill_frag(d, seq, f);
    l->counters.fragments_sent++;
}

static bool window_allows_new(const struct link *l)
{
    uint32_t in_flight = link_send_in_flight(l);
    if (in_flight >= l->cfg.window_fragments_max) {
        return false;
    }
    /* With nothing in flight one fragment may probe a closed window. */
    return in_flight < l->peer_window || in_flight == 0;
}

/* The length of the next new fragment, or UINT32_MAX when nothing is unsent. */
static uint32_t next_new_len(const struct link *l)
{
    if (l->started.count > 0) {
        const struct link_msg *m = ring_at(&l->started, l->started.count - 1);
        if (!msg_fully_cut(m)) {
            return MIN(l->frag_size_max, m->len - m->sent_bytes);
        }
    }
    if (l->queue.count > 0) {
        return MIN(l->frag_size_max, ring_at(&l->queue, 0)->len);
    }
    return UINT32_MAX;
}

static bool has_unsent(const struct link *l) { return next_new_len(l) != UINT32_MAX; }

/* The newest fragment in flight not known to have arrived; when every one is SACKed, the
 * one at snd_una, whose SACK is advisory (see on_timeout). */
static uint64_t probe_seq(struct link *l)
{
    for (uint64_t seq = l->snd_nxt; seq > l->snd_una; seq--) {
        if (!sfrag(l, seq - 1)->sacked) {
            return seq - 1;
        }
    }
    set_sacked(l, sfrag(l, l->snd_una), false);
    return l->snd_una;
}

/* The tail-loss probe (RFC 8985 §7.3): new data if the peer's window allows, otherwise a
 * resend of the newest fragment not known to have arrived. Either way its ack brings
 * SACK evidence about the fragments before it. Not limited by cwnd. */
static void send_probe(struct link *l, uint64_t now_ns, struct link_frag *d)
{
    if (has_unsent(l) && window_allows_new(l)) {
        send_new_fragment(l, now_ns, next_message(l), d);
        return;
    }
    retransmit(l, probe_seq(l), now_ns, d);
}

/* Picks the next fragment the windows allow, lost ones first, if its bytes fit in
 * room_bytes; false when there is none or it does not fit (order is kept: nothing later
 * jumps ahead of it). */
static bool next_fragment(struct link *l, uint64_t now_ns, struct link_frag *d, uint32_t room_bytes)
{
    if (pipe_full(l)) {
        return false;
    }
    if (l->lost_count > 0) {
        uint64_t seq = first_lost(l);
        if (sfrag(l, seq)->len > room_bytes) {
            return false;
        }
        retransmit(l, seq, now_ns, d);
        return true;
    }
    if (!window_allows_new(l) || next_new_len(l) > room_bytes) {
        return false;
    }
    send_new_fragment(l, now_ns, next_message(l), d);
    return true;
}

/* Fills d with the fragments to send now: a pending tail-loss probe, then whatever the
 * windows allow, coalesced while whole fragments fit in the space of one full-size
 * fragment (LINK_DATA_HEADER_SIZE + frag_size_max bytes of records), so a burst of small
 * messages leaves in one datagram. Every fragment in it shares one transmission number.
 * Returns how many (0: nothing to send now). */
uint32_t link_send_fill(struct link *l, uint64_t now_ns, struct link_datagram *d)
{
    uint32_t budget = l->frag_size_max + LINK_DATA_HEADER_SIZE;
    d->frags_count = 0;
    if (l->probe_pending && link_send_in_flight(l) > 0) {
        send_probe(l, now_ns, &d->frags[d->frags_count++]);
        l->counters.tail_probes++;
        budget -= LINK_DATA_HEADER_SIZE + d->frags[0].len;
    }
    l->probe_pending = false;
    while (d->frags_count < l->cfg.datagram_fragments_max && budget >= LINK_DATA_HEADER_SIZE &&
           next_fragment(l, now_ns, &d->frags[d->frags_count], budget - LINK_DATA_HEADER_SIZE)) {
        budget -= LINK_DATA_HEADER_SIZE + d->frags[d->frags_count].len;
        d->frags_count++;
    }
    if (d->frags_count > 0) {
        l->tx_order++;
    }
    return d->frags_count;
}

/* Cuts the window once per loss episode (RFC 5681 §3.2, RFC 6675): every loss found
 * before snd_una passes the point where the episode began belongs to the same episode.
 * The cut stops at LINK_CWND_FLOOR_FRAGMENTS (link.h says why). */
static void enter_recovery(struct link *l)
{
    if (l->snd_una < l->recovery_end) {
        return;
    }
    l->ssthresh = MAX(flight_units(l) / 2, (uint32_t)LINK_CWND_FLOOR_FRAGMENTS);
    l->cwnd = l->ssthresh;
    l->cwnd_acked_bytes = 0;
    l->recovery_end = l->snd_nxt;
}

/* How many later transmissions must be acknowledged before a fragment counts as lost.
 * With nothing new to send and a flight too small to produce that many, early retransmit
 * (RFC 5827) lowers it to one less than the flight, so a lost fragment near the tail is
 * resent on SACK evidence instead of waiting for a timer. */
static uint32_t reorder_threshold(const struct link *l)
{
    uint32_t flight = flight_units(l); /* about the datagrams a full flight takes */
    if (flight > LINK_REORDER_THRESHOLD || (has_unsent(l) && window_allows_new(l))) {
        return LINK_REORDER_THRESHOLD;
    }
    return MAX(flight, 2u) - 1;
}

static void detect_losses(struct link *l)
{
    uint32_t newly_lost = 0;
    uint32_t threshold = reorder_threshold(l);
    for (uint64_t seq = l->snd_una; seq < l->snd_nxt; seq++) {
        struct link_sfrag *f = sfrag(l, seq);
        if (!f->sacked && !f->lost && f->tx_order + threshold <= l->acked_tx_order_max) {
            set_lost(l, f, true);
            newly_lost++;
        }
    }
    if (newly_lost > 0) {
        l->counters.fast_retransmits += newly_lost;
        enter_recovery(l);
    }
}

/* The probe timer fired: send one probe and leave the RTO to catch what it does not. */
static void on_probe_timer(struct link *l, uint64_t now_ns)
{
    l->probe_sent = true;
    l->probe_pending = true;
    arm_timer(l, now_ns);
}

static void on_timeout(struct link *l, uint64_t now_ns)
{
    l->counters.timeouts++;
    /* SACK information is advisory (RFC 2018 §8): the fragment at snd_una is resent even if
     * it was selectively acknowledged, since the receiver may hold it unconsumed behind a
     * full delivery queue, and its window update may have been lost. Without this the
     * sender could wait forever with only SACKed fragments outstanding. */
    set_sacked(l, sfrag(l, l->snd_una), false);
    for (uint64_t seq = l->snd_una; seq < l->snd_nxt; seq++) {
        struct link_sfrag *f = sfrag(l, seq);
        if (!f->sacked) {
            set_lost(l, f, true);
        }
    }
    /* RFC 5681 restarts from one fragment; we restart from the floor, where SACK evidence
     * can work again, because on our paths a timeout far more often means random loss of
     * a small flight (or of its acks) than a congested path. */
    l->ssthresh = MAX(flight_units(l) / 2, (uint32_t)LINK_CWND_FLOOR_FRAGMENTS);
    l->cwnd = LINK_CWND_FLOOR_FRAGMENTS;
    l->cwnd_acked_bytes = 0;
    l->recovery_end = l->snd_nxt;
    l->probe_pending = false;
    link_rto_backoff(&l->rto);
    l->probe_sent = true; /* no probe until new data is acknowledged */
    arm_timer(l, now_ns);
}

void link_send_on_timer(struct link *l, uint64_t now_ns)
{
    ASSERT(link_send_in_flight(l) > 0);
    if (l->probe_armed) {
        on_probe_timer(l, now_ns);
    } else {
        on_timeout(l, now_ns);
    }
}

/* What one acknowledgement taught us, gathered while walking the fragments it covers. */
struct ack_effect {
    uint64_t now_ns;
    uint32_t newly_acked;
    uint64_t newly_acked_bytes;
    uint64_t sample_sent_ns; /* latest send time among the newly acknowledged fragments */
    bool has_sample;         /* some were newly acknowledged and the latest went once */
};

/* The least time in which a copy sent now can come back acknowledged: the smallest RTT
 * seen, or half the smoothed RTT when queues make every round trip longer than that. */
static uint64_t rtt_floor_ns(const struct link *l)
{
    return MAX(l->rtt_min_ns, l->rto.srtt_ns / 2);
}

/* The RTT sample is the age of the most recently sent fragment the ack newly covers, and
 * only when that one was sent once (Karn). Taking the newest fragment sent once instead
 * is wrong after a loss: the ack that the retransmission of a hole brings also covers
 * old fragments that arrived long ago and were never SACKed (their ranges did not fit),
 * and their age, seconds under heavy loss, once drove SRTT to 256 ms and the RTO to its
 * cap on a path with a 10 ms round trip. */
static void note_arrival(struct link *l, const struct link_sfrag *f, struct ack_effect *e)
{
    if (e->newly_acked == 0 || f->sent_ns > e->sample_sent_ns) {
        e->sample_sent_ns = f->sent_ns;
        e->has_sample = f->tx_count == 1;
    } else if (f->sent_ns == e->sample_sent_ns && f->tx_count != 1) {
        e->has_sample = false; /* a retransmission in the same datagram */
    }
    e->newly_acked++;
    e->newly_acked_bytes += weight_bytes(f);
    /* Which copy of a resent fragment arrived is ambiguous. If the latest copy cannot have
     * made the round trip yet, an earlier one did, and taking the latest transmission's
     * number would mark everything sent before it lost: after one spurious resend, every
     * late ack of an original caused more, a storm of 5 resends per fragment under 25%
     * loss. RFC 8985 §6.2 step 2 rejects such a copy the same way (with the minimum RTT). */
    bool latest_arrived = f->tx_count == 1 || l->rtt_min_ns == UINT64_MAX ||
                          (e->now_ns >= f->sent_ns && e->now_ns - f->sent_ns >= rtt_floor_ns(l));
    if (latest_arrived) {
        l->acked_tx_order_max = MAX(l->acked_tx_order_max, f->tx_order);
    }
}

static void apply_cumulative(struct link *l, uint64_t ack_cum, struct ack_effect *e)
{
    for (uint64_t seq = l->snd_una; seq < ack_cum; seq++) {
        struct link_sfrag *f = sfrag(l, seq);
        if (!f->sacked) {
            note_arrival(l, f, e);
        }
        set_sacked(l, f, false);
        set_lost(l, f, false);
        l->flight_bytes -= weight_bytes(f);
    }
    l->snd_una = ack_cum;
    while (l->started.count > 0) {
        struct link_msg *m = ring_at(&l->started, 0);
        if (!msg_fully_cut(m) || m->seq_end > l->snd_una) {
            break;
        }
        msg_free(m);
        ring_pop(&l->started);
        l->counters.messages_acked++;
    }
}

static void apply_sacks(struct link *l, const struct link_datagram *d, struct ack_effect *e)
{
    for (uint32_t i = 0; i < d->sacks_count; i++) {
        uint64_t start = MAX(d->sacks[i].start, l->snd_una);
        uint64_t end = MIN(d->sacks[i].end, l->snd_nxt);
        for (uint64_t seq = start; seq < end; seq++) {
            struct link_sfrag *f = sfrag(l, seq);
            if (f->sacked) {
                continue;
            }
            set_sacked(l, f, true);
            set_lost(l, f, false);
            note_arrival(l, f, e);
        }
    }
}

/* Slow start below ssthresh, then +1 fragment per window acknowledged (RFC 5681). */
static void grow_cwnd(struct link *l, uint64_t newly_acked_bytes)
{
    uint64_t unit = link_unit_bytes(l);
    l->cwnd_acked_bytes += newly_acked_bytes;
    while (l->cwnd < l->ssthresh && l->cwnd_acked_bytes >= unit) {
        l->cwnd_acked_bytes -= unit; /* slow start: one unit per unit acknowledged */
        l->cwnd++;
    }
    if (l->cwnd < l->ssthresh) {
        return;
    }
    while (l->cwnd_acked_bytes >= (uint64_t)l->cwnd * unit) {
        l->cwnd_acked_bytes -= (uint64_t)l->cwnd * unit; /* avoidance: one per window */
        l->cwnd++;
    }
    l->cwnd = MIN(l->cwnd, l->cfg.window_fragments_max);
}

enum link_drop link_send_on_ack(struct link *l, uint64_t now_ns, const struct link_datagram *d)
{
    if (d->ack_cum == 0 || d->ack_cum > l->snd_nxt) {
        return LINK_DROP_BAD_ACK;
    }
    if (d->ack_cum < l->snd_una) {
        return LINK_DROP_NONE; /* an older ack overtaken by a newer one */
    }
    struct ack_effect e = {0};
    e.now_ns = now_ns;
    bool advanced = d->ack_cum > l->snd_una;
    apply_cumulative(l, d->ack_cum, &e);
    apply_sacks(l, d, &e);
    l->peer_window = d->window_fragments;
    if (e.has_sample && now_ns >= e.sample_sent_ns) { /* a clock that stepped back: skip */
        link_rto_sample(&l->rto, now_ns - e.sample_sent_ns);
        l->rtt_min_ns = MIN(l->rtt_min_ns, now_ns - e.sample_sent_ns);
        l->counters.rtt_samples++;
    }
    if (e.newly_acked > 0) {
        grow_cwnd(l, e.newly_acked_bytes);
        detect_losses(l);
    }
    if (advanced) {
        /* New data acknowledged: the path works again, so the timeout falls back to the
         * estimate (as Linux does on snd_una advancing). Waiting for a valid sample
         * instead (RFC 6298 §5.7) stalls a lossy path: under 30% loss most fragments are
         * retransmitted, Karn's rule leaves no sample, and the backoff sat at its cap. */
        link_rto_clear_backoff(&l->rto);
        /* RFC 6298 §5.2-5.3: restart the timer for what is still outstanding; the probe
         * episode is over, so it may be a probe timer again (RFC 8985 §7.2). */
        l->probe_sent = false;
        arm_timer(l, now_ns);
    }
    return LINK_DROP_NONE;
}

void link_send_check(const struct link *l)
{
    ASSERT(l->snd_una >= 1 && l->snd_una <= l->snd_nxt);
    ASSERT(link_send_in_flight(l) <= l->cfg.window_fragments_max);
    uint32_t sacked = 0, lost = 0;
    uint64_t flight_bytes = 0, sacked_bytes = 0, lost_bytes = 0;
    for (uint64_t seq = l->snd_una; seq < l->snd_nxt; seq++) {
        const struct link_sfrag *f = sfrag(l, seq);
        ASSERT(!(f->sacked && f->lost));
        ASSERT(f->tx_count >= 1 && (uint64_t)f->offset + f->len <= f->msg_len);
        sacked += f->sacked;
        lost += f->lost;
        flight_bytes += weight_bytes(f);
        sacked_bytes += f->sacked ? weight_bytes(f) : 0;
        lost_bytes += f->lost ? weight_bytes(f) : 0;
    }
    ASSERT(sacked == l->sacked_count && lost == l->lost_count);
    ASSERT(flight_bytes == l->flight_bytes && sacked_bytes == l->sacked_bytes &&
           lost_bytes == l->lost_bytes);
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < l->queue.count; i++) {
        ASSERT(!ring_at(&l->queue, i)->started);
        bytes += ring_at(&l->queue, i)->len;
    }
    ASSERT(bytes == l->queue_bytes && l->queue.count <= l->cfg.send_queue_messages_max);
    ASSERT(l->cwnd >= 1 && l->started.count <= l->started.cap);
    ASSERT(!l->probe_armed || l->timer_ns != 0);
    ASSERT(link_send_in_flight(l) == 0 || l->timer_ns != 0);
}
