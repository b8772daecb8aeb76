/* The deterministic simulator (DESIGN.md §4 "sim"): one thread, virtual time, a seeded
 * scheduler, a simulated network, simulated disks and clocks, a client workload and the
 * checkers. It drives the very same protocol code the server runs. A run is a pure
 * function of its configuration: the same seed gives the same trace digest.
 *
 * Files: sim.c (event loop, faults, run), sim_node.c (one node: Raft + KV + storage, the
 * driver half of the Raft update protocol), sim_client.c (workload and history),
 * sim_check.c (safety checkers), sim_sm.c (the state-machine adapter), main.c (CLI). */
#ifndef CHORUS_SIM_H
#define CHORUS_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "log/log.h"
#include "raft/raft.h"

#define SIM_NODES_MAX 7
#define SIM_CLIENTS_MAX 16

enum sim_faults {
    SIM_FAULT_NET = 1u << 0,   /* loss, duplication, reordering, delay spikes, partitions */
    SIM_FAULT_CRASH = 1u << 1, /* crashes with loss of unsynced writes, restarts, pauses */
    SIM_FAULT_CLOCK = 1u << 2, /* per-node clock drift within the configured bound */
    SIM_FAULT_DISK = 1u << 3,  /* fsync failing with EIO, a full disk (ENOSPC): fail-stop */
    SIM_FAULT_ISOLATE = 1u << 4, /* a flapping network that keeps cutting off the leader */
    /* Latent bit flips in log segments of a crashed node (damage kept to a minority),
     * repaired by cutting the log and a durable vote barrier. */
    SIM_FAULT_BITROT = 1u << 5,
    /* Not a fault but an operator's action drawn by the same schedule: the leader is
     * told to hand leadership to a random node (sim_transfer.c). */
    SIM_FAULT_TRANSFER = 1u << 6,
    /* Membership changes while faults run (sim_membership.c; needs four or more nodes),
     * together with snapshots: the configuration travels with them. */
    SIM_FAULT_MEMBERSHIP = 1u << 7,
    SIM_FAULT_ALL = SIM_FAULT_NET | SIM_FAULT_CRASH | SIM_FAULT_CLOCK | SIM_FAULT_DISK |
                    SIM_FAULT_ISOLATE | SIM_FAULT_BITROT | SIM_FAULT_TRANSFER |
                    SIM_FAULT_MEMBERSHIP,
};

/* How the cluster serves reads. MIXED, the default, gives a quarter of the seeds lease
 * reads (drawn from the seed), so every sweep exercises both. */
enum sim_reads { SIM_READS_MIXED = 0, SIM_READS_INDEX, SIM_READS_LEASE };

struct sim_config {
    uint64_t seed;
    uint32_t nodes_count;
    uint32_t clients_count;
    uint32_t ops_count;            /* client operations in the whole run */
    uint32_t faults;               /* enum sim_faults bits */
    uint64_t faults_duration_ns;   /* faults run this long, then everything heals */
    uint64_t progress_bound_ns;    /* after healing, every operation must finish by then */
    uint32_t clock_drift_ppm_max;  /* |drift| bound of every node's clock */
    enum sim_reads reads;
    uint64_t client_timeout_ns;    /* a client retries elsewhere after this long */
    enum raft_mutant mutant;
    bool mutant_apply_twice;       /* known-wrong state machine: sessions ignored */
    enum log_mutant log_mutant;    /* known-wrong write-ahead log */
    bool mutant_discard_without_barrier; /* known-wrong driver: a node that discarded a
                                          * damaged snapshot votes at once */
    bool verbose;
    FILE *trace;                   /* JSON lines of every event, or NULL */
};

void sim_config_default(struct sim_config *c, uint64_t seed);

struct sim_result {
    bool ok;
    char check[32];          /* name of the check that failed, "" when ok */
    char detail[256];
    uint64_t trace_digest;
    uint64_t virtual_ns;
    uint64_t events_count;
    uint64_t ops_ok;
    uint64_t ops_unknown;
    uint64_t ops_failed;
    uint64_t commits;        /* entries applied by the cluster (highest applied index) */
    uint64_t leaders_elected;
    uint64_t crashes;
    uint64_t duplicates_answered; /* retried commands found again in the log, answered once */
    uint64_t lincheck_unknown_keys; /* keys the checker could not decide in its budget */
    bool lease_reads;        /* the run's cluster was configured for lease reads */
    uint64_t lease_reads_served; /* reads answered from a lease, without a round */
    uint64_t transfers;      /* leadership transfers the workload asked for and were begun */
    uint64_t transfers_succeeded; /* ... whose target became the next leader */
    uint64_t snapshots_taken;     /* state machine serialised, log compacted behind it */
    uint64_t snapshots_installed; /* InstallSnapshot completed on a follower */
    uint64_t snapshots_discarded; /* damaged on disk, fetched again from the leader */
    uint64_t crashes_mid_snapshot_send;    /* a leader crashed while sending a snapshot */
    uint64_t crashes_mid_snapshot_receive; /* a follower crashed holding part of a snapshot */
    uint64_t crashes_mid_snapshot_install; /* a follower crashed before its install was durable */
    uint64_t membership_attempted; /* raft_change_membership calls */
    uint64_t membership_accepted;  /* of which the leader appended a config entry */
    uint64_t membership_completed; /* non-joint configurations committed (applied) */
    uint64_t membership_leader_removals; /* accepted changes that remove the leader */
};

/* Runs one simulation. Returns true when every check passed. */
bool sim_run(const struct sim_config *cfg, struct sim_result *out);

#endif
