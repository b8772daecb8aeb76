/* snapshots: the server's half of Raft's snapshots (src/raft/snapshot.c), as the
 * simulator does it (src/sim/sim_snapshot.c), with the disk work on the disk worker.
 *
 * Each snapshot is saved with Raft's configuration as of its index (the membership the
 * compacted log no longer holds), and Raft gets it back at boot.
 *
 * Taking: every `snapshot-entries` applied entries, or on CHORUS SNAPSHOT, the loop
 * serialises the keyspace (kv_snapshot_write) into snapshot_saving, with the configuration
 * (raft_snapshot_config_encode) into snapshot_saving_config, and queues a save; the
 * worker saves it durably and compacts the log behind it; on completion Raft is told
 * (raft_snapshot_taken) and borrows the bytes, which become `snapshot`, to send to
 * followers that fell behind. One save is in flight at a time.
 *
 * Installing: a snapshot the leader sent, complete, is queued as a save that drops a
 * conflicting log; on completion the keyspace is loaded from it and Raft told
 * (raft_persisted_snapshot), which only then acknowledges it.
 *
 * Recovery: the keyspace starts from the recovered snapshot and Raft from the entries
 * after it. */
#include "base/errors.h"
#include "server/server.h"

int server_snapshot_take(struct server *s, bool force, raft_index_t *index_out)
{
    raft_index_t applied = raft_applied_index(s->raft);
    raft_index_t last = raft_snapshot_index(s->raft);
    if (s->snapshot_in_flight || s->install_in_flight) {
        return ERR_BUSY;
    }
    if (applied <= last || (!force && applied - last < s->cfg.snapshot_entries)) {
        return ERR_NOT_FOUND; /* nothing (or not enough) applied since the last one */
    }
    buf_reset(&s->snapshot_saving);
    uint64_t started_ns = server_now_ns();
    int rc = kv_snapshot_write(s->kv, &s->snapshot_saving);
    LOG_AT(&s->logger, LOG_INFO, "snapshot at %llu: %zu bytes serialised in %.1f ms",
           (unsigned long long)applied, s->snapshot_saving.len,
           (double)(server_now_ns() - started_ns) / 1e6);
    if (rc == 0) {
        size_t config_len = raft_snapshot_config_encode(s->raft, applied,
                                                        s->snapshot_saving_config);
        rc = disk_worker_save_snapshot(&s->disk, applied, raft_term_at(s->raft, applied),
                                       s->snapshot_saving_config, (uint32_t)config_len,
                                       s->snapshot_saving.data, s->snapshot_saving.len, false,
                                       false);
    }
    if (rc != 0) {
        return rc;
    }
    s->snapshot_in_flight = true;
    *index_out = applied;
    return 0;
}

void server_snapshot_install(struct server *s, const struct raft_snapshot_install *in)
{
    int rc = disk_worker_save_snapshot(&s->disk, in->index, in->term, in->config, in->config_len,
                                       in->data, in->size_bytes, true, in->log_tail_matches);
    if (rc != 0) {
        LOG_AT(&s->logger, LOG_ERROR, "cannot queue the install of snapshot %llu: %s",
               (unsigned long long)in->index, err_str(rc));
        return;
    }
    s->install_in_flight = true;
}

static void taken(struct server *s, const struct disk_job *job, uint64_t now)
{
    s->snapshot_in_flight = false;
    int rc = raft_snapshot_taken(s->raft, now, job->snapshot_index, s->snapshot_saving.data,
                                 s->snapshot_saving.len);
    if (rc != 0) {
        return; /* an installed snapshot overtook it: Raft keeps borrowing the old bytes */
    }
    /* Raft borrows the saved bytes now; the old ones become the next spare buffer. */
    struct buf spare = s->snapshot;
    s->snapshot = s->snapshot_saving;
    s->snapshot_saving = spare;
    s->snapshots_taken++;
    LOG_AT(&s->logger, LOG_INFO, "snapshot at %llu saved (%zu bytes); log compacted",
           (unsigned long long)job->snapshot_index, s->snapshot.len);
}

static void installed(struct server *s, const struct disk_job *job, uint64_t now)
{
    s->install_in_flight = false;
    int rc = kv_snapshot_load(s->kv, job->snapshot_data, (size_t)job->snapshot_size_bytes);
    if (rc != 0) {
        /* Checked on the wire and built by our own code: this is a bug, not a fault. The
         * node stays installing (no votes, no campaigns) rather than apply onto junk. */
        LOG_AT(&s->logger, LOG_ERROR, "cannot load snapshot %llu from the leader: %s",
               (unsigned long long)job->snapshot_index, err_str(rc));
        return;
    }
    raft_persisted_snapshot(s->raft, now, job->snapshot_index, job->snapshot_term);
    s->snapshots_installed++;
    LOG_AT(&s->logger, LOG_INFO, "installed snapshot %llu from the leader",
           (unsigned long long)job->snapshot_index);
}

void server_snapshot_done(struct server *s, const struct disk_job *job, uint64_t now)
{
    if (job->snapshot_install) {
        installed(s, job, now);
    } else {
        taken(s, job, now);
    }
}

int server_snapshot_boot(struct server *s, const struct log_snapshot *snap, struct raft_boot *boot)
{
    if (snap->meta.index == 0) {
        return 0;
    }
    if (buf_put(&s->snapshot, snap->data, (size_t)snap->data_len) != 0) {
        return ERR_NOMEM;
    }
    boot->snapshot_index = snap->meta.index;
    boot->snapshot_term = snap->meta.term;
    boot->snapshot_data = s->snapshot.data;
    boot->snapshot_size_bytes = s->snapshot.len;
    boot->snapshot_config = snap->config; /* read by raft_create, before snap is freed */
    boot->snapshot_config_len = snap->config_len;
    boot->first_index = snap->meta.index + 1;
    boot->base_term = snap->meta.term;
    return 0;
}

int server_snapshot_load_state(struct server *s)
{
    if (raft_snapshot_index(s->raft) == 0) {
        return 0;
    }
    int rc = kv_snapshot_load(s->kv, s->snapshot.data, s->snapshot.len);
    if (rc != 0) {
        LOG_AT(&s->logger, LOG_ERROR, "cannot load the recovered snapshot: %s", err_str(rc));
    }
    return rc;
}

int server_snapshot_now(struct server *s, raft_index_t *index, char *why, size_t cap)
{
    int rc = server_snapshot_take(s, true, index);
    if (rc == 0) {
        snprintf(why, cap, "OK");
    } else if (rc == ERR_BUSY) {
        snprintf(why, cap, "a snapshot is being saved or installed");
    } else if (rc == ERR_NOT_FOUND) {
        snprintf(why, cap, "nothing applied since the last snapshot");
    } else {
        snprintf(why, cap, "snapshot failed: %s", err_str(rc));
    }
    return rc;
}

void server_snapshot_command(struct server *s, struct kv_reply *r)
{
    raft_index_t index = 0;
    char why[128];
    int rc = server_snapshot_now(s, &index, why, sizeof why);
    if (rc == 0) {
        kv_reply_integer(r, (int64_t)index);
    } else {
        kv_reply_errorf(r, "%s %s", rc == ERR_BUSY ? "BUSY" : "ERR", why);
    }
}

void server_snapshot_info(const struct server *s, struct buf *out)
{
    char text[256];
    int n = snprintf(text, sizeof text,
                     "\r\n# Snapshots\r\nchorus_snapshot_index:%llu\r\nchorus_first_index:%llu\r\n"
                     "chorus_snapshots_taken:%llu\r\nchorus_snapshots_installed:%llu\r\n",
                     (unsigned long long)raft_snapshot_index(s->raft),
                     (unsigned long long)raft_first_index(s->raft),
                     (unsigned long long)s->snapshots_taken,
                     (unsigned long long)s->snapshots_installed);
    buf_put(out, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
}

void server_snapshot_metrics(const struct server *s, struct buf *out)
{
    char text[512];
    int n = snprintf(text, sizeof text,
                     "# TYPE chorus_snapshot_index gauge\nchorus_snapshot_index %llu\n"
                     "# TYPE chorus_snapshots_taken_total counter\nchorus_snapshots_taken_total %llu\n"
                     "# TYPE chorus_snapshots_installed_total counter\n"
                     "chorus_snapshots_installed_total %llu\n"
                     "# TYPE chorus_snapshots_sending gauge\nchorus_snapshots_sending %u\n",
                     (unsigned long long)raft_snapshot_index(s->raft),
                     (unsigned long long)s->snapshots_taken,
                     (unsigned long long)s->snapshots_installed, raft_snapshots_sending(s->raft));
    buf_put(out, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
}
