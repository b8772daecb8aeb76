/* Scripted scenarios against a pair of links: handshake, fragmentation, SACK, fast
 * retransmit, RTO with backoff and Karn's rule, reassembly bounds, queue overflow, flow
 * control and incarnation resets. */
#include "base/errors.h"
#include "base/prng.h"
#include "pair.h"

#define INC_A 1000
#define INC_B 2000

struct fixture {
    struct link *a;
    struct link *b;
    uint64_t now;
};

static void setup(struct fixture *f, void (*tweak_b)(struct link_config *))
{
    struct link_config ca, cb;
    link_config_for(&ca, 1, 2, INC_A);
    link_config_for(&cb, 2, 1, INC_B);
    if (tweak_b != NULL) {
        tweak_b(&cb);
    }
    f->a = make_link(&ca);
    f->b = make_link(&cb);
    f->now = 1000 * PAIR_MS;
}

static void teardown(struct fixture *f)
{
    link_destroy(f->a);
    link_destroy(f->b);
}

/* Runs the HELLO exchange so that data can flow at once. */
static void handshake(struct fixture *f)
{
    CHECK_EQ(link_send(f->a, f->now, "", 0), 0);
    settle(f->a, f->b, &f->now);
    struct link_delivery d;
    CHECK(link_next_delivery(f->b, &d));
    CHECK_EQ(d.len, 0);
    link_delivery_free(&d);
    CHECK(link_peer_incarnation(f->a) == INC_B && link_peer_incarnation(f->b) == INC_A);
}

static void fill_pattern(uint8_t *p, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)(seed + i * 31 + (i >> 8));
    }
}

/* Replaces b by a fresh start of node 2 with a new incarnation. */
static void restart_b(struct fixture *f, uint64_t incarnation)
{
    link_destroy(f->b);
    struct link_config cb;
    link_config_for(&cb, 2, 1, incarnation);
    f->b = make_link(&cb);
}

/* Checks that the next message l delivers is text. */
static void expect_delivery(struct link *l, const char *text)
{
    struct link_delivery m;
    CHECK(link_next_delivery(l, &m));
    CHECK(m.len == strlen(text) && memcmp(m.data, text, m.len) == 0);
    link_delivery_free(&m);
}

/* Sends count one-byte messages from a and captures the datagrams they go out in. */
static void send_burst(struct fixture *f, int count, struct captured *cap)
{
    for (int i = 0; i < count; i++) {
        CHECK_EQ(link_send(f->a, f->now, "m", 1), 0);
    }
    capture(f->a, f->now, cap);
}

TEST(first_message_waits_for_hello_then_is_delivered_once)
{
    struct fixture f;
    setup(&f, NULL);
    CHECK_EQ(link_send(f.a, f.now, "hello", 5), 0);
    struct captured cap = {0};
    capture(f.a, f.now, &cap);
    CHECK_EQ(cap.count, 1);
    struct link_datagram d;
    CHECK_EQ(inspect(f.a, &cap, 0, &d), LINK_DROP_NONE);
    CHECK_EQ(d.type, LINK_DGRAM_HELLO);
    captured_free(&cap);
    settle(f.a, f.b, &f.now);
    struct link_delivery m;
    CHECK(link_next_delivery(f.b, &m));
    CHECK(m.len == 5 && memcmp(m.data, "hello", 5) == 0);
    CHECK(m.peer_incarnation == INC_A);
    link_delivery_free(&m);
    CHECK(!link_next_delivery(f.b, &m));
    CHECK_EQ(link_counters(f.a)->messages_acked, 1);
    CHECK_EQ(link_next_timeout_ns(f.a), UINT64_MAX);
    teardown(&f);
}

TEST(large_message_is_fragmented_and_reassembled_from_reverse_order)
{
    struct fixture f;
    setup(&f, NULL);
    handshake(&f);
    static uint8_t msg[10000];
    fill_pattern(msg, sizeof msg, 3);
    CHECK_EQ(link_send(f.a, f.now, msg, sizeof msg), 0);
    struct captured cap = {0};
    capture(f.a, f.now, &cap);
    uint32_t frag = link_codec_fragment_size_max(&f.a->codec);
    CHECK_EQ(cap.count, (sizeof msg + frag - 1) / frag);
    for (size_t i = cap.count; i-- > 0;) {
        feed(f.b, f.now, &cap, i);
    }
    captured_free(&cap);
    struct link_delivery m;
    CHECK(link_next_delivery(f.b, &m));
    CHECK(m.len == sizeof msg && memcmp(m.data, msg, sizeof msg) == 0);
    link_delivery_free(&m);
    CHECK(!link_next_delivery(f.b, &m));
    teardown(&f);
}

TEST(receiver_acks_cumulatively_and_reports_gaps_as_sack_ranges)
{
    struct fixture f;
    setup(&f, NULL);
    handshake(&f);
    struct captured cap = {0};
    send_burst(&f, 6, &cap);
    CHECK_EQ(cap.count, 6); /* seqs 2..7: seq 1 was the handshake message */
    feed(f.b, f.now, &cap, 0);
    feed(f.b, f.now, &cap, 2);
    feed(f.b, f.now, &cap, 3);
    feed(f.b, f.now, &cap, 5);
    captured_free(&cap);
    capture(f.b, f.now, &cap);
    CHECK_EQ(cap.count, 1);
    struct link_datagram d;
    CHECK_EQ(inspect(f.b, &cap, 0, &d), LINK_DROP_NONE);
    CHECK_EQ(d.type, LINK_DGRAM_ACK);
    CHECK_EQ(d.ack_cum, 3);
    CHECK_EQ(d.sacks_count, 2);
    CHECK(d.sacks[0].start == 4 && d.sacks[0].end == 6);
    CHECK(d.sacks[1].start == 7 && d.sacks[1].end == 8);
    captured_free(&cap);
    teardown(&f);
}

TEST(sack_evidence_triggers_fast_retransmit_before_the_timeout)
{
    struct fixture f;
    setup(&f, NULL);
    handshake(&f);
    struct captured cap = {0};
    send_burst(&f, 6, &cap);
    for (size_t i = 1; i < cap.count; i++) {
        feed(f.b, f.now, &cap, i); /* the first is lost */
    }
    captured_free(&cap);
    f.now += PAIR_MS;
    pump(f.b, f.a, f.now); /* no timer fires: SACK evidence alone */
    CHECK_EQ(link_counters(f.a)->fast_retransmits, 1);
    capture(f.a, f.now, &cap);
    CHECK_EQ(cap.count, 1);
    struct link_datagram d;
    CHECK_EQ(inspect(f.a, &cap, 0, &d), LINK_DROP_NONE);
    CHECK(d.type == LINK_DGRAM_DATA && d.frags_count == 1 && d.frags[0].seq == 2);
    feed(f.b, f.now, &cap, 0);
    captured_free(&cap);
    CHECK_EQ(link_counters(f.a)->timeouts, 0);
    CHECK_EQ(link_counters(f.a)->tail_probes, 0);
    CHECK_EQ(link_counters(f.b)->fragments_received, 7);
    int delivered = 0;
    struct link_delivery m;
    while (link_next_delivery(f.b, &m)) {
        delivered++;
        link_delivery_free(&m);
    }
    CHECK_EQ(delivered, 6);
    teardown(&f);
}

TEST(early_retransmit_repairs_a_small_tail_on_sack_evidence_without_a_timer)
{
    struct fixture f;
    setup(&f, NULL);
    handshake(&f);
    struct captured cap = {0};
    send_burst(&f, 3, &cap); /* three fragments, then nothing more to send */
    CHECK_EQ(cap.count, 3);
    feed(f.b, f.now, &cap, 1); /* the first is lost: only two later ones can arrive */
    feed(f.b, f.now, &cap, 2);
    captured_free(&cap);
    pump(f.b, f.a, f.now);
    CHECK_EQ(link_counters(f.a)->fast_retransmits, 1);
    capture(f.a, f.now, &cap);
    CHECK_EQ(cap.count, 1);
    feed(f.b, f.now, &cap, 0);
    captured_free(&cap);
    pump(f.b, f.a, f.now);
    struct link_gauges g;
    link_gauges(f.a, &g);
    CHECK_EQ(g.in_flight_fragments, 0);
    CHECK_EQ(link_counters(f.a)->timeouts + link_counters(f.a)->tail_probes, 0);
    teardown(&f);
}

TEST(tail_loss_probe_resends_the_lost_last_fragment_before_the_rto)
{
    struct fixture f;
    setup(&f, NULL);
    handshake(&f);
    struct captured cap = {0};
    send_burst(&f, 3, &cap);
    feed(f.b, f.now, &cap, 0); /* the last is lost: no later fragment can reveal it */
    feed(f.b, f.now, &cap, 1);
    captured_free(&cap);
    pump(f.b, f.a, f.now);
    CHECK_EQ(link_counters(f.a)->fast_retransmits, 0);
    struct link_gauges g;
    link_gauges(f.a, &g);
    uint64_t probe_at = link_next_timeout_ns(f.a);
    CHECK(probe_at < f.now + g.rto_ns);
    f.now = probe_at;
    link_tick(f.a, f.now);
    CHECK_EQ(pump(f.a, f.b, f.now), 1);
    pump(f.b, f.a, f.now);
    link_gauges(f.a, &g);
    CHECK_EQ(g.in_flight_fragments, 0);
    CHECK_EQ(link_counters(f.a)->tail_probes, 1);
    CHECK_EQ(link_counters(f.a)->timeouts, 0);
    link_gauges(f.b, &g);
    CHECK_EQ(g.delivery_messages, 3);
    teardown(&f);
}

TEST(loss_episodes_halve_the_window_once_and_never_below_the_floor)
{
    struct fixture f;
    setup(&f, NULL);
    handshake(&f);
    /* Full-size fragments, so the window's units are fragments here. */
    static uint8_t full[LINK_DEFAULT_MTU_BYTES - LINK_DATA_OVERHEAD];
    for (int i = 0; i < 10; i++) {
        CHECK_EQ(link_send(f.a, f.now, full, sizeof full), 0);
    }
    struct captured cap = {0};
    capture(f.a, f.now, &cap);
    CHECK_EQ(cap.count, 10);
    for (size_t i = 0; i < cap.count; i++) {
        if (i % 2 == 1) {
            feed(f.b, f.now, &cap, i); /* every other fragment lost: five losses */
        }
    }
    captured_free(&cap);
    pump(f.b, f.a, f.now);
    CHECK(link_counters(f.a)->fast_retransmits >= 3);
    struct link_gauges g;
    link_gauges(f.a, &g);
    CHECK_EQ(g.cwnd_fragments, 5); /* one cut for the episode: 10 in flight / 2 */
    settle(f.a, f.b, &f.now);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(link_send(f.a, f.now, full, sizeof full), 0);
    }
    capture(f.a, f.now, &cap);
    CHECK_EQ(cap.count, 4);
    feed(f.b, f.now, &cap, 1);
    feed(f.b, f.now, &cap, 2);
    feed(f.b, f.now, &cap, 3);
    captured_free(&cap);
    pump(f.b, f.a, f.now);
    link_gauges(f.a, &g);
    CHECK_EQ(g.cwnd_fragments, LINK_CWND_FLOOR_FRAGMENTS); /* 4 / 2 would be 2 */
    settle(f.a, f.b, &f.now);
    teardown(&f);
}

TEST(timeout_retransmits_with_doubling_and_karn_skips_the_ambiguous_sample)
{
    struct fixture f;
    setup(&f, NULL);
    handshake(&f);
    uint64_t samples = link_counters(f.a)->rtt_samples;
    struct link_gauges g;
    link_gauges(f.a, &g);
    uint64_t rto = g.rto_ns;
    /* One small fragment in flight: b may hold its ack back, so the probe waits for that. */
    uint64_t pto = MAX(2 * g.srtt_ns, LINK_RTO_GRANULARITY_NS) + LINK_DEFAULT_ACK_DELAY_NS;
    CHECK(pto < rto);
    CHECK_EQ(link_send(f.a, f.now, "x", 1), 0);
    struct captured cap = {0};
    capture(f.a, f.now, &cap); /* lost */
    captured_free(&cap);
    /* First a tail-loss probe after 2 SRTT, which resends the fragment (lost too). */
    CHECK_EQ(link_next_timeout_ns(f.a), f.now + pto);
    f.now += pto;
    link_tick(f.a, f.now);
    CHECK_EQ(link_counters(f.a)->timeouts, 0);
    CHECK_EQ(link_next_timeout_ns(f.a), f.now + rto);
    capture(f.a, f.now, &cap);
    CHECK_EQ(cap.count, 1);
    captured_free(&cap);
    CHECK_EQ(link_counters(f.a)->tail_probes, 1);
    /* Then the RTO, which doubles, and the window restarts from its floor. */
    f.now += rto;
    link_tick(f.a, f.now);
    CHECK_EQ(link_counters(f.a)->timeouts, 1);
    link_gauges(f.a, &g);
    CHECK_EQ(g.rto_ns, MIN(2 * rto, LINK_DEFAULT_RTO_MAX_NS));
    CHECK_EQ(g.cwnd_fragments, LINK_CWND_FLOOR_FRAGMENTS);
    CHECK_EQ(link_next_timeout_ns(f.a), f.now + 2 * rto);
    capture(f.a, f.now, &cap);
    CHECK_EQ(cap.count, 1);
    feed(f.b, f.now, &cap, 0);
    captured_free(&cap);
    f.now += 3 * PAIR_MS;
    pump(f.b, f.a, f.now);
    CHECK_EQ(link_counters(f.a)->fragments_retransmitted, 2);
    CHECK_EQ(link_counters(f.a)->rtt_samples, samples); /* Karn's rule */
    CHECK_EQ(link_next_timeout_ns(f.a), UINT64_MAX);
    teardown(&f);
}

TEST(rtt_is_sampled_from_a_fragment_sent_once)
{
    struct fixture f;
    setup(&f, NULL);
    handshake(&f);
    struct link_gauges g;
    CHECK_EQ(link_send(f.a, f.now, "x", 1), 0);
    pump(f.a, f.b, f.now);
    f.now += 40 * PAIR_MS;
    uint64_t before = link_counters(f.a)->rtt_samples;
    pump(f.b, f.a, f.now);
    CHECK_EQ(link_counters(f.a)->rtt_samples, before + 1);
    link_gauges(f.a, &g);
    CHECK(g.srtt_ns > 1 * PAIR_MS && g.srtt_ns <= 40 * PAIR_MS);
    teardown(&f);
}

static void small_reassembly(struct link_config *c)
{
    c->reassembly_bytes_max = 2 * (c->mtu_bytes - LINK_DATA_OVERHEAD);
}

TEST(reassembly_pool_bound_drops_out_of_order_fragments_and_recovers)
{
    struct fixture f;
    setup(&f, small_reassembly);
    handshake(&f);
    static uint8_t msg[6 * (LINK_DEFAULT_MTU_BYTES - LINK_DATA_OVERHEAD)];
    fill_pattern(msg, sizeof msg, 9);
    CHECK_EQ(link_send(f.a, f.now, msg, sizeof msg), 0);
    struct captured cap = {0};
    capture(f.a, f.now, &cap);
    CHECK(cap.count >= 3); /* limited by the window b advertised: pool + 1 */
    for (size_t i = 1; i < cap.count; i++) {
        feed(f.b, f.now, &cap, i);
    }
    captured_free(&cap);
    struct link_gauges g;
    link_gauges(f.b, &g);
    CHECK(g.reorder_bytes <= 2 * (LINK_DEFAULT_MTU_BYTES - LINK_DATA_OVERHEAD));
    settle(f.a, f.b, &f.now);
    struct link_delivery m;
    CHECK(link_next_delivery(f.b, &m));
    CHECK(m.len == sizeof msg && memcmp(m.data, msg, sizeof msg) == 0);
    link_delivery_free(&m);
    link_gauges(f.b, &g);
    CHECK_EQ(g.reorder_bytes, 0);
    teardown(&f);
}

TEST(reassembly_pool_overflow_is_counted)
{
    struct fixture f;
    setup(&f, small_reassembly);
    handshake(&f);
    /* b's window is 3, so a sends 3; craft a fourth out-of-order arrival by feeding a
     * retransmitted copy after shrinking nothing: use a second burst instead. */
    static uint8_t msg[8 * (LINK_DEFAULT_MTU_BYTES - LINK_DATA_OVERHEAD)];
    CHECK_EQ(link_send(f.a, f.now, msg, sizeof msg), 0);
    f.a->peer_window = 100; /* pretend b advertised more than it can hold */
    f.a->cwnd = 100;
    struct captured cap = {0};
    capture(f.a, f.now, &cap);
    CHECK_EQ(cap.count, 8);
    for (size_t i = 1; i < cap.count; i++) {
        feed(f.b, f.now, &cap, i);
    }
    captured_free(&cap);
    CHECK_EQ(link_counters(f.b)->dropped[LINK_DROP_REASSEMBLY_FULL], 5);
    settle(f.a, f.b, &f.now);
    struct link_delivery m;
    CHECK(link_next_delivery(f.b, &m));
    CHECK_EQ(m.len, sizeof msg);
    link_delivery_free(&m);
    teardown(&f);
}

TEST(message_over_the_size_limit_is_refused)
{
    struct fixture f;
    setup(&f, NULL);
    uint8_t one = 0;
    CHECK_EQ(link_send(f.a, f.now, &one, (size_t)LINK_DEFAULT_MESSAGE_SIZE_MAX + 1), ERR_TOO_LARGE);
    CHECK_EQ(link_counters(f.a)->messages_queued, 0);
    teardown(&f);
}

TEST(queue_overflow_drops_the_oldest_unsent_message)
{
    struct link_config ca, cb;
    link_config_for(&ca, 1, 2, INC_A);
    link_config_for(&cb, 2, 1, INC_B);
    ca.send_queue_messages_max = 3;
    struct link *a = make_link(&ca), *b = make_link(&cb);
    uint64_t now = 1;
    char text[2] = {0};
    for (char c = 'a'; c <= 'e'; c++) {
        text[0] = c;
        CHECK_EQ(link_send(a, now, text, 1), 0);
    }
    CHECK_EQ(link_counters(a)->queue_overflow_messages, 2);
    settle(a, b, &now);
    struct link_delivery m;
    for (char c = 'c'; c <= 'e'; c++) {
        CHECK(link_next_delivery(b, &m));
        CHECK(m.len == 1 && m.data[0] == c);
        link_delivery_free(&m);
    }
    CHECK(!link_next_delivery(b, &m));
    link_destroy(a);
    link_destroy(b);
}

TEST(queue_byte_bound_drops_oldest_to_fit)
{
    struct link_config ca;
    link_config_for(&ca, 1, 2, INC_A);
    ca.send_queue_bytes_max = 1000;
    struct link *a = make_link(&ca);
    static uint8_t msg[400];
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(link_send(a, 1, msg, sizeof msg), 0);
    }
    struct link_gauges g;
    link_gauges(a, &g);
    CHECK_EQ(g.queue_messages, 2);
    CHECK_EQ(g.queue_bytes, 800);
    CHECK_EQ(link_counters(a)->queue_overflow_bytes, 1200);
    CHECK_EQ(link_send(a, 1, msg, 0), 0);
    link_destroy(a);
}

static void tiny_delivery_queue(struct link_config *c) { c->delivery_messages_max = 2; }

TEST(slow_consumer_closes_the_window_and_nothing_is_lost)
{
    struct fixture f;
    setup(&f, tiny_delivery_queue);
    handshake(&f);
    /* More small messages than the receiver's window, so the sender must stop. */
    enum { MESSAGES = 300 };
    char text[16];
    for (int i = 0; i < MESSAGES; i++) {
        snprintf(text, sizeof text, "%d", i);
        CHECK_EQ(link_send(f.a, f.now, text, strlen(text)), 0);
    }
    for (int i = 0; i < 10; i++) {
        pump(f.a, f.b, f.now);
        pump(f.b, f.a, f.now);
        f.now += PAIR_MS;
    }
    struct link_gauges g;
    link_gauges(f.b, &g);
    CHECK_EQ(g.delivery_messages, 2);
    link_gauges(f.a, &g);
    CHECK_EQ(g.peer_window_fragments, 0);
    CHECK(g.queue_messages > 0);
    int next = 0;
    struct link_delivery m;
    for (int round = 0; round < 1000 && next < MESSAGES; round++) {
        while (link_next_delivery(f.b, &m)) {
            snprintf(text, sizeof text, "%d", next++);
            CHECK(m.len == strlen(text) && memcmp(m.data, text, m.len) == 0);
            link_delivery_free(&m);
        }
        pump(f.b, f.a, f.now);
        pump(f.a, f.b, f.now);
        f.now += PAIR_MS;
        link_tick(f.a, f.now);
    }
    CHECK_EQ(next, MESSAGES);
    teardown(&f);
}

TEST(timeout_resends_a_sacked_fragment_held_behind_a_full_delivery_queue)
{
    struct fixture f;
    setup(&f, tiny_delivery_queue);
    handshake(&f);
    CHECK_EQ(link_send(f.a, f.now, "m0", 2), 0);
    pump(f.a, f.b, f.now); /* delivered, not pulled: b's queue holds 1 of 2 */
    pump(f.b, f.a, f.now);
    CHECK_EQ(link_send(f.a, f.now, "m1", 2), 0);
    CHECK_EQ(link_send(f.a, f.now, "m2", 2), 0);
    struct captured cap = {0};
    capture(f.a, f.now, &cap);
    CHECK_EQ(cap.count, 2);
    feed(f.b, f.now, &cap, 1); /* m2 first: held and SACKed */
    pump(f.b, f.a, f.now);
    feed(f.b, f.now, &cap, 0); /* m1 fills b's queue; m2 waits unconsumed at rcv_nxt */
    captured_free(&cap);
    pump(f.b, f.a, f.now);
    struct link_gauges g;
    link_gauges(f.a, &g);
    CHECK_EQ(g.in_flight_fragments, 1);
    CHECK_EQ(g.peer_window_fragments, 0);
    struct link_delivery m;
    int pulled = 0;
    bool last_is_m2 = false;
    while (link_next_delivery(f.b, &m)) { /* pulling lets b consume m2 */
        last_is_m2 = m.len == 2 && memcmp(m.data, "m2", 2) == 0;
        link_delivery_free(&m);
        pulled++;
    }
    CHECK_EQ(pulled, 3);
    CHECK(last_is_m2);
    capture(f.b, f.now, &cap); /* b's window update: lost */
    CHECK_EQ(cap.count, 1);
    captured_free(&cap);
    /* Only a timer can unstick a (here the tail-loss probe, else the RTO): it must resend
     * the SACKed fragment. */
    f.now = link_next_timeout_ns(f.a);
    link_tick(f.a, f.now);
    CHECK_EQ(pump(f.a, f.b, f.now), 1);
    pump(f.b, f.a, f.now);
    link_gauges(f.a, &g);
    CHECK_EQ(g.in_flight_fragments, 0);
    CHECK_EQ(link_counters(f.a)->messages_acked, 4);
    teardown(&f);
}

TEST(newer_peer_incarnation_resets_the_channel_and_old_datagrams_are_dropped)
{
    struct fixture f;
    setup(&f, NULL);
    handshake(&f);
    CHECK_EQ(link_send(f.b, f.now, "old", 3), 0);
    struct captured old = {0};
    capture(f.b, f.now, &old);
    CHECK_EQ(old.count, 1);
    feed(f.a, f.now, &old, 0);
    struct link_delivery m;
    CHECK(link_next_delivery(f.a, &m));
    link_delivery_free(&m);
    /* b restarts with a larger incarnation and sends again. */
    restart_b(&f, INC_B + 1);
    CHECK_EQ(link_send(f.b, f.now, "new", 3), 0);
    settle(f.a, f.b, &f.now);
    CHECK(link_next_delivery(f.a, &m));
    CHECK(m.len == 3 && memcmp(m.data, "new", 3) == 0 && m.peer_incarnation == INC_B + 1);
    link_delivery_free(&m);
    CHECK_EQ(link_counters(f.a)->peer_restarts, 1);
    CHECK_EQ(link_peer_incarnation(f.a), INC_B + 1);
    /* The old datagram, replayed, is refused: nothing of the old incarnation arrives. */
    CHECK_EQ(link_on_datagram(f.a, f.now, old.bytes[0], old.lens[0]), LINK_DROP_STALE_INCARNATION);
    CHECK(!link_next_delivery(f.a, &m));
    CHECK_EQ(link_counters(f.a)->dropped[LINK_DROP_STALE_INCARNATION], 1);
    captured_free(&old);
    teardown(&f);
}

TEST(data_for_our_old_incarnation_is_dropped_and_answered_so_the_sender_resets)
{
    struct fixture f;
    setup(&f, NULL);
    handshake(&f);
    restart_b(&f, INC_B + 7);
    CHECK_EQ(link_send(f.a, f.now, "lost", 4), 0); /* a still believes in INC_B */
    pump(f.a, f.b, f.now);
    CHECK_EQ(link_counters(f.b)->dropped[LINK_DROP_STALE_INCARNATION], 1);
    pump(f.b, f.a, f.now); /* b's answer tells a about INC_B + 7 */
    CHECK_EQ(link_peer_incarnation(f.a), INC_B + 7);
    CHECK_EQ(link_counters(f.a)->messages_abandoned, 1);
    CHECK_EQ(link_send(f.a, f.now, "fresh", 5), 0);
    settle(f.a, f.b, &f.now);
    struct link_delivery m;
    expect_delivery(f.b, "fresh");
    CHECK(!link_next_delivery(f.b, &m));
    teardown(&f);
}

TEST(unsent_messages_survive_a_peer_restart)
{
    struct fixture f;
    setup(&f, NULL);
    handshake(&f);
    restart_b(&f, INC_B + 1);
    CHECK_EQ(link_send(f.b, f.now, "hi", 2), 0); /* b's HELLO reaches a first */
    pump(f.b, f.a, f.now);
    CHECK_EQ(link_send(f.a, f.now, "queued", 6), 0);
    settle(f.a, f.b, &f.now);
    expect_delivery(f.b, "queued");
    CHECK_EQ(link_counters(f.a)->messages_abandoned, 0);
    teardown(&f);
}

/* Coalescing on both sides, as the server runs its links. */
static void coalescing(struct link_config *c)
{
    c->datagram_fragments_max = LINK_DATAGRAM_FRAGMENTS_MAX;
}

/* What a leader sends a follower: a 9-byte heartbeat every 50 ms, and every fourth time
 * also a 3 KB append (three fragments). */
static void leader_traffic(struct fixture *f, uint64_t *next_send_ns, uint32_t *sent)
{
    static uint8_t append[3000];
    if (f->now < *next_send_ns) {
        return;
    }
    CHECK_EQ(link_send(f->a, f->now, "heartbeat", 9), 0);
    if (++*sent % 4 == 0) {
        CHECK_EQ(link_send(f->a, f->now, append, sizeof append), 0);
    }
    *next_send_ns += 50 * PAIR_MS;
}

/* Runs ms of virtual time of leader traffic from a. With b_alive, datagrams go both ways
 * with no loss and b's deliveries are counted; otherwise every datagram of a is lost.
 * Returns the time of b's first delivery (UINT64_MAX: none). */
static uint64_t run_leader(struct fixture *f, uint64_t ms, bool b_alive, uint32_t *delivered)
{
    uint64_t end = f->now + ms * PAIR_MS, next_send = f->now, first = UINT64_MAX;
    uint32_t sent = 0;
    while (f->now < end) {
        leader_traffic(f, &next_send, &sent);
        if (b_alive) {
            pump(f->a, f->b, f->now);
            pump(f->b, f->a, f->now);
            struct link_delivery m;
            while (link_next_delivery(f->b, &m)) {
                link_delivery_free(&m);
                first = MIN(first, f->now);
                (*delivered)++;
            }
        } else {
            struct captured lost = {0};
            capture(f->a, f->now, &lost);
            captured_free(&lost);
        }
        link_check_invariants(f->a);
        uint64_t t = link_next_timeout_ns(f->a);
        t = b_alive ? MIN(t, link_next_timeout_ns(f->b)) : t;
        f->now = MIN(MIN(MAX(t, f->now + PAIR_MS), next_send), end);
        link_tick(f->a, f->now);
        if (b_alive) {
            link_tick(f->b, f->now);
        }
    }
    return first;
}

TEST(sender_reaches_a_peer_that_restarts_after_a_long_silence)
{
    struct fixture f;
    setup(&f, coalescing);
    link_destroy(f.a); /* a too coalesces */
    struct link_config ca;
    link_config_for(&ca, 1, 2, INC_A);
    coalescing(&ca);
    f.a = make_link(&ca);
    handshake(&f);
    uint32_t delivered = 0;
    CHECK(run_leader(&f, 500, true, &delivered) != UINT64_MAX); /* an RTT sample, warm */
    /* b dies: a keeps sending into the void long enough to back off to rto_max_ns. */
    run_leader(&f, 6000, false, &delivered);
    CHECK(link_counters(f.a)->timeouts >= 5 && link_send_in_flight(f.a) > 0);
    CHECK(f.a->queue.count > 0);
    /* b restarts with a new incarnation and says nothing: a's next retransmission,
     * within one backed-off RTO, must find it and the backlog must flow again. */
    link_destroy(f.b);
    struct link_config cb;
    link_config_for(&cb, 2, 1, INC_B + 1);
    coalescing(&cb);
    f.b = make_link(&cb);
    uint64_t restart_ns = f.now;
    delivered = 0;
    uint64_t first = run_leader(&f, 5000, true, &delivered);
    CHECK(first != UINT64_MAX && first - restart_ns <= LINK_DEFAULT_RTO_MAX_NS + 10 * PAIR_MS);
    CHECK(delivered >= 100); /* 5 s of traffic, and the backlog that was still unsent */
    CHECK_EQ(link_counters(f.a)->peer_restarts, 1);
    teardown(&f);
}

/* ---- delayed acknowledgements ---- */

#define ACK_DELAY LINK_DEFAULT_ACK_DELAY_NS

/* Captures what l sends at now_ns; returns how many datagrams and, when exactly one, its
 * decoded form in *d. */
static size_t sends(struct link *l, uint64_t now_ns, struct captured *cap, struct link_datagram *d)
{
    captured_free(cap);
    capture(l, now_ns, cap);
    if (cap->count == 1) {
        CHECK_EQ(inspect(l, cap, 0, d), LINK_DROP_NONE);
    }
    return cap->count;
}

TEST(receiver_delays_a_bare_ack_until_the_deadline)
{
    struct fixture f;
    setup(&f, NULL);
    handshake(&f);
    uint64_t delayed = link_counters(f.b)->acks_delayed;
    CHECK_EQ(link_send(f.a, f.now, "x", 1), 0);
    CHECK_EQ(pump(f.a, f.b, f.now), 1);
    struct captured cap = {0};
    struct link_datagram d;
    CHECK_EQ(sends(f.b, f.now, &cap, &d), 0); /* in-order data: the ack waits */
    CHECK_EQ(link_next_timeout_ns(f.b), f.now + ACK_DELAY);
    CHECK_EQ(sends(f.b, f.now + ACK_DELAY - 1, &cap, &d), 0);
    CHECK_EQ(sends(f.b, f.now + ACK_DELAY, &cap, &d), 1);
    CHECK(d.type == LINK_DGRAM_ACK && d.ack_cum == 3); /* seq 1 was the handshake */
    CHECK_EQ(link_counters(f.b)->acks_delayed, delayed + 1);
    CHECK_EQ(link_next_timeout_ns(f.b), UINT64_MAX); /* nothing owed any more */
    feed(f.a, f.now + ACK_DELAY, &cap, 0);
    captured_free(&cap);
    struct link_gauges g;
    link_gauges(f.a, &g);
    CHECK_EQ(g.in_flight_fragments, 0);
    CHECK_EQ(link_counters(f.a)->tail_probes, 0);
    teardown(&f);
}

TEST(ack_rides_on_data_sent_before_the_deadline)
{
    struct fixture f;
    setup(&f, NULL);
    handshake(&f);
    uint64_t bare = link_counters(f.b)->acks_sent;
    CHECK_EQ(link_send(f.a, f.now, "request", 7), 0);
    pump(f.a, f.b, f.now);
    expect_delivery(f.b, "request");
    f.now += ACK_DELAY / 2;
    CHECK_EQ(link_send(f.b, f.now, "reply", 5), 0);
    struct captured cap = {0};
    struct link_datagram d;
    CHECK_EQ(sends(f.b, f.now, &cap, &d), 1);
    CHECK(d.type == LINK_DGRAM_DATA && d.ack_cum == 3);
    feed(f.a, f.now, &cap, 0);
    captured_free(&cap);
    CHECK_EQ(link_counters(f.b)->acks_piggybacked, 1);
    /* The debt is paid: at the deadline no bare ack follows. */
    CHECK(link_next_timeout_ns(f.b) > f.now + ACK_DELAY);
    CHECK_EQ(sends(f.b, f.now + ACK_DELAY, &cap, &d), 0);
    CHECK_EQ(link_counters(f.b)->acks_sent, bare);
    struct link_gauges g;
    link_gauges(f.a, &g);
    CHECK_EQ(g.in_flight_fragments, 0);
    teardown(&f);
}

static void no_ack_delay(struct link_config *c) { c->ack_delay_ns = 0; }

TEST(zero_ack_delay_acknowledges_at_once)
{
    struct fixture f;
    setup(&f, no_ack_delay);
    handshake(&f);
    CHECK_EQ(link_send(f.a, f.now, "x", 1), 0);
    pump(f.a, f.b, f.now);
    struct captured cap = {0};
    struct link_datagram d;
    CHECK_EQ(sends(f.b, f.now, &cap, &d), 1);
    CHECK(d.type == LINK_DGRAM_ACK && d.ack_cum == 3);
    captured_free(&cap);
    CHECK_EQ(link_counters(f.b)->acks_delayed, 0);
    teardown(&f);
}

TEST(out_of_order_arrival_is_acknowledged_at_once)
{
    struct fixture f;
    setup(&f, NULL);
    handshake(&f);
    uint64_t delayed = link_counters(f.b)->acks_delayed;
    struct captured burst = {0}, cap = {0};
    struct link_datagram d;
    send_burst(&f, 3, &burst); /* seqs 2..4 */
    feed(f.b, f.now, &burst, 0);
    CHECK_EQ(sends(f.b, f.now, &cap, &d), 0);
    feed(f.b, f.now, &burst, 2); /* seq 3 missing: a gap */
    CHECK_EQ(sends(f.b, f.now, &cap, &d), 1);
    CHECK(d.type == LINK_DGRAM_ACK && d.ack_cum == 3 && d.sacks_count == 1);
    feed(f.b, f.now, &burst, 1); /* fills the gap: the sender is recovering */
    CHECK_EQ(sends(f.b, f.now, &cap, &d), 1);
    CHECK(d.type == LINK_DGRAM_ACK && d.ack_cum == 5 && d.sacks_count == 0);
    CHECK_EQ(link_counters(f.b)->acks_delayed, delayed);
    captured_free(&burst);
    captured_free(&cap);
    teardown(&f);
}

TEST(duplicate_arrival_is_acknowledged_at_once)
{
    struct fixture f;
    setup(&f, NULL);
    handshake(&f);
    struct captured burst = {0}, cap = {0};
    struct link_datagram d;
    send_burst(&f, 1, &burst);
    feed(f.b, f.now, &burst, 0);
    CHECK_EQ(sends(f.b, f.now, &cap, &d), 0);
    feed(f.b, f.now, &burst, 0); /* a resend: our ack may have been lost */
    CHECK_EQ(sends(f.b, f.now, &cap, &d), 1);
    CHECK(d.type == LINK_DGRAM_ACK && d.ack_cum == 3);
    CHECK_EQ(link_counters(f.b)->fragments_duplicate, 1);
    captured_free(&burst);
    captured_free(&cap);
    teardown(&f);
}

TEST(every_second_full_datagram_is_acknowledged_at_once)
{
    struct fixture f;
    setup(&f, NULL);
    handshake(&f);
    static uint8_t full[LINK_DEFAULT_MTU_BYTES - LINK_DATA_OVERHEAD];
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(link_send(f.a, f.now, full, sizeof full), 0);
    }
    struct captured burst = {0}, cap = {0};
    struct link_datagram d;
    capture(f.a, f.now, &burst);
    CHECK_EQ(burst.count, 5);
    for (size_t i = 0; i < burst.count; i++) {
        feed(f.b, f.now, &burst, i);
        size_t n = sends(f.b, f.now, &cap, &d);
        CHECK_EQ(n, i % 2); /* the 2nd and 4th full datagrams are acknowledged at once */
        if (n == 1) {
            CHECK(d.type == LINK_DGRAM_ACK && d.ack_cum == 3 + i);
        }
    }
    CHECK_EQ(link_next_timeout_ns(f.b), f.now + ACK_DELAY); /* the 5th waits */
    captured_free(&burst);
    captured_free(&cap);
    teardown(&f);
}

/* Moves a's datagrams to b, and b's back to a, each arriving latency_ns after it leaves;
 * both links' timers fire on time; runs until until_ns. */
static void run_with_latency(struct fixture *f, uint64_t latency_ns, uint64_t until_ns)
{
    struct captured to_b = {0}, to_a = {0};
    uint64_t to_b_at = 0, to_a_at = 0;
    while (f->now <= until_ns) {
        if (to_b.count == 0) {
            capture(f->a, f->now, &to_b);
            to_b_at = f->now + latency_ns;
        }
        if (to_a.count == 0) {
            capture(f->b, f->now, &to_a);
            to_a_at = f->now + latency_ns;
        }
        uint64_t next = MIN(link_next_timeout_ns(f->a), link_next_timeout_ns(f->b));
        next = MIN(next, to_b.count > 0 ? to_b_at : UINT64_MAX);
        next = MIN(next, to_a.count > 0 ? to_a_at : UINT64_MAX);
        if (next > until_ns) {
            break;
        }
        f->now = MAX(f->now, next);
        for (size_t i = 0; to_b.count > 0 && to_b_at <= f->now && i < to_b.count; i++) {
            feed(f->b, f->now, &to_b, i);
        }
        if (to_b_at <= f->now) {
            captured_free(&to_b);
        }
        for (size_t i = 0; to_a.count > 0 && to_a_at <= f->now && i < to_a.count; i++) {
            feed(f->a, f->now, &to_a, i);
        }
        if (to_a_at <= f->now) {
            captured_free(&to_a);
        }
        link_tick(f->a, f->now);
        link_tick(f->b, f->now);
    }
    f->now = MAX(f->now, until_ns);
    captured_free(&to_b);
    captured_free(&to_a);
}

TEST(tail_probe_waits_for_the_peers_ack_delay)
{
    struct fixture f;
    setup(&f, NULL);
    handshake(&f);
    const uint64_t latency = PAIR_MS / 5; /* 0.2 ms each way */
    /* Request and reply: b's acks ride on its replies, so a measures the bare 0.4 ms round
     * trip, and 2 SRTT alone (floored at 1 ms) would fall before b's ack deadline. */
    for (int i = 0; i < 20; i++) {
        CHECK_EQ(link_send(f.a, f.now, "request", 7), 0);
        run_with_latency(&f, latency, f.now + latency);
        expect_delivery(f.b, "request");
        CHECK_EQ(link_send(f.b, f.now, "reply", 5), 0);
        run_with_latency(&f, latency, f.now + latency);
        expect_delivery(f.a, "reply");
    }
    struct link_gauges g;
    link_gauges(f.a, &g);
    CHECK(g.srtt_ns < ACK_DELAY / 2);
    /* A one-way message: b has nothing to say, and acks at its deadline. */
    uint64_t delayed = link_counters(f.b)->acks_delayed;
    CHECK_EQ(link_send(f.a, f.now, "notice", 6), 0);
    run_with_latency(&f, latency, f.now + 2 * latency + ACK_DELAY);
    link_gauges(f.a, &g);
    CHECK_EQ(g.in_flight_fragments, 0);
    CHECK_EQ(link_counters(f.b)->acks_delayed, delayed + 1);
    CHECK_EQ(link_counters(f.a)->tail_probes, 0);
    CHECK_EQ(link_counters(f.a)->fragments_retransmitted, 0);
    teardown(&f);
}

TEST(misaddressed_and_garbage_datagrams_are_counted_never_fatal)
{
    struct fixture f;
    setup(&f, NULL);
    handshake(&f);
    CHECK_EQ(link_send(f.a, f.now, "x", 1), 0);
    struct captured cap = {0};
    capture(f.a, f.now, &cap);
    /* a's datagram handed back to a: from/to do not match a's channel. */
    CHECK_EQ(link_on_datagram(f.a, f.now, cap.bytes[0], cap.lens[0]), LINK_DROP_MISADDRESSED);
    captured_free(&cap);
    struct prng rng;
    prng_seed(&rng, 5);
    uint8_t junk[2000];
    for (int i = 0; i < 5000; i++) {
        size_t len = prng_below(&rng, sizeof junk);
        for (size_t j = 0; j < len; j++) {
            junk[j] = (uint8_t)prng_next(&rng);
        }
        if (len >= 4 && prng_chance(&rng, 500000)) {
            le_store_u32(junk, FRAME_MAGIC); /* get past the magic now and then */
        }
        CHECK(link_on_datagram(f.b, f.now, junk, len) != LINK_DROP_NONE);
        link_check_invariants(f.b);
    }
    const struct link_counters *c = link_counters(f.b);
    CHECK(c->dropped[LINK_DROP_TRUNCATED] + c->dropped[LINK_DROP_MALFORMED] +
              c->dropped[LINK_DROP_CHECKSUM] >= 5000);
    teardown(&f);
}

TEST(config_check_refuses_bad_limits)
{
    struct link_config c;
    link_config_for(&c, 1, 2, 5);
    CHECK_EQ(link_config_check(&c), 0);
    c.local_incarnation = 0;
    CHECK_EQ(link_config_check(&c), ERR_INVALID);
    link_config_for(&c, 1, 2, 5);
    c.mtu_bytes = 100;
    CHECK_EQ(link_config_check(&c), ERR_INVALID);
    link_config_for(&c, 1, 2, 5);
    c.rto_min_ns = c.rto_max_ns + 1;
    CHECK_EQ(link_config_check(&c), ERR_INVALID);
    struct link *l = NULL;
    CHECK_EQ(link_create(&c, &l), ERR_INVALID);
    CHECK(l == NULL);
    link_config_for(&c, 1, 2, 5);
    c.ack_delay_ns = LINK_ACK_DELAY_MAX_NS + 1;
    CHECK_EQ(link_config_check(&c), ERR_INVALID);
    link_config_for(&c, 1, 2, 5);
    c.ack_delay_ns = c.rto_max_ns;
    CHECK_EQ(link_config_check(&c), ERR_INVALID);
    c.ack_delay_ns = 0;
    CHECK_EQ(link_config_check(&c), 0);
}
