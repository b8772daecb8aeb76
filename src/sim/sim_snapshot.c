/* Snapshots in the simulator: the driver half of Raft's snapshot effects, exactly as the
 * server does it, on the real log (src/log) and the real state machine (src/kv).
 *
 * Taking: after applying, a node whose applied index is snapshot_every_entries past its
 * last snapshot serialises its state machine (kv_snapshot_write), saves it durably
 * (log_snapshot_save), compacts its log behind it (log_compact) and tells Raft
 * (raft_snapshot_taken), which then sends it to followers that fell behind.
 *
 * Installing: a complete snapshot from the leader becomes a disk operation, completed in
 * order with the node's other writes; a crash before completion loses it. Completion
 * saves it, replaces the log as Raft said (keep the tail after it, or drop the log),
 * loads the state machine and reports raft_persisted_snapshot.
 *
 * Every snapshot is saved with the configuration in effect as of its index
 * (raft_snapshot_config_encode when taken, snapshot_install.config when installed), and
 * Raft gets it back at boot (raft_boot.snapshot_config): membership changes, snapshots
 * and every fault run together.
 *
 * Recovery: a node restarts from its snapshot plus the log after it. A snapshot damaged
 * on disk (a latent bit flip) takes the state the log after it builds on: the node keeps
 * its term and vote, discards the snapshot and the log, and neither votes nor campaigns
 * until a leader has repaired it past everything it had (a vote barrier), fetching the
 * snapshot again. The checkers compare the state digest at every snapshot index
 * (check_snapshot_state). */
#include <stdlib.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "sim/sim_impl.h"

void sim_snapshot_maybe_take(struct sim_world *w, struct sim_node *n)
{
    raft_index_t index = raft_applied_index(n->raft);
    if (n->crash_now || n->install_pending || n->log == NULL ||
        index < raft_snapshot_index(n->raft) + w->snapshot_every_entries) {
        return;
    }
    raft_term_t term = raft_term_at(n->raft, index);
    buf_reset(&n->snapshot_next);
    ASSERT(sm_snapshot_write(n->sm, &n->snapshot_next) == 0);
    uint8_t config[RAFT_CONFIG_ENCODED_SIZE_MAX];
    size_t config_len = raft_snapshot_config_encode(n->raft, index, config);
    int rc = log_snapshot_save(n->log, index, term, config, (uint32_t)config_len,
                               n->snapshot_next.data, n->snapshot_next.len);
    if (rc == 0) {
        rc = log_compact(n->log, index);
    }
    if (rc != 0) {
        node_fail_stop(w, n, "snapshot", rc);
        return;
    }
    /* Raft borrows the bytes until the next snapshot: build each in the spare buffer. */
    struct buf spare = n->snapshot;
    n->snapshot = n->snapshot_next;
    n->snapshot_next = spare;
    ASSERT(raft_snapshot_taken(n->raft, sim_node_now(w, n), index, n->snapshot.data,
                               n->snapshot.len) == 0);
    n->synced_snapshot_index = index;
    n->synced_snapshot_term = term;
    w->result->snapshots_taken++;
    sim_trace(w, "\"ev\":\"snapshot\",\"node\":%u,\"index\":%llu,\"bytes\":%zu", n->id,
              (unsigned long long)index, n->snapshot.len);
    check_snapshot_state(w, n, index, true);
}

void sim_snapshot_queue_install(struct sim_world *w, struct sim_node *n,
                                const struct raft_snapshot_install *install)
{
    struct disk_op *op = calloc(1, sizeof *op);
    ASSERT(op != NULL);
    op->install = install;
    n->install_pending = true;
    sim_trace(w, "\"ev\":\"install_queued\",\"node\":%u,\"index\":%llu", n->id,
              (unsigned long long)install->index);
    node_disk_enqueue(w, n, op);
}

/* Replaces the durable log as the install says: docs/log.md, log_compact. */
static int install_replace_log(struct sim_node *n, const struct raft_snapshot_install *in)
{
    int rc = log_snapshot_save(n->log, in->index, in->term, in->config, in->config_len, in->data,
                               in->size_bytes);
    if (rc == 0 && !in->log_tail_matches) {
        rc = log_truncate_suffix(n->log, log_first_index(n->log));
    }
    if (rc == 0) {
        rc = log_compact(n->log, in->index);
    }
    return rc;
}

void sim_snapshot_install_done(struct sim_world *w, struct sim_node *n, struct disk_op *op)
{
    const struct raft_snapshot_install *in = op->install;
    raft_index_t index = in->index;
    raft_term_t term = in->term;
    bool kept = in->log_tail_matches;
    n->install_pending = false;
    int rc = install_replace_log(n, in);
    if (rc != 0) {
        node_fail_stop(w, n, "install", rc);
        return;
    }
    if (sm_snapshot_load(n->sm, in->data, in->size_bytes) != 0) {
        sim_fail(w, "snapshot", "node %u cannot load the snapshot at %llu it received",
                 n->id, (unsigned long long)index);
        return;
    }
    n->synced_snapshot_index = index;
    n->synced_snapshot_term = term;
    /* The durable log is now the snapshot, plus the synced tail when it was kept: a
     * dropped tail no longer counts for the checkers (its votes follow the snapshot). */
    node_synced_refresh(n, kept ? n->synced_count : index);
    raft_persisted_snapshot(n->raft, sim_node_now(w, n), index, term);
    w->result->snapshots_installed++;
    sim_trace(w, "\"ev\":\"installed\",\"node\":%u,\"index\":%llu,\"tail_kept\":%s", n->id,
              (unsigned long long)index, kept ? "true" : "false");
    check_snapshot_installed(w, n, index, kept);
}

/* The snapshot failed its checks: keep only term and vote (the meta file), reopen an
 * empty log, and bar votes up to everything the node may have held or acknowledged. */
int sim_snapshot_discard_damaged(struct sim_world *w, struct sim_node *n,
                                 struct log_recovery *report, raft_index_t *barrier_out)
{
    raft_index_t had = MAX(MAX(report->last_index, n->synced_snapshot_index), n->promised_match);
    log_close(n->log);
    n->log = NULL;
    struct disk *disk = disk_sim_disk(n->disk);
    int rc = log_discard_entries_and_snapshot(disk);
    if (rc == 0) {
        struct log_config cfg = {.segment_size_bytes = SIM_SEGMENT_SIZE_BYTES,
                                 .mutant = w->cfg.log_mutant,
                                 .preallocate_bytes = SIM_PREALLOCATE_BYTES};
        rc = log_open(&n->log, disk, &cfg, report);
    }
    sim_trace(w, "\"ev\":\"snapshot_discarded\",\"node\":%u,\"barrier\":%llu,\"rc\":%d", n->id,
              (unsigned long long)had, rc);
    n->promised_match = 0; /* the disk lost it; the barrier keeps Raft safe */
    n->synced_snapshot_index = 0;
    n->synced_snapshot_term = 0;
    w->result->snapshots_discarded++;
    *barrier_out = had;
#ifdef CHORUS_MUTANTS
    if (w->cfg.mutant_discard_without_barrier) {
        *barrier_out = 0;
    }
#endif
    return rc;
}

/* Reads the snapshot log_open found into n->snapshot and describes it in boot, with the
 * log's entries starting right after it. False when the node cannot start. */
bool sim_snapshot_recover(struct sim_world *w, struct sim_node *n, const struct log_recovery *report,
                          struct raft_boot *boot)
{
    buf_reset(&n->snapshot);
    n->synced_snapshot_index = 0;
    n->synced_snapshot_term = 0;
    if (!report->snapshot_present) {
        return true;
    }
    struct log_snapshot snap;
    int rc = log_snapshot_load(n->log, &snap);
    if (rc != 0) {
        /* The simulated disk never damages a snapshot file: a bug in the log. */
        sim_fail(w, "log_recovery", "node %u: snapshot %llu unreadable: %s", n->id,
                 (unsigned long long)report->snapshot_index, err_name(rc));
        return false;
    }
    ASSERT(buf_put(&n->snapshot, snap.data, (size_t)snap.data_len) == 0);
    ASSERT(snap.config_len <= sizeof n->snapshot_config);
    memcpy(n->snapshot_config, snap.config, snap.config_len);
    boot->snapshot_config = n->snapshot_config;
    boot->snapshot_config_len = snap.config_len;
    boot->snapshot_index = snap.meta.index;
    boot->snapshot_term = snap.meta.term;
    boot->snapshot_data = n->snapshot.data;
    boot->snapshot_size_bytes = n->snapshot.len;
    n->synced_snapshot_index = snap.meta.index;
    n->synced_snapshot_term = snap.meta.term;
    log_snapshot_free(&snap);
    return true;
}

/* After a restart: the state machine starts from the snapshot, not from nothing. */
void sim_snapshot_load_state(struct sim_world *w, struct sim_node *n)
{
    raft_index_t index = raft_snapshot_index(n->raft);
    if (index == 0) {
        return;
    }
    if (sm_snapshot_load(n->sm, n->snapshot.data, n->snapshot.len) != 0) {
        sim_fail(w, "snapshot", "node %u cannot load its own snapshot at %llu", n->id,
                 (unsigned long long)index);
        return;
    }
    check_snapshot_state(w, n, index, false);
}
