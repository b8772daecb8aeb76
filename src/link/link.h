/* link: a reliable, in-order, exactly-once message channel to one peer over an
 * unreliable datagram service (fair-loss links -> stubborn links -> perfect links).
 *
 * A struct link is a pure state machine for one (local node, peer node) pair. It never
 * reads a clock, draws a random number or touches a socket: time arrives as now_ns, and
 * the driver (the simulator, or the libuv server) moves bytes:
 *
 *   link_send()         queue a message (copied) for the peer
 *   link_on_datagram()  hand in a datagram that arrived from the network (any bytes)
 *   link_tick()         let timers fire; call when now_ns >= link_next_timeout_ns()
 *   link_next_datagram()  pull the next datagram to transmit, until it returns 0
 *   link_next_delivery()  pull the next message delivered in order, until it returns false
 *
 * After any input (send, datagram, tick, or pulling deliveries, which may open the
 * receive window) the driver pulls datagrams and deliveries and re-arms its timer at
 * link_next_timeout_ns(). The datagram format is in link/datagram.h and docs/link.md.
 *
 * Channels and incarnations. Each endpoint has an incarnation (a non-zero 64-bit number
 * that the driver makes strictly larger at every start of the node, e.g. the wall clock
 * in nanoseconds at start-up). A channel is identified by (sender incarnation, receiver
 * incarnation); sequence numbers restart at 1 in each. Data flows only once a sender
 * knows the receiver's incarnation (learnt from any datagram of the peer; a HELLO asks
 * for one). A datagram from an older peer incarnation, or addressed to an older
 * incarnation of ours, is dropped and counted; one from a newer peer incarnation resets
 * the receive state and the send state toward that peer: messages that had started
 * transmission on the old channel are abandoned (counted), messages not yet started are
 * sent on the new channel. Hence exactly-once, in-order delivery per incarnation pair.
 *
 * Reliability: fragments carry sequence numbers; small ones are coalesced, several to a
 * datagram (cfg.datagram_fragments_max); every datagram carries a cumulative ack and up to
 * LINK_SACK_RANGES_MAX SACK ranges (the lowest, and the one around the most recent
 * arrival). Retransmission uses an RFC 6298 timeout (link/rto.h) with Karn's rule and
 * capped exponential backoff, plus fast retransmit when a fragment sent
 * LINK_REORDER_THRESHOLD datagrams later has been acknowledged. With no new data to send
 * and a small flight the threshold drops to one less than the flight (early retransmit,
 * RFC 5827), and a tail-loss probe (RFC 8985) resends the last fragment after two
 * smoothed RTTs without an ack, so a lost tail is found by SACK evidence rather than by
 * the RTO.
 * Delayed acknowledgements (RFC 1122 §4.2.3.2, RFC 9000 §13.2): in-order data is
 * acknowledged by the next datagram we send to the peer, and only if none goes within
 * cfg.ack_delay_ns does a bare ACK follow (its deadline is part of link_next_timeout_ns;
 * the next link_next_datagram at or after it emits the ACK). Acknowledged at once: data
 * out of order, filling a gap, duplicated or refused, more than one full-size fragment's
 * worth unacknowledged (every second full-size datagram), a window that reopens, and
 * anything about incarnations. The sender allows for the peer's delay in the probe
 * timeout and the RTO (both ends run one config); the datagram format is unchanged.
 * Congestion control is AIMD on a window counted in bytes, in units of one full-size
 * fragment (slow start, congestion avoidance, halving once per loss episode,
 * LINK_CWND_FLOOR_FRAGMENTS after a timeout and never below it); flow control obeys the
 * receiver's advertised window, which closes when deliveries are not pulled.
 *
 * Memory bounds (per link): the unsent queue (send_queue_messages_max and
 * send_queue_bytes_max; overflow drops the OLDEST unsent message and counts it: the
 * newest message is the most relevant to Raft, which retries on its own); in flight at
 * most window_fragments_max fragments; out-of-order fragments at most
 * reassembly_bytes_max bytes in a preallocated ring; one message in reassembly of at most
 * message_size_max bytes; undelivered messages at most delivery_messages_max and
 * delivery_bytes_max (then the window closes). Depends on base, wire and libsodium. */
#ifndef CHORUS_LINK_LINK_H
#define CHORUS_LINK_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "link/datagram.h"

/* A fragment counts as lost once a fragment sent this many datagrams after it has been
 * acknowledged (tolerates that much reordering before fast retransmit). */
#define LINK_REORDER_THRESHOLD 3
/* The congestion window never drops below this many fragments, after a loss episode or a
 * timeout: one more than the reorder threshold, the smallest window in which SACK
 * evidence alone can reveal a loss. Below it every loss costs a timeout, and a timeout
 * shrank the window again, so under heavy random loss the window used to stay at one
 * fragment and the link moved tens of messages per second. */
#define LINK_CWND_FLOOR_FRAGMENTS (LINK_REORDER_THRESHOLD + 1)
/* Bounds on the configurable window, so rings stay reasonable. */
#define LINK_WINDOW_FRAGMENTS_MAX 65536

#define LINK_DEFAULT_MTU_BYTES 1400
#define LINK_DEFAULT_MESSAGE_SIZE_MAX (4u * 1024 * 1024)
#define LINK_DEFAULT_SEND_QUEUE_MESSAGES_MAX 4096
#define LINK_DEFAULT_SEND_QUEUE_BYTES_MAX (32ull * 1024 * 1024)
#define LINK_DEFAULT_WINDOW_FRAGMENTS_MAX 256
#define LINK_DEFAULT_REASSEMBLY_BYTES_MAX (256ull * 1024)
#define LINK_DEFAULT_DELIVERY_MESSAGES_MAX 4096
#define LINK_DEFAULT_DELIVERY_BYTES_MAX (32ull * 1024 * 1024)
#define LINK_DEFAULT_CWND_INITIAL_FRAGMENTS 10
#define LINK_DEFAULT_RTO_INITIAL_NS (200ull * 1000 * 1000)
#define LINK_DEFAULT_RTO_MIN_NS (5ull * 1000 * 1000)
#define LINK_DEFAULT_RTO_MAX_NS (2ull * 1000 * 1000 * 1000)
/* How long an ack for in-order data may wait for data of ours to ride on. A follower
 * answers an AppendEntries after its fsync, 0.3-1 ms later on our machines, and a busy
 * leader sends the next append within about as long: 1 ms lets most acks ride on those
 * messages, stays well under the 5 ms RTO floor, and is the driver's timer granularity
 * (libuv counts milliseconds), so a shorter delay would not fire any sooner. */
#define LINK_DEFAULT_ACK_DELAY_NS (1ull * 1000 * 1000)
/* RFC 1122 §4.2.3.2: an ack must not be delayed by 0.5 s or more. */
#define LINK_ACK_DELAY_MAX_NS (500ull * 1000 * 1000)

/* Known-wrong variants of the link, honoured only in builds with CHORUS_MUTANTS (the test
 * build), so the simulation can prove its checks catch each one (STYLE.md rule 20). */
enum link_mutant {
    LINK_MUTANT_NONE = 0,
    LINK_MUTANT_NO_DUPLICATE_SUPPRESSION, /* re-consumes fragments below rcv_nxt */
    LINK_MUTANT_ACCEPT_STALE_INCARNATION, /* treats an older peer incarnation as current */
    LINK_MUTANT_NO_RESET_ON_RESTART,      /* adopts a new peer incarnation, keeps the state */
    LINK_MUTANT_ACK_AHEAD,                /* acknowledges one fragment it does not have */
    LINK_MUTANT_COUNT_
};

struct link_config {
    uint64_t cluster_id;        /* must match the peer's; frames of other clusters drop */
    uint32_t local_id;          /* this node */
    uint32_t peer_id;           /* the other end */
    uint64_t local_incarnation; /* non-zero, strictly larger at each start of this node */
    bool sealed;                /* seal every datagram with key (XChaCha20-Poly1305) */
    uint8_t key[LINK_KEY_SIZE]; /* the cluster key when sealed; copied */
    uint32_t mtu_bytes;         /* largest datagram sent, in [LINK_MTU_MIN, LINK_MTU_MAX] */
    uint32_t message_size_max;  /* largest message sent or accepted */
    uint32_t send_queue_messages_max; /* unsent messages queued */
    uint64_t send_queue_bytes_max;    /* unsent bytes queued */
    uint32_t window_fragments_max;    /* in-flight and out-of-order fragments */
    uint64_t reassembly_bytes_max;    /* out-of-order fragment bytes held */
    uint32_t delivery_messages_max;   /* delivered messages not yet pulled */
    uint64_t delivery_bytes_max;      /* delivered bytes not yet pulled */
    uint32_t cwnd_initial_fragments;  /* initial congestion window, in full-size fragments */
    uint32_t datagram_fragments_max;  /* fragments coalesced into one datagram, in
                                       * [1, LINK_DATAGRAM_FRAGMENTS_MAX]; 1: no coalescing */
    uint64_t rto_initial_ns;          /* before the first RTT sample */
    uint64_t rto_min_ns;
    uint64_t rto_max_ns; /* also the backoff cap */
    uint64_t ack_delay_ns; /* longest wait of an ack for in-order data for a datagram of
                            * ours to ride on; 0 acknowledges at once. At most
                            * LINK_ACK_DELAY_MAX_NS, below rto_max_ns. The sender assumes the
                            * peer runs the same value (both ends share one config). */
    uint32_t mutant;     /* enum link_mutant; ignored unless built with CHORUS_MUTANTS */
};

/* Monotonic event counters, for /metrics. */
struct link_counters {
    uint64_t datagrams_sent;        /* every datagram pulled by the driver */
    uint64_t datagrams_received;    /* every datagram handed in, valid or not */
    uint64_t hellos_sent;
    uint64_t acks_sent;             /* datagrams carrying only an acknowledgement */
    uint64_t acks_delayed;          /* of acks_sent: sent when ack_delay_ns ran out */
    uint64_t acks_piggybacked;      /* DATA datagrams that carried an ack the peer was owed */
    uint64_t fragments_sent;        /* first transmissions */
    uint64_t fragments_retransmitted;
    uint64_t fast_retransmits;      /* fragments marked lost by SACK evidence */
    uint64_t timeouts;              /* retransmission timer expiries */
    uint64_t tail_probes;           /* tail-loss probes sent before the RTO */
    uint64_t rtt_samples;
    uint64_t fragments_received;    /* DATA fragments accepted (new) */
    uint64_t fragments_duplicate;   /* DATA fragments already received */
    uint64_t messages_queued;       /* accepted by link_send */
    uint64_t messages_acked;        /* whole messages acknowledged by the peer */
    uint64_t messages_delivered;
    uint64_t bytes_delivered;
    uint64_t queue_overflow_messages; /* oldest unsent messages dropped for room */
    uint64_t queue_overflow_bytes;
    uint64_t messages_abandoned;    /* started toward an incarnation that went away */
    uint64_t peer_restarts;         /* newer peer incarnations seen */
    uint64_t reassembly_aborted;    /* partial messages discarded (malformed sequence) */
    uint64_t dropped[LINK_DROP_COUNT_]; /* datagrams dropped, by reason */
};

/* Current levels, for /metrics and tests. */
struct link_gauges {
    uint64_t srtt_ns;
    uint64_t rttvar_ns;
    uint64_t rto_ns;
    uint32_t cwnd_fragments;
    uint32_t ssthresh_fragments;
    uint32_t peer_window_fragments;
    uint32_t in_flight_fragments;
    uint32_t queue_messages;
    uint64_t queue_bytes;
    uint64_t reorder_bytes;
    uint32_t delivery_messages;
    uint64_t delivery_bytes;
    uint64_t peer_incarnation; /* 0 until known */
};

/* A delivered message. data is owned by the caller after link_next_delivery and must be
 * released with link_delivery_free (it is NULL when len is 0). */
struct link_delivery {
    uint8_t *data;
    size_t len;
    uint64_t peer_incarnation; /* the incarnation of the peer that sent it */
};

struct link;

/* Fills cfg with the defaults above; identity, incarnation and key are left zero. */
void link_config_defaults(struct link_config *cfg);
/* 0, or ERR_INVALID when a field is zero or out of its range. */
int link_config_check(const struct link_config *cfg);

/* Creates a link (cfg is copied). Returns 0 and *out, ERR_INVALID or ERR_NOMEM.
 * All memory bounded by the config except message copies is allocated here. */
int link_create(const struct link_config *cfg, struct link **out);
/* Frees the link, its queues and undelivered messages. NULL is allowed. */
void link_destroy(struct link *l);

/* Queues a copy of msg[0..len) (the caller keeps msg). May drop the oldest unsent
 * message to make room (counted). Returns 0, ERR_TOO_LARGE (len over message_size_max
 * or send_queue_bytes_max) or ERR_NOMEM. */
int link_send(struct link *l, uint64_t now_ns, const void *msg, size_t len);

/* Hands in one datagram (borrowed for the call). Returns LINK_DROP_NONE when it was
 * valid for this channel, otherwise the reason it was dropped (also counted). Never
 * fails on hostile bytes. */
enum link_drop link_on_datagram(struct link *l, uint64_t now_ns, const void *bytes, size_t len);

/* Fires the retransmission/HELLO timer if now_ns has reached it. (A delayed ack needs no
 * tick: it falls due at its deadline.) */
void link_tick(struct link *l, uint64_t now_ns);

/* Appends the next datagram to transmit (one complete frame) to out. Returns 1 when one
 * was appended, 0 when there is nothing to send now, ERR_NOMEM when out cannot grow. */
int link_next_datagram(struct link *l, uint64_t now_ns, struct buf *out);

/* Moves the next in-order message to *out (ownership transfers; see struct
 * link_delivery). Returns false when none is ready. */
bool link_next_delivery(struct link *l, struct link_delivery *out);
void link_delivery_free(struct link_delivery *d);

/* The absolute time at which the link has work (link_tick's timer, or a delayed ack
 * falling due), or UINT64_MAX when nothing is armed. */
uint64_t link_next_timeout_ns(const struct link *l);

const struct link_counters *link_counters(const struct link *l);
void link_gauges(const struct link *l, struct link_gauges *out);
uint64_t link_peer_incarnation(const struct link *l);
uint32_t link_peer_id(const struct link *l);
/* Asserts the internal invariants (the simulator calls it after every step). */
void link_check_invariants(const struct link *l);

#endif
