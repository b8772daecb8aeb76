/* The simulator itself: a run is reproducible from its seed, a fault-free cluster makes
 * progress, and every known-wrong variant of the core is caught by a named check within
 * a bounded number of seeds (STYLE.md rule 20). */
#include <stdlib.h>

#include "base/assertions.h"
#include "harness.h"
#include "sim/sim.h"

static struct sim_config small_config(uint64_t seed)
{
    struct sim_config c;
    sim_config_default(&c, seed);
    c.ops_count = 120;
    return c;
}

TEST(same_seed_gives_same_trace)
{
    struct sim_config c = small_config(7);
    struct sim_result a, b;
    sim_run(&c, &a);
    sim_run(&c, &b);
    CHECK(a.trace_digest == b.trace_digest);
    CHECK_EQ(a.events_count, b.events_count);
    c.seed = 8;
    struct sim_result d;
    sim_run(&c, &d);
    CHECK(d.trace_digest != a.trace_digest);
}

TEST(fault_free_cluster_completes_every_operation)
{
    for (uint32_t nodes = 1; nodes <= 7; nodes += 2) {
        struct sim_config c = small_config(nodes);
        c.nodes_count = nodes;
        c.faults = 0;
        struct sim_result r;
        bool ok = sim_run(&c, &r);
        if (!ok) {
            fprintf(stderr, "    %u nodes: %s: %s\n", nodes, r.check, r.detail);
        }
        CHECK(ok);
        CHECK_EQ(r.ops_ok, c.ops_count);
        CHECK_EQ(r.crashes, 0);
    }
}

/* Under --faults all with spare nodes, the workload adds learners, promotes them, removes
 * voters (leaders too) and re-adds nodes, and every check keeps holding. */
TEST(membership_changes_under_faults_keep_every_check)
{
    uint64_t accepted = 0, completed = 0, leader_removals = 0;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        struct sim_config c = small_config(seed);
        struct sim_result r;
        bool ok = sim_run(&c, &r);
        if (!ok) {
            fprintf(stderr, "    seed %llu: %s: %s\n", (unsigned long long)seed, r.check, r.detail);
        }
        CHECK(ok);
        accepted += r.membership_accepted; /* 0 in a run that has no leader while faults run */
        completed += r.membership_completed;
        leader_removals += r.membership_leader_removals;
    }
    CHECK(completed > 20);
    CHECK(completed <= accepted);
    CHECK(leader_removals > 0);
}

#ifdef CHORUS_MUTANTS
/* Sweeps seeds until the variant is caught; the check must be one of `expected`. */
static void expect_caught(struct sim_config base, uint64_t seeds_max, const char *const *expected,
                          size_t expected_count)
{
    for (uint64_t seed = 1; seed <= seeds_max; seed++) {
        struct sim_config c = base;
        c.seed = seed;
        struct sim_result r;
        if (sim_run(&c, &r)) {
            continue;
        }
        fprintf(stderr, "    caught at seed %llu by %s: %s\n", (unsigned long long)seed, r.check,
                r.detail);
        for (size_t i = 0; i < expected_count; i++) {
            if (strcmp(r.check, expected[i]) == 0) {
                return;
            }
        }
        CHECK(!"caught by an unexpected check");
    }
    CHECK(!"not caught within the seed budget");
}

static const char *const safety_checks[] = {
    "election_safety", "log_matching", "leader_completeness", "commit_safety",
    "state_machine_safety", "vote_durability", "ack_durability", "durability",
    "linearizability", "exactly_once"};

TEST(mutant_commit_old_term_is_caught)
{
    /* Figure 8 needs successive leaders stranding unreplicated tails of different
     * terms: three nodes under a flapping network that keeps cutting off the leader. */
    struct sim_config c = small_config(0);
    c.nodes_count = 3;
    c.ops_count = 300;
    c.faults = SIM_FAULT_ISOLATE | SIM_FAULT_CRASH;
    c.mutant = RAFT_MUTANT_COMMIT_OLD_TERM;
    expect_caught(c, 600, safety_checks, ARRAY_COUNT(safety_checks));
}

TEST(mutant_vote_without_log_check_is_caught)
{
    struct sim_config c = small_config(0);
    c.mutant = RAFT_MUTANT_VOTE_WITHOUT_LOG_CHECK;
    expect_caught(c, 200, safety_checks, ARRAY_COUNT(safety_checks));
}

TEST(mutant_vote_before_persist_is_caught)
{
    struct sim_config c = small_config(0);
    c.mutant = RAFT_MUTANT_VOTE_BEFORE_PERSIST;
    expect_caught(c, 400, safety_checks, ARRAY_COUNT(safety_checks));
}

TEST(mutant_truncate_on_stale_append_is_caught)
{
    struct sim_config c = small_config(0);
    c.mutant = RAFT_MUTANT_TRUNCATE_ON_STALE_APPEND;
    expect_caught(c, 200, safety_checks, ARRAY_COUNT(safety_checks));
}

TEST(mutant_leader_without_check_quorum_reading_locally_is_caught)
{
    struct sim_config c = small_config(0);
    c.mutant = RAFT_MUTANT_NO_CHECK_QUORUM_LOCAL_READS;
    static const char *const expected[] = {"linearizability"};
    expect_caught(c, 200, expected, ARRAY_COUNT(expected));
}

/* Two voters changed in one step: a majority of C_old and one of C_new need not overlap. */
TEST(mutant_membership_without_joint_phase_is_caught)
{
    struct sim_config c = small_config(0);
    c.mutant = RAFT_MUTANT_MEMBERSHIP_SKIP_JOINT;
    expect_caught(c, 200, safety_checks, ARRAY_COUNT(safety_checks));
}

TEST(mutant_membership_counting_learners_is_caught)
{
    struct sim_config c = small_config(0);
    c.mutant = RAFT_MUTANT_MEMBERSHIP_COUNT_LEARNERS;
    expect_caught(c, 200, safety_checks, ARRAY_COUNT(safety_checks));
}

TEST(mutant_apply_retried_command_twice_is_caught)
{
    struct sim_config c = small_config(0);
    c.mutant_apply_twice = true;
    static const char *const expected[] = {"exactly_once", "linearizability"};
    expect_caught(c, 200, expected, ARRAY_COUNT(expected));
}

/* The write-ahead log's known-wrong variants (issue 5) must be caught by the simulator
 * running the real log on its faulty disk, not only by the log's own enumeration. */
TEST(mutant_log_ack_before_fsync_is_caught)
{
    struct sim_config c = small_config(0);
    c.faults = SIM_FAULT_CRASH | SIM_FAULT_NET;
    c.log_mutant = LOG_MUTANT_ACK_BEFORE_FSYNC;
    expect_caught(c, 200, safety_checks, ARRAY_COUNT(safety_checks));
}

TEST(mutant_log_skip_dir_fsync_is_caught)
{
    struct sim_config c = small_config(0);
    c.ops_count = 400; /* enough entries to roll segments */
    c.faults = SIM_FAULT_CRASH | SIM_FAULT_NET;
    c.log_mutant = LOG_MUTANT_SKIP_DIR_FSYNC;
    expect_caught(c, 300, safety_checks, ARRAY_COUNT(safety_checks));
}

TEST(mutant_log_midlog_corruption_as_end_is_caught)
{
    struct sim_config c = small_config(0);
    c.faults = SIM_FAULT_CRASH | SIM_FAULT_BITROT;
    c.log_mutant = LOG_MUTANT_MIDLOG_CORRUPTION_AS_END;
    expect_caught(c, 300, safety_checks, ARRAY_COUNT(safety_checks));
}
#endif
