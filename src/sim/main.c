/* chorus-sim: runs the deterministic simulator from the command line.
 *
 *   chorus-sim --seed N [options]        one run; exit 0 when every check passed
 *   chorus-sim --seeds A-B [options]     a sweep: one line per failing seed with the
 *                                        command that replays it, then a summary
 * Options: --nodes 1..7, --clients N, --ops N, --faults
 * none|net|crash|clock|disk|isolate|bitrot|transfer|membership|all (comma separated; all
 * leaves out membership), --faults-seconds S, --reads mixed|index|lease, --drift-ppm N
 * (the clock fault's bound, up to 200000), --client-timeout-ms N, --trace FILE (JSON
 * lines), --verbose, --mutant NAME (test builds only). The last line of a single run
 * contains trace=<digest>. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/sim.h"

static const char *const mutant_names[] = {
    [RAFT_MUTANT_NONE] = "none",
    [RAFT_MUTANT_COMMIT_OLD_TERM] = "commit-old-term",
    [RAFT_MUTANT_VOTE_WITHOUT_LOG_CHECK] = "vote-without-log-check",
    [RAFT_MUTANT_VOTE_BEFORE_PERSIST] = "vote-before-persist",
    [RAFT_MUTANT_TRUNCATE_ON_STALE_APPEND] = "truncate-on-stale-append",
    [RAFT_MUTANT_NO_CHECK_QUORUM_LOCAL_READS] = "no-check-quorum-local-reads",
    [RAFT_MUTANT_LEASE_WITHOUT_DRIFT_ALLOWANCE] = "lease-without-drift-allowance",
    [RAFT_MUTANT_LEASE_KEPT_AFTER_TIMEOUT_NOW] = "lease-kept-after-timeout-now",
    [RAFT_MUTANT_PROPOSE_DURING_TRANSFER] = "propose-during-transfer",
    [RAFT_MUTANT_SNAPSHOT_ACK_BEFORE_DURABLE] = "snapshot-ack-before-durable",
    [RAFT_MUTANT_SNAPSHOT_KEEP_CONFLICTING_TAIL] = "snapshot-keep-conflicting-tail",
    [RAFT_MUTANT_MEMBERSHIP_SKIP_JOINT] = "membership-skip-joint",
    [RAFT_MUTANT_MEMBERSHIP_COUNT_LEARNERS] = "membership-count-learners",
    [RAFT_MUTANT_SNAPSHOT_DROP_CONFIG] = "snapshot-drop-config",
};

#ifdef CHORUS_MUTANTS
static const char *const log_mutant_names[] = {
    [LOG_MUTANT_NONE] = "none",
    [LOG_MUTANT_ACK_BEFORE_FSYNC] = "log-ack-before-fsync",
    [LOG_MUTANT_SKIP_DIR_FSYNC] = "log-skip-dir-fsync",
    [LOG_MUTANT_MIDLOG_CORRUPTION_AS_END] = "log-midlog-corruption-as-end",
};
#endif

static void usage(void)
{
    fprintf(stderr,
            "usage: chorus-sim (--seed N | --seeds A-B) [--nodes 1..7] [--clients N] [--ops N]\n"
            "                  [--faults none|net,crash,clock,disk,isolate,bitrot,transfer,membership|all]\n"
            "                  [--faults-seconds S] [--reads mixed|index|lease] [--drift-ppm N]\n"
            "                  [--client-timeout-ms N]\n"
            "                  [--trace FILE] [--verbose] [--mutant NAME]\n"
            "mutants (test builds): commit-old-term vote-without-log-check vote-before-persist\n"
            "  truncate-on-stale-append no-check-quorum-local-reads apply-twice\n"
            "  lease-without-drift-allowance lease-kept-after-timeout-now propose-during-transfer\n"
            "  log-ack-before-fsync log-skip-dir-fsync log-midlog-corruption-as-end\n"
            "  snapshot-ack-before-durable snapshot-keep-conflicting-tail\n"
            "  snapshot-discard-without-barrier membership-skip-joint membership-count-learners\n"
            "  snapshot-drop-config\n");
    exit(2);
}

static uint32_t parse_faults(const char *s)
{
    if (strcmp(s, "none") == 0) {
        return 0;
    }
    if (strcmp(s, "all") == 0) {
        return SIM_FAULT_ALL;
    }
    uint32_t f = 0;
    char copy[128];
    snprintf(copy, sizeof copy, "%s", s);
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "all") == 0) {
            f |= SIM_FAULT_ALL;
        } else if (strcmp(tok, "net") == 0) {
            f |= SIM_FAULT_NET;
        } else if (strcmp(tok, "crash") == 0) {
            f |= SIM_FAULT_CRASH;
        } else if (strcmp(tok, "clock") == 0) {
            f |= SIM_FAULT_CLOCK;
        } else if (strcmp(tok, "bitrot") == 0) {
            f |= SIM_FAULT_BITROT;
        } else if (strcmp(tok, "isolate") == 0) {
            f |= SIM_FAULT_ISOLATE;
        } else if (strcmp(tok, "disk") == 0) {
            f |= SIM_FAULT_DISK;
        } else if (strcmp(tok, "transfer") == 0) {
            f |= SIM_FAULT_TRANSFER;
        } else if (strcmp(tok, "membership") == 0) {
            f |= SIM_FAULT_MEMBERSHIP;
        } else {
            fprintf(stderr, "chorus-sim: unknown fault '%s'\n", tok);
            exit(2);
        }
    }
    return f;
}

static enum sim_reads parse_reads(const char *s)
{
    if (strcmp(s, "mixed") == 0) {
        return SIM_READS_MIXED;
    }
    if (strcmp(s, "index") == 0) {
        return SIM_READS_INDEX;
    }
    if (strcmp(s, "lease") == 0) {
        return SIM_READS_LEASE;
    }
    fprintf(stderr, "chorus-sim: unknown read mode '%s' (mixed, index or lease)\n", s);
    exit(2);
}

static void parse_mutant(struct sim_config *c, const char *name)
{
#ifdef CHORUS_MUTANTS
    if (strcmp(name, "apply-twice") == 0) {
        c->mutant_apply_twice = true;
        return;
    }
    if (strcmp(name, "snapshot-discard-without-barrier") == 0) {
        c->mutant_discard_without_barrier = true;
        return;
    }
    for (int i = 0; i < RAFT_MUTANT_COUNT_; i++) {
        if (strcmp(name, mutant_names[i]) == 0) {
            c->mutant = (enum raft_mutant)i;
            return;
        }
    }
    for (size_t i = 1; i < sizeof log_mutant_names / sizeof log_mutant_names[0]; i++) {
        if (strcmp(name, log_mutant_names[i]) == 0) {
            c->log_mutant = (enum log_mutant)i;
            return;
        }
    }
    fprintf(stderr, "chorus-sim: unknown mutant '%s'\n", name);
#else
    (void)c;
    fprintf(stderr, "chorus-sim: built without known-wrong variants; '%s' unavailable\n", name);
#endif
    exit(2);
}

struct args {
    struct sim_config cfg;
    uint64_t seed_first, seed_last;
    bool sweep;
    const char *trace_path;
    const char *mutant;
    char replay_flags[256];
};

static void parse_args(int argc, char **argv, struct args *a)
{
    sim_config_default(&a->cfg, 1);
    a->seed_first = a->seed_last = 1;
    size_t used = 0;
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes_value = strcmp(k, "--verbose") != 0;
        if (takes_value && v == NULL) {
            usage();
        }
        if (strcmp(k, "--seed") == 0) {
            a->seed_first = a->seed_last = strtoull(v, NULL, 10);
        } else if (strcmp(k, "--seeds") == 0) {
            if (sscanf(v, "%" SCNu64 "-%" SCNu64, &a->seed_first, &a->seed_last) != 2 ||
                a->seed_last < a->seed_first) {
                usage();
            }
            a->sweep = true;
        } else if (strcmp(k, "--nodes") == 0) {
            a->cfg.nodes_count = (uint32_t)atoi(v);
        } else if (strcmp(k, "--clients") == 0) {
            a->cfg.clients_count = (uint32_t)atoi(v);
        } else if (strcmp(k, "--ops") == 0) {
            a->cfg.ops_count = (uint32_t)atoi(v);
        } else if (strcmp(k, "--faults") == 0) {
            a->cfg.faults = parse_faults(v);
        } else if (strcmp(k, "--faults-seconds") == 0) {
            a->cfg.faults_duration_ns = (uint64_t)(atof(v) * 1e9);
        } else if (strcmp(k, "--reads") == 0) {
            a->cfg.reads = parse_reads(v);
        } else if (strcmp(k, "--client-timeout-ms") == 0) {
            a->cfg.client_timeout_ns = (uint64_t)atoi(v) * 1000000u;
        } else if (strcmp(k, "--drift-ppm") == 0) {
            a->cfg.clock_drift_ppm_max = (uint32_t)atoi(v);
        } else if (strcmp(k, "--trace") == 0) {
            a->trace_path = v;
        } else if (strcmp(k, "--mutant") == 0) {
            a->mutant = v;
            parse_mutant(&a->cfg, v);
        } else if (strcmp(k, "--verbose") == 0) {
            a->cfg.verbose = true;
            continue;
        } else {
            usage();
        }
        if (strcmp(k, "--seed") != 0 && strcmp(k, "--seeds") != 0 && strcmp(k, "--trace") != 0) {
            used += (size_t)snprintf(a->replay_flags + used, sizeof a->replay_flags - used,
                                     " %s %s", k, v);
        }
        i++;
    }
    if (a->cfg.nodes_count < 1 || a->cfg.nodes_count > 7 || a->cfg.clients_count < 1 ||
        a->cfg.clients_count > 16 || a->cfg.ops_count < 1 ||
        a->cfg.clock_drift_ppm_max > 200000 || a->cfg.client_timeout_ns == 0) {
        usage();
    }
}

static void print_result(const struct sim_config *c, const struct sim_result *r, double wall_s)
{
    printf("seed=%" PRIu64 " %s%s%s events=%" PRIu64 " virtual=%.1fs wall=%.3fs ops=%" PRIu64
           "/%" PRIu64 "/%" PRIu64 " commits=%" PRIu64 " leaders=%" PRIu64 " crashes=%" PRIu64
           " duplicates=%" PRIu64 " lincheck_unknown=%" PRIu64 " reads=%s/%" PRIu64 " transfers=%" PRIu64
           "/%" PRIu64 " snapshots=%" PRIu64
           " installs=%" PRIu64 " discarded=%" PRIu64 " crashes_mid_send=%" PRIu64 " crashes_mid_receive=%" PRIu64
           " crashes_mid_install=%" PRIu64 " membership=%" PRIu64 "/%" PRIu64 "/%" PRIu64
           " trace=%016" PRIx64 "\n",
           c->seed, r->ok ? "ok" : "FAIL ", r->ok ? "" : r->check, r->ok ? "" : "",
           r->events_count, (double)r->virtual_ns / 1e9, wall_s, r->ops_ok, r->ops_unknown,
           r->ops_failed, r->commits, r->leaders_elected, r->crashes, r->duplicates_answered, r->lincheck_unknown_keys,
           r->lease_reads ? "lease" : "index", r->lease_reads_served, r->transfers_succeeded, r->transfers,
           r->snapshots_taken, r->snapshots_installed, r->snapshots_discarded,
           r->crashes_mid_snapshot_send,
           r->crashes_mid_snapshot_receive, r->crashes_mid_snapshot_install,
           r->membership_attempted, r->membership_accepted, r->membership_completed, r->trace_digest);
    if (!r->ok) {
        printf("  %s: %s\n", r->check, r->detail);
    }
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    struct args a;
    memset(&a, 0, sizeof a);
    parse_args(argc, argv, &a);
    if (a.trace_path != NULL) {
        a.cfg.trace = fopen(a.trace_path, "w");
        if (a.cfg.trace == NULL) {
            perror(a.trace_path);
            return 2;
        }
    }
    uint64_t failures = 0, runs = 0, virtual_ns = 0, commits = 0;
    uint64_t lease_runs = 0, lease_reads = 0, transfers = 0, transfers_succeeded = 0;
    uint64_t snapshots = 0, installs = 0, crashes_mid_send = 0, crashes_mid_receive = 0;
    uint64_t crashes_mid_install = 0, discarded = 0;
    uint64_t changes_attempted = 0, changes_accepted = 0, changes_completed = 0;
    uint64_t leader_removals = 0;
    double start = wall_now();
    for (uint64_t seed = a.seed_first; seed <= a.seed_last; seed++) {
        struct sim_result r;
        a.cfg.seed = seed;
        double t0 = wall_now();
        bool ok = sim_run(&a.cfg, &r);
        runs++;
        virtual_ns += r.virtual_ns;
        commits += r.commits;
        lease_runs += r.lease_reads;
        lease_reads += r.lease_reads_served;
        transfers += r.transfers;
        transfers_succeeded += r.transfers_succeeded;
        snapshots += r.snapshots_taken;
        installs += r.snapshots_installed;
        discarded += r.snapshots_discarded;
        crashes_mid_send += r.crashes_mid_snapshot_send;
        crashes_mid_receive += r.crashes_mid_snapshot_receive;
        crashes_mid_install += r.crashes_mid_snapshot_install;
        changes_attempted += r.membership_attempted;
        changes_accepted += r.membership_accepted;
        changes_completed += r.membership_completed;
        leader_removals += r.membership_leader_removals;
        if (!a.sweep) {
            print_result(&a.cfg, &r, wall_now() - t0);
        } else if (!ok) {
            printf("FAIL seed=%" PRIu64 " check=%s: %s\n  replay: chorus-sim --seed %" PRIu64 "%s\n",
                   seed, r.check, r.detail, seed, a.replay_flags);
            fflush(stdout);
        }
        failures += !ok;
    }
    double wall = wall_now() - start;
    if (a.sweep) {
        printf("sweep seeds %" PRIu64 "-%" PRIu64 ": %" PRIu64 " runs, %" PRIu64 " failed; "
               "%.1f virtual s per wall s, %.0f commits per wall s, %.1f s wall\n"
               "  %" PRIu64 " runs with lease reads (%" PRIu64 " reads served from a lease); "
               "leadership transfers: %" PRIu64
               " begun, %" PRIu64 " succeeded\n",
               a.seed_first, a.seed_last, runs, failures, (double)virtual_ns / 1e9 / wall,
               (double)commits / wall, wall, lease_runs, lease_reads, transfers, transfers_succeeded);
        printf("snapshots: %" PRIu64 " taken, %" PRIu64 " installed, %" PRIu64 " damaged on disk "
               "and fetched again; crashes while sending one: "
               "%" PRIu64 ", holding part of one: %" PRIu64 ", before an install was durable: "
               "%" PRIu64 "\n",
               snapshots, installs, discarded, crashes_mid_send, crashes_mid_receive,
               crashes_mid_install);
        if (changes_attempted > 0) {
            printf("membership changes: %" PRIu64 " attempted, %" PRIu64 " accepted (%" PRIu64
                   " removing the leader), %" PRIu64 " configurations committed\n",
                   changes_attempted, changes_accepted, leader_removals, changes_completed);
        }
    }
    if (a.cfg.trace != NULL) {
        fclose(a.cfg.trace);
    }
    return failures == 0 ? 0 : 1;
}
