/* RFC 6298 arithmetic of link/rto.h: first sample, smoothing, clamping, backoff, cap. */
#include "harness.h"
#include "link/rto.h"

#define MS 1000000ull

TEST(rto_starts_at_initial_value_clamped)
{
    struct link_rto r;
    link_rto_init(&r, 200 * MS, 5 * MS, 2000 * MS);
    CHECK_EQ(link_rto_current_ns(&r), 200 * MS);
    link_rto_init(&r, 1 * MS, 5 * MS, 2000 * MS);
    CHECK_EQ(link_rto_current_ns(&r), 5 * MS);
}

TEST(rto_first_sample_sets_srtt_and_half_variance)
{
    struct link_rto r;
    link_rto_init(&r, 200 * MS, 1 * MS, 2000 * MS);
    link_rto_sample(&r, 100 * MS);
    CHECK_EQ(r.srtt_ns, 100 * MS);
    CHECK_EQ(r.rttvar_ns, 50 * MS);
    CHECK_EQ(link_rto_current_ns(&r), 300 * MS); /* SRTT + 4 * RTTVAR */
}

TEST(rto_later_samples_smooth_with_one_eighth_and_one_quarter)
{
    struct link_rto r;
    link_rto_init(&r, 200 * MS, 1 * MS, 2000 * MS);
    link_rto_sample(&r, 100 * MS);
    link_rto_sample(&r, 180 * MS);
    /* RTTVAR = 3/4 * 50 + 1/4 * |100 - 180| = 57.5; SRTT = 7/8 * 100 + 1/8 * 180 = 110. */
    CHECK_EQ(r.rttvar_ns, 57500000ull);
    CHECK_EQ(r.srtt_ns, 110 * MS);
    CHECK_EQ(link_rto_current_ns(&r), 110 * MS + 4 * 57500000ull);
}

TEST(rto_variance_term_is_at_least_the_clock_granularity)
{
    struct link_rto r;
    link_rto_init(&r, 200 * MS, 1000, 2000 * MS);
    for (int i = 0; i < 200; i++) {
        link_rto_sample(&r, 10 * MS);
    }
    CHECK_EQ(r.srtt_ns, 10 * MS);
    CHECK(link_rto_current_ns(&r) >= 10 * MS + LINK_RTO_GRANULARITY_NS);
}

TEST(rto_is_clamped_to_min_and_max)
{
    struct link_rto r;
    link_rto_init(&r, 200 * MS, 50 * MS, 400 * MS);
    link_rto_sample(&r, 1 * MS);
    CHECK_EQ(link_rto_current_ns(&r), 50 * MS);
    link_rto_sample(&r, 5000 * MS);
    CHECK_EQ(link_rto_current_ns(&r), 400 * MS);
}

TEST(rto_backoff_doubles_until_the_cap)
{
    struct link_rto r;
    link_rto_init(&r, 100 * MS, 1 * MS, 1000 * MS);
    link_rto_backoff(&r);
    CHECK_EQ(link_rto_current_ns(&r), 200 * MS);
    link_rto_backoff(&r);
    CHECK_EQ(link_rto_current_ns(&r), 400 * MS);
    link_rto_backoff(&r);
    CHECK_EQ(link_rto_current_ns(&r), 800 * MS);
    for (int i = 0; i < 100; i++) {
        link_rto_backoff(&r);
    }
    CHECK_EQ(link_rto_current_ns(&r), 1000 * MS);
}

TEST(rto_new_sample_clears_backoff)
{
    struct link_rto r;
    link_rto_init(&r, 100 * MS, 1 * MS, 10000 * MS);
    link_rto_backoff(&r);
    link_rto_backoff(&r);
    CHECK_EQ(link_rto_current_ns(&r), 400 * MS);
    link_rto_sample(&r, 20 * MS);
    CHECK_EQ(r.backoff_shift, 0);
    CHECK_EQ(link_rto_current_ns(&r), 60 * MS);
}

TEST(rto_allows_for_the_peers_ack_delay_even_at_its_floor)
{
    struct link_rto r;
    link_rto_init(&r, 200 * MS, 1 * MS, 2000 * MS);
    link_rto_allow_ack_delay(&r, 3 * MS);
    for (int i = 0; i < 200; i++) {
        link_rto_sample(&r, MS / 10); /* 100 us: the floor would win without the delay */
    }
    /* SRTT + granularity + the peer's ack delay, above the 1 ms floor. */
    CHECK_EQ(link_rto_current_ns(&r), MS / 10 + LINK_RTO_GRANULARITY_NS + 3 * MS);
    link_rto_allow_ack_delay(&r, 0);
    link_rto_sample(&r, MS / 10);
    CHECK_EQ(link_rto_current_ns(&r), MS / 10 + LINK_RTO_GRANULARITY_NS);
}
