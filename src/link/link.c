/* The link's lifecycle, its incarnation logic, its timer and the scheduling of outgoing
 * datagrams; the sender and receiver halves are in link_send.c and link_recv.c, the
 * datagram format in datagram.h. The rules are in link.h and docs/link.md. */
#include <sodium.h>
#include <stdlib.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "link/link_internal.h"

void link_config_defaults(struct link_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->mtu_bytes = LINK_DEFAULT_MTU_BYTES;
    cfg->message_size_max = LINK_DEFAULT_MESSAGE_SIZE_MAX;
    cfg->send_queue_messages_max = LINK_DEFAULT_SEND_QUEUE_MESSAGES_MAX;
    cfg->send_queue_bytes_max = LINK_DEFAULT_SEND_QUEUE_BYTES_MAX;
    cfg->window_fragments_max = LINK_DEFAULT_WINDOW_FRAGMENTS_MAX;
    cfg->reassembly_bytes_max = LINK_DEFAULT_REASSEMBLY_BYTES_MAX;
    cfg->delivery_messages_max = LINK_DEFAULT_DELIVERY_MESSAGES_MAX;
    cfg->delivery_bytes_max = LINK_DEFAULT_DELIVERY_BYTES_MAX;
    cfg->cwnd_initial_fragments = LINK_DEFAULT_CWND_INITIAL_FRAGMENTS;
    cfg->datagram_fragments_max = LINK_DATAGRAM_FRAGMENTS_MAX;
    cfg->rto_initial_ns = LINK_DEFAULT_RTO_INITIAL_NS;
    cfg->rto_min_ns = LINK_DEFAULT_RTO_MIN_NS;
    cfg->rto_max_ns = LINK_DEFAULT_RTO_MAX_NS;
    cfg->ack_delay_ns = LINK_DEFAULT_ACK_DELAY_NS;
}

int link_config_check(const struct link_config *cfg)
{
    bool ok = cfg->local_incarnation != 0 && cfg->local_id != cfg->peer_id &&
              cfg->mtu_bytes >= LINK_MTU_MIN && cfg->mtu_bytes <= LINK_MTU_MAX &&
              cfg->message_size_max >= 1 && cfg->message_size_max <= FRAME_PAYLOAD_SIZE_MAX * 64u &&
              cfg->send_queue_messages_max >= 1 && cfg->send_queue_bytes_max >= 1 &&
              cfg->window_fragments_max >= 1 &&
              cfg->window_fragments_max <= LINK_WINDOW_FRAGMENTS_MAX &&
              cfg->delivery_messages_max >= 1 && cfg->delivery_bytes_max >= 1 &&
              cfg->cwnd_initial_fragments >= 1 && cfg->datagram_fragments_max >= 1 &&
              cfg->datagram_fragments_max <= LINK_DATAGRAM_FRAGMENTS_MAX && cfg->rto_min_ns >= 1 &&
              cfg->rto_min_ns <= cfg->rto_max_ns && cfg->ack_delay_ns <= LINK_ACK_DELAY_MAX_NS &&
              cfg->ack_delay_ns < cfg->rto_max_ns && cfg->mutant < LINK_MUTANT_COUNT_;
    return ok ? 0 : ERR_INVALID;
}

static uint32_t pool_slots_for(const struct link_config *cfg, uint32_t frag_size_max)
{
    uint64_t slots = cfg->reassembly_bytes_max / frag_size_max;
    slots = MIN(slots, (uint64_t)cfg->window_fragments_max);
    return (uint32_t)MAX(slots, 1u);
}

static int link_buffers_alloc(struct link *l)
{
    const struct link_config *cfg = &l->cfg;
    l->queue.cap = cfg->send_queue_messages_max;
    l->queue.items = calloc(l->queue.cap, sizeof *l->queue.items);
    l->started.cap = cfg->window_fragments_max + 1;
    l->started.items = calloc(l->started.cap, sizeof *l->started.items);
    l->sfrags = calloc(cfg->window_fragments_max, sizeof *l->sfrags);
    l->rfrags = calloc(cfg->window_fragments_max, sizeof *l->rfrags);
    l->pool_slots = pool_slots_for(cfg, l->frag_size_max);
    l->pool_bytes = malloc((size_t)l->pool_slots * l->frag_size_max);
    l->pool_free = calloc(l->pool_slots, sizeof *l->pool_free);
    l->deliveries = calloc(cfg->delivery_messages_max, sizeof *l->deliveries);
    l->scratch = cfg->sealed ? malloc(LINK_MTU_MAX) : NULL;
    if (l->queue.items == NULL || l->started.items == NULL || l->sfrags == NULL ||
        l->rfrags == NULL || l->pool_bytes == NULL || l->pool_free == NULL ||
        l->deliveries == NULL || (cfg->sealed && l->scratch == NULL)) {
        return ERR_NOMEM;
    }
    for (uint32_t i = 0; i < l->pool_slots; i++) {
        l->pool_free[i] = i;
    }
    l->pool_free_count = l->pool_slots;
    return 0;
}

int link_create(const struct link_config *cfg, struct link **out)
{
    *out = NULL;
    if (link_config_check(cfg) != 0) {
        return ERR_INVALID;
    }
    /* Selects libsodium's fastest implementations; idempotent and safe to repeat. */
    if (cfg->sealed && sodium_init() < 0) {
        return ERR_NOMEM;
    }
    struct link *l = calloc(1, sizeof *l);
    if (l == NULL) {
        return ERR_NOMEM;
    }
    l->cfg = *cfg;
    l->codec.cluster_id = cfg->cluster_id;
    l->codec.mtu_bytes = cfg->mtu_bytes;
    l->codec.message_size_max = cfg->message_size_max;
    l->codec.sealed = cfg->sealed;
    memcpy(l->codec.key, cfg->key, LINK_KEY_SIZE);
    l->frag_size_max = link_codec_fragment_size_max(&l->codec);
    int rc = link_buffers_alloc(l);
    if (rc != 0) {
        link_destroy(l);
        return rc;
    }
    l->tx_counter_src = &l->tx_counter;
    link_rto_init(&l->rto, cfg->rto_initial_ns, cfg->rto_min_ns, cfg->rto_max_ns);
    link_rto_allow_ack_delay(&l->rto, cfg->ack_delay_ns); /* the peer runs our config */
    link_send_reset(l);
    l->rcv_nxt = 1;
    l->rcv_high = 1;
    *out = l;
    return 0;
}

void link_destroy(struct link *l)
{
    if (l == NULL) {
        return;
    }
    if (l->deliveries != NULL) {
        link_recv_deliveries_free(l);
    }
    link_msg_ring_free(&l->queue);
    link_msg_ring_free(&l->started);
    free(l->sfrags);
    free(l->rfrags);
    free(l->pool_bytes);
    free(l->pool_free);
    free(l->deliveries);
    if (l->scratch != NULL) {
        sodium_memzero(l->scratch, LINK_MTU_MAX);
    }
    free(l->scratch);
    sodium_memzero(&l->codec, sizeof l->codec);
    sodium_memzero(&l->cfg, sizeof l->cfg);
    free(l);
}

int link_send(struct link *l, uint64_t now_ns, const void *msg, size_t len)
{
    (void)now_ns;
    int rc = link_send_queue(l, msg, len);
    if (rc == 0 && l->peer_incarnation == 0 && l->timer_ns == 0) {
        l->hello_pending = true; /* learn the peer's incarnation before sending data */
    }
    return rc;
}

/* A newer incarnation of the peer: the old channels in both directions are over. */
static void adopt_peer_incarnation(struct link *l, uint64_t incarnation)
{
    if (l->peer_incarnation != 0 && !LINK_MUTANT(l, LINK_MUTANT_NO_RESET_ON_RESTART)) {
        l->counters.peer_restarts++;
        link_recv_reset(l);
        link_send_reset(l);
    }
    l->peer_incarnation = incarnation;
    l->hello_pending = false;
    l->timer_ns = 0; /* nothing in flight on the new channel; HELLO no longer needed */
    l->ack_pending = true;
}

/* After the records of a datagram: an ack owed only for in-order data (link_recv.c sets
 * ack_pending for everything that must be answered at once) waits up to ack_delay_ns for a
 * DATA datagram of ours to ride on (RFC 1122 §4.2.3.2, RFC 9000 §13.2.1), unless more
 * than one full-size fragment's worth is unacknowledged: like TCP, every second full-size
 * datagram is acknowledged at once, so a bulk sender's window keeps opening. The deadline
 * counts from the first unacknowledged arrival; later ones do not push it back. */
static void schedule_ack(struct link *l, uint64_t now_ns)
{
    if (l->ack_pending || l->rcv_unacked_bytes == 0) {
        return;
    }
    if (l->cfg.ack_delay_ns == 0 || l->rcv_unacked_bytes > link_unit_bytes(l)) {
        l->ack_pending = true;
    } else if (l->ack_deadline_ns == 0) {
        l->ack_deadline_ns = now_ns + l->cfg.ack_delay_ns;
    }
}

static enum link_drop on_valid(struct link *l, uint64_t now_ns, const struct link_datagram *d)
{
    if (d->from != l->cfg.peer_id || d->to != l->cfg.local_id) {
        return LINK_DROP_MISADDRESSED;
    }
    if ((d->type == LINK_DGRAM_HELLO) != (d->dst_incarnation == 0)) {
        return LINK_DROP_MALFORMED;
    }
    if (d->src_incarnation < l->peer_incarnation &&
        !LINK_MUTANT(l, LINK_MUTANT_ACCEPT_STALE_INCARNATION)) {
        return LINK_DROP_STALE_INCARNATION;
    }
    if (d->src_incarnation > l->peer_incarnation) {
        adopt_peer_incarnation(l, d->src_incarnation);
    }
    if (d->dst_incarnation != l->cfg.local_incarnation &&
        !LINK_MUTANT(l, LINK_MUTANT_ACCEPT_STALE_INCARNATION)) {
        l->ack_pending = true; /* tell the peer which incarnation we are */
        return d->type == LINK_DGRAM_HELLO ? LINK_DROP_NONE : LINK_DROP_STALE_INCARNATION;
    }
    enum link_drop why = link_send_on_ack(l, now_ns, d);
    if (why != LINK_DROP_NONE) {
        return why;
    }
    /* The records of a coalesced datagram are taken as if they had come one by one. The
     * first refused one is the datagram's drop reason; any further ones count too. */
    for (uint32_t i = 0; i < d->frags_count; i++) {
        enum link_drop r = link_recv_on_fragment(l, &d->frags[i]);
        if (r != LINK_DROP_NONE && why == LINK_DROP_NONE) {
            why = r;
        } else if (r != LINK_DROP_NONE) {
            l->counters.dropped[r]++;
        }
    }
    schedule_ack(l, now_ns);
    return why;
}

enum link_drop link_on_datagram(struct link *l, uint64_t now_ns, const void *bytes, size_t len)
{
    l->counters.datagrams_received++;
    struct link_datagram d;
    enum link_drop why = link_datagram_decode(&l->codec, bytes, len, l->scratch, &d);
    if (why == LINK_DROP_NONE) {
        why = on_valid(l, now_ns, &d);
    }
    if (why != LINK_DROP_NONE) {
        l->counters.dropped[why]++;
    }
    return why;
}

void link_tick(struct link *l, uint64_t now_ns)
{
    if (l->timer_ns == 0 || now_ns < l->timer_ns) {
        return;
    }
    l->timer_ns = 0;
    if (l->peer_incarnation == 0) {
        if (l->queue.count > 0) {
            l->hello_pending = true;
            link_rto_backoff(&l->rto);
        }
        return;
    }
    if (link_send_in_flight(l) > 0) {
        link_send_on_timer(l, now_ns);
    }
}

/* Whatever the datagram, it carries our ack state: nothing is owed any more. */
static void ack_sent(struct link *l)
{
    l->ack_pending = false;
    l->ack_deadline_ns = 0;
    l->rcv_unacked_bytes = 0;
}

/* Chooses what the next datagram carries: a HELLO before the handshake, otherwise a
 * fragment when the windows allow (with the ack riding on it), otherwise a bare
 * acknowledgement if one is owed now: at once, or because its delay ran out. */
static bool compose(struct link *l, uint64_t now_ns, struct link_datagram *d)
{
    if (l->peer_incarnation == 0) {
        if (!l->hello_pending) {
            return false;
        }
        d->type = LINK_DGRAM_HELLO;
        l->hello_pending = false;
        l->timer_ns = now_ns + link_rto_current_ns(&l->rto);
        l->counters.hellos_sent++;
        return true;
    }
    size_t records_bytes = 0;
    if (link_send_fill(l, now_ns, d) > 0) {
        d->type = LINK_DGRAM_DATA;
        for (uint32_t i = 0; i < d->frags_count; i++) {
            records_bytes += LINK_DATA_HEADER_SIZE + d->frags[i].len;
        }
        l->counters.acks_piggybacked += l->ack_pending || l->ack_deadline_ns != 0;
    } else {
        bool delay_over = l->ack_deadline_ns != 0 && now_ns >= l->ack_deadline_ns;
        if (!l->ack_pending && !delay_over) {
            return false;
        }
        d->type = LINK_DGRAM_ACK;
        l->counters.acks_sent++;
        l->counters.acks_delayed += !l->ack_pending;
    }
    link_recv_fill_ack(l, d, link_codec_sacks_fit(&l->codec, records_bytes));
    ack_sent(l);
    return true;
}

int link_next_datagram(struct link *l, uint64_t now_ns, struct buf *out)
{
    struct link_datagram d;
    memset(&d, 0, offsetof(struct link_datagram, frags)); /* records are filled as chosen */
    if (!compose(l, now_ns, &d)) {
        return 0;
    }
    d.from = l->cfg.local_id;
    d.to = l->cfg.peer_id;
    d.src_incarnation = l->cfg.local_incarnation;
    d.dst_incarnation = l->peer_incarnation;
    d.counter = ++*l->tx_counter_src;
    int rc = link_datagram_encode(&l->codec, &d, out);
    if (rc != 0) {
        return rc; /* a fragment counts as sent; the timer will resend it */
    }
    l->counters.datagrams_sent++;
    return 1;
}

void link_share_counter(struct link *l, uint64_t *counter)
{
    ASSERT(*counter >= *l->tx_counter_src);
    l->tx_counter_src = counter;
}

bool link_next_delivery(struct link *l, struct link_delivery *out) { return link_recv_pop(l, out); }

void link_delivery_free(struct link_delivery *d)
{
    free(d->data);
    d->data = NULL;
    d->len = 0;
}

uint64_t link_next_timeout_ns(const struct link *l)
{
    uint64_t next = l->timer_ns == 0 ? UINT64_MAX : l->timer_ns;
    return l->ack_deadline_ns == 0 ? next : MIN(next, l->ack_deadline_ns);
}

const struct link_counters *link_counters(const struct link *l) { return &l->counters; }

uint64_t link_peer_incarnation(const struct link *l) { return l->peer_incarnation; }

uint32_t link_peer_id(const struct link *l) { return l->cfg.peer_id; }

void link_gauges(const struct link *l, struct link_gauges *out)
{
    memset(out, 0, sizeof *out);
    out->srtt_ns = l->rto.srtt_ns;
    out->rttvar_ns = l->rto.rttvar_ns;
    out->rto_ns = link_rto_current_ns(&l->rto);
    out->cwnd_fragments = l->cwnd;
    out->ssthresh_fragments = l->ssthresh;
    out->peer_window_fragments = l->peer_window;
    out->in_flight_fragments = link_send_in_flight(l);
    out->queue_messages = l->queue.count;
    out->queue_bytes = l->queue_bytes;
    out->reorder_bytes = l->reorder_bytes;
    out->delivery_messages = l->deliveries_count;
    out->delivery_bytes = l->delivery_bytes;
    out->peer_incarnation = l->peer_incarnation;
}

void link_check_invariants(const struct link *l)
{
    ASSERT(l->peer_incarnation != 0 || link_send_in_flight(l) == 0);
    ASSERT(l->peer_incarnation != 0 || l->rcv_nxt == 1);
    link_send_check(l);
    link_recv_check(l);
}
