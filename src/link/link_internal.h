/* The inside of struct link, shared by link.c (lifecycle, incarnations, timers, output
 * scheduling), link_send.c (the sender half) and link_recv.c (the receiver half). Not
 * part of the module's contract; tests include it only to inspect state. */
#ifndef CHORUS_LINK_LINK_INTERNAL_H
#define CHORUS_LINK_LINK_INTERNAL_H

#include "link/link.h"
#include "link/rto.h"

/* A message accepted by link_send. */
struct link_msg {
    uint8_t *data;       /* owned copy; NULL when len is 0 */
    uint32_t len;
    uint32_t sent_bytes; /* bytes already cut into fragments */
    bool started;        /* its first fragment has a sequence number */
    uint64_t seq_end;    /* one past its last fragment cut so far */
};

/* A FIFO of messages in a fixed array. */
struct link_msg_ring {
    struct link_msg *items; /* owned, cap entries */
    uint32_t cap;
    uint32_t head;
    uint32_t count;
};

/* A fragment in flight (sequence number in [snd_una, snd_nxt)). */
struct link_sfrag {
    const uint8_t *data; /* into its message's bytes, which outlive the fragment */
    uint32_t msg_len;
    uint32_t offset;
    uint32_t len;
    uint32_t tx_count;   /* transmissions so far; RTT is sampled only when 1 (Karn) */
    uint64_t tx_order;   /* link-wide transmission number of the latest transmission */
    uint64_t sent_ns;    /* time of the latest transmission */
    bool sacked;
    bool lost;           /* waiting for retransmission */
};

/* An out-of-order fragment held by the receiver; its bytes are in pool slot `slot`. */
struct link_rfrag {
    bool present;
    uint32_t slot;
    uint32_t msg_len;
    uint32_t offset;
    uint32_t len;
};

struct link {
    struct link_config cfg;
    struct link_codec codec;
    uint32_t frag_size_max;
    uint64_t peer_incarnation; /* 0 until a datagram of the peer is accepted */
    uint64_t tx_counter;       /* last datagram counter used (the AEAD nonce part) */
    uint64_t *tx_counter_src;  /* &tx_counter, or a table-wide counter shared by all of a
                                * node's links, so that removing and re-adding a peer
                                * within one incarnation never repeats a nonce */
    uint64_t tx_order;         /* last datagram carrying fragments: the transmission number
                                * shared by every fragment in it */
    bool hello_pending;        /* a HELLO should go out */
    bool ack_pending;          /* the peer should hear our ack state and incarnation now */
    uint64_t ack_deadline_ns;  /* 0, or when an ack owed for in-order data stops waiting
                                * for a DATA datagram to ride on and goes out bare */
    uint64_t timer_ns;         /* retransmission/HELLO deadline; 0 when disarmed */
    uint8_t *scratch;          /* LINK_MTU_MAX bytes for opening sealed datagrams */

    /* Sender. */
    struct link_msg_ring queue;   /* unsent messages, oldest first */
    uint64_t queue_bytes;
    struct link_msg_ring started; /* messages with fragments not yet all acknowledged */
    struct link_sfrag *sfrags;    /* ring indexed by seq % window */
    uint64_t snd_una;             /* oldest unacknowledged sequence number */
    uint64_t snd_nxt;             /* next sequence number to assign */
    uint32_t sacked_count;        /* in-flight fragments selectively acknowledged */
    uint32_t lost_count;          /* in-flight fragments marked lost, not yet resent */
    /* The same three sets weighed in record bytes (fragment bytes + LINK_DATA_HEADER_SIZE):
     * congestion control counts bytes, so that coalesced small fragments do not each
     * take a whole full-size fragment's share of the window. */
    uint64_t flight_bytes;
    uint64_t sacked_bytes;
    uint64_t lost_bytes;
    uint64_t acked_tx_order_max;  /* newest transmission known to have arrived */
    uint64_t rtt_min_ns;          /* smallest RTT sample; UINT64_MAX before the first */
    uint32_t cwnd;                /* congestion window, in full-size fragments: a pipe of
                                   * cwnd * (frag_size_max + LINK_DATA_HEADER_SIZE) bytes */
    uint64_t cwnd_acked_bytes;    /* acknowledged bytes not yet turned into window growth */
    uint32_t ssthresh;
    uint64_t recovery_end;        /* no further window cut until snd_una reaches it */
    bool probe_armed;             /* timer_ns is a tail-loss probe timeout, not the RTO */
    bool probe_pending;           /* the next datagram is a tail-loss probe */
    bool probe_sent;              /* a probe went out; no other until snd_una advances */
    uint32_t peer_window;         /* the peer's advertised window, fragments */
    struct link_rto rto;

    /* Receiver. */
    struct link_rfrag *rfrags; /* ring indexed by seq % window */
    uint8_t *pool_bytes;       /* pool_slots * frag_size_max: reassembly memory */
    uint32_t *pool_free;       /* stack of free slot numbers */
    uint32_t pool_slots;       /* reassembly_bytes_max / frag_size_max, at least 1 */
    uint32_t pool_free_count;
    uint64_t rcv_nxt;          /* next sequence number to consume */
    uint64_t rcv_high;         /* one past the highest fragment held (>= rcv_nxt) */
    uint64_t rcv_recent;       /* the out-of-order fragment held most recently (0: none) */
    uint64_t reorder_bytes;    /* fragment bytes held in the pool */
    uint64_t rcv_unacked_bytes; /* record bytes (fragment + LINK_DATA_HEADER_SIZE) of new
                                 * fragments accepted since our last ack went out */
    uint8_t *partial;          /* the message being reassembled (owned) */
    uint32_t partial_len;
    uint32_t partial_filled;
    bool partial_active;
    struct link_delivery *deliveries; /* ring of delivery_messages_max */
    uint32_t deliveries_head;
    uint32_t deliveries_count;
    uint64_t delivery_bytes;

    struct link_counters counters;
};

/* The unit in which the sender's congestion window and the receiver's "every second
 * full-size datagram" rule count record bytes: one full-size fragment and its header,
 * what the records of one datagram can hold. */
static inline uint64_t link_unit_bytes(const struct link *l)
{
    return (uint64_t)l->frag_size_max + LINK_DATA_HEADER_SIZE;
}

/* True when this link runs the known-wrong variant m (test builds only). */
#ifdef CHORUS_MUTANTS
#define LINK_MUTANT(l, m) ((l)->cfg.mutant == (m))
#else
#define LINK_MUTANT(l, m) false
#endif

/* link.c: makes l draw datagram counters from *counter (which outlives l). */
void link_share_counter(struct link *l, uint64_t *counter);

/* link_send.c */
void link_msg_ring_free(struct link_msg_ring *r);
void link_send_reset(struct link *l);
int link_send_queue(struct link *l, const void *msg, size_t len);
enum link_drop link_send_on_ack(struct link *l, uint64_t now_ns, const struct link_datagram *d);
uint32_t link_send_fill(struct link *l, uint64_t now_ns, struct link_datagram *d);
void link_send_on_timer(struct link *l, uint64_t now_ns);
uint32_t link_send_in_flight(const struct link *l);
void link_send_check(const struct link *l);

/* link_recv.c */
void link_recv_reset(struct link *l);
void link_recv_deliveries_free(struct link *l);
enum link_drop link_recv_on_fragment(struct link *l, const struct link_frag *f);
void link_recv_fill_ack(const struct link *l, struct link_datagram *d, uint32_t sacks_max);
bool link_recv_pop(struct link *l, struct link_delivery *out);
void link_recv_check(const struct link *l);

#endif
