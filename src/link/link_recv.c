/* The receiver half of a link: duplicate suppression, the reorder buffer, in-order
 * reassembly of fragments into messages, the delivery queue, and the acknowledgement
 * (cumulative point, SACK ranges, advertised window) that every outgoing datagram carries.
 *
 * The ack is owed at once for anything but in-order data (link_recv_on_fragment says
 * why); for in-order data it may wait up to ack_delay_ns for a datagram of ours to ride
 * on (link.c's schedule_ack).
 *
 * A fragment at rcv_nxt is consumed at once into the message being reassembled; a later
 * one waits in a slot of a preallocated pool (reassembly_bytes_max bytes, so reassembly
 * memory is fixed at creation) until the gap before it fills. A fragment that finds no
 * free slot is dropped and counted; the sender retransmits it. Consumption stops while
 * the delivery queue is full, and the advertised window is then 0, so a consumer that
 * does not pull its messages stops the sender instead of growing memory. */
#include <stdlib.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "link/link_internal.h"

static struct link_rfrag *rfrag(const struct link *l, uint64_t seq)
{
    return &l->rfrags[seq % l->cfg.window_fragments_max];
}

static uint8_t *slot_bytes(const struct link *l, uint32_t slot)
{
    ASSERT(slot < l->pool_slots);
    return l->pool_bytes + (size_t)slot * l->frag_size_max;
}

static bool delivery_full(const struct link *l)
{
    return l->deliveries_count >= l->cfg.delivery_messages_max ||
           l->delivery_bytes >= l->cfg.delivery_bytes_max;
}

static uint8_t *partial_alloc(uint32_t len)
{
    return len == 0 ? NULL : malloc(len);
}

static void partial_clear(struct link *l)
{
    free(l->partial);
    l->partial = NULL;
    l->partial_active = false;
    l->partial_len = 0;
    l->partial_filled = 0;
}

static void release_slot(struct link *l, struct link_rfrag *r)
{
    ASSERT(r->present && l->pool_free_count < l->pool_slots);
    l->pool_free[l->pool_free_count++] = r->slot;
    l->reorder_bytes -= r->len;
    r->present = false;
}

void link_recv_reset(struct link *l)
{
    for (uint64_t seq = l->rcv_nxt; seq < l->rcv_high; seq++) {
        struct link_rfrag *r = rfrag(l, seq);
        if (r->present) {
            release_slot(l, r);
        }
    }
    ASSERT(l->reorder_bytes == 0 && l->pool_free_count == l->pool_slots);
    partial_clear(l);
    l->rcv_nxt = 1;
    l->rcv_high = 1;
    l->rcv_recent = 0;
    l->rcv_unacked_bytes = 0;
    l->ack_deadline_ns = 0;
}

void link_recv_deliveries_free(struct link *l)
{
    struct link_delivery d;
    while (link_recv_pop(l, &d)) {
        link_delivery_free(&d);
    }
    partial_clear(l);
}

static void push_delivery(struct link *l)
{
    ASSERT(l->deliveries_count < l->cfg.delivery_messages_max);
    uint32_t i = (l->deliveries_head + l->deliveries_count) % l->cfg.delivery_messages_max;
    l->deliveries[i].data = l->partial;
    l->deliveries[i].len = l->partial_len;
    l->deliveries[i].peer_incarnation = l->peer_incarnation;
    l->deliveries_count++;
    l->delivery_bytes += l->partial_len;
    l->partial = NULL;
    l->partial_active = false;
}

/* Appends the fragment at rcv_nxt to the message being reassembled. Returns 0 when it was
 * consumed (rcv_nxt may advance) or ERR_NOMEM (it must wait). A fragment that does not
 * continue the message in progress is a peer bug: the partial message is discarded. */
static int consume(struct link *l, uint32_t msg_len, uint32_t offset, uint32_t len,
                   const uint8_t *data)
{
    if (l->partial_active && (msg_len != l->partial_len || offset != l->partial_filled)) {
        partial_clear(l);
        l->counters.reassembly_aborted++;
    }
    if (!l->partial_active) {
        if (offset != 0) {
            l->counters.reassembly_aborted++;
            return 0; /* the tail of a message whose head we never had: skip it */
        }
        l->partial = partial_alloc(msg_len);
        if (msg_len != 0 && l->partial == NULL) {
            return ERR_NOMEM;
        }
        l->partial_active = true;
        l->partial_len = msg_len;
        l->partial_filled = 0;
    }
    if (len != 0) {
        memcpy(l->partial + l->partial_filled, data, len);
    }
    l->partial_filled += len;
    if (l->partial_filled == l->partial_len) {
        push_delivery(l);
    }
    return 0;
}

/* Consumes held fragments from rcv_nxt onward while they are contiguous. */
static void drain(struct link *l)
{
    while (!delivery_full(l)) {
        struct link_rfrag *r = rfrag(l, l->rcv_nxt);
        if (!r->present) {
            break;
        }
        if (consume(l, r->msg_len, r->offset, r->len, slot_bytes(l, r->slot)) != 0) {
            break;
        }
        release_slot(l, r);
        l->rcv_nxt++;
    }
    l->rcv_high = MAX(l->rcv_high, l->rcv_nxt);
}

static enum link_drop hold(struct link *l, const struct link_frag *d)
{
    if (l->pool_free_count == 0 || d->len > l->frag_size_max) {
        return LINK_DROP_REASSEMBLY_FULL;
    }
    struct link_rfrag *r = rfrag(l, d->seq);
    r->slot = l->pool_free[--l->pool_free_count];
    r->present = true;
    r->msg_len = d->msg_len;
    r->offset = d->offset;
    r->len = d->len;
    if (d->len != 0) {
        memcpy(slot_bytes(l, r->slot), d->data, d->len);
    }
    l->reorder_bytes += d->len;
    l->rcv_high = MAX(l->rcv_high, d->seq + 1);
    l->rcv_recent = d->seq;
    return LINK_DROP_NONE;
}

/* Takes the fragment at rcv_nxt. One that fills the gap before held fragments is the
 * sender's retransmission (or probe): acknowledged at once (RFC 5681 §4.2), the sender is
 * recovering. Otherwise the ack may wait (link.c's schedule_ack). */
static void take_in_order(struct link *l, const struct link_frag *d)
{
    l->ack_pending |= l->rcv_high > l->rcv_nxt;
    l->rcv_nxt++;
    l->counters.fragments_received++;
    l->rcv_unacked_bytes += LINK_DATA_HEADER_SIZE + d->len;
    drain(l);
}

/* Every case but in-order data in an open window is acknowledged at once (ack_pending):
 * a duplicate, because our earlier ack may have been lost or the sender is probing; a
 * fragment out of order or refused, because the sender needs the SACK ranges and window
 * for fast and early retransmit (RFC 5681 §4.2, RFC 9000 §13.2.1). */
enum link_drop link_recv_on_fragment(struct link *l, const struct link_frag *d)
{
    if (LINK_MUTANT(l, LINK_MUTANT_NO_DUPLICATE_SUPPRESSION) && d->seq < l->rcv_nxt &&
        !delivery_full(l)) {
        l->ack_pending = true;
        (void)consume(l, d->msg_len, d->offset, d->len, d->data);
        return LINK_DROP_NONE;
    }
    if (d->seq < l->rcv_nxt || (d->seq - l->rcv_nxt < l->cfg.window_fragments_max &&
                                rfrag(l, d->seq)->present)) {
        l->ack_pending = true;
        l->counters.fragments_duplicate++;
        if (d->seq >= l->rcv_nxt) {
            /* Report it again (as RFC 2883 would): the sender resent it because it never
             * heard of it, and would keep resending it while it stays unreported. */
            l->rcv_recent = d->seq;
        }
        return LINK_DROP_NONE;
    }
    if (d->seq == l->rcv_nxt && !delivery_full(l) &&
        consume(l, d->msg_len, d->offset, d->len, d->data) == 0) {
        take_in_order(l, d);
        return LINK_DROP_NONE;
    }
    l->ack_pending = true;
    if (d->seq - l->rcv_nxt >= l->cfg.window_fragments_max) {
        return LINK_DROP_OUT_OF_WINDOW;
    }
    enum link_drop why = hold(l, d);
    if (why == LINK_DROP_NONE) {
        l->counters.fragments_received++;
    }
    return why;
}

static uint32_t advertised_window(const struct link *l)
{
    if (delivery_full(l)) {
        return 0;
    }
    /* The fragment at rcv_nxt needs no slot; every later one needs one. */
    return MIN(l->cfg.window_fragments_max, l->pool_slots + 1);
}

/* Finds the next range of held fragments at or after *seq, below rcv_high; leaves *seq at
 * its end. False when there is none. */
static bool next_range(const struct link *l, uint64_t *seq, struct link_sack *out)
{
    while (*seq < l->rcv_high && !rfrag(l, *seq)->present) {
        (*seq)++;
    }
    if (*seq >= l->rcv_high) {
        return false;
    }
    out->start = *seq;
    while (*seq < l->rcv_high && rfrag(l, *seq)->present) {
        (*seq)++;
    }
    out->end = *seq;
    return true;
}

void link_recv_fill_ack(const struct link *l, struct link_datagram *d, uint32_t sacks_max)
{
    d->ack_cum = l->rcv_nxt + (LINK_MUTANT(l, LINK_MUTANT_ACK_AHEAD) && l->rcv_nxt > 1);
    d->window_fragments = advertised_window(l);
    d->sacks_count = 0;
    if (LINK_MUTANT(l, LINK_MUTANT_ACK_AHEAD)) {
        return;
    }
    /* The lowest ranges, and the range of the most recent arrival when it lies above
     * them (RFC 2018 §4 reports that one first; our ranges must ascend, so it goes last):
     * when there are more holes than ranges fit, the sender still hears of every
     * arrival, and does not take fragments that arrived, but were never reported, for
     * lost and resend them all. */
    bool recent = l->rcv_recent > l->rcv_nxt && l->rcv_recent < l->rcv_high &&
                  rfrag(l, l->rcv_recent)->present && sacks_max >= 2;
    uint64_t seq = l->rcv_nxt + 1;
    while (d->sacks_count < sacks_max - recent && next_range(l, &seq, &d->sacks[d->sacks_count])) {
        d->sacks_count++;
    }
    if (!recent) {
        return;
    }
    if (l->rcv_recent < seq) { /* among the lowest: the last slot takes the next one */
        d->sacks_count += next_range(l, &seq, &d->sacks[d->sacks_count]);
        return;
    }
    uint64_t start = l->rcv_recent; /* above them: its own range, not touching theirs */
    while (start - 1 > seq && rfrag(l, start - 1)->present) {
        start--;
    }
    uint64_t end = start;
    d->sacks_count += next_range(l, &end, &d->sacks[d->sacks_count]);
}

bool link_recv_pop(struct link *l, struct link_delivery *out)
{
    if (l->deliveries_count == 0) {
        return false;
    }
    bool was_full = delivery_full(l);
    *out = l->deliveries[l->deliveries_head];
    l->deliveries_head = (l->deliveries_head + 1) % l->cfg.delivery_messages_max;
    l->deliveries_count--;
    l->delivery_bytes -= out->len;
    l->counters.messages_delivered++;
    l->counters.bytes_delivered += out->len;
    if (was_full && !delivery_full(l)) {
        drain(l);
        l->ack_pending = true; /* the window reopened: tell the sender */
    }
    return true;
}

void link_recv_check(const struct link *l)
{
    ASSERT(l->rcv_nxt >= 1 && l->rcv_high >= l->rcv_nxt);
    ASSERT(l->rcv_high - l->rcv_nxt <= l->cfg.window_fragments_max);
    uint64_t bytes = 0;
    uint32_t held = 0;
    for (uint64_t seq = l->rcv_nxt; seq < l->rcv_high; seq++) {
        const struct link_rfrag *r = rfrag(l, seq);
        if (r->present) {
            held++;
            bytes += r->len;
        }
    }
    ASSERT(bytes == l->reorder_bytes && held + l->pool_free_count == l->pool_slots);
    ASSERT(!l->partial_active || l->partial_filled < l->partial_len);
    ASSERT(l->deliveries_count <= l->cfg.delivery_messages_max);
    /* An ack owed is never forgotten: it is due now or has its deadline. */
    ASSERT(l->ack_pending || l->rcv_unacked_bytes == 0 || l->ack_deadline_ns != 0);
    ASSERT(l->ack_pending || l->rcv_unacked_bytes <= link_unit_bytes(l));
}
