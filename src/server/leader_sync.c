/* The leader's deferred fsync (Raft thesis §10.2.1: the leader may write its log in
 * parallel with replication, and an entry that a majority of followers hold durably is
 * committed without the leader's own copy).
 *
 * With `leader-sync-delay-ms N` (N > 0), a leader whose followers keep up queues its
 * entry writes with defer_sync: the disk worker writes them at once but lets their
 * fdatasync wait up to N ms, so one sync covers many batches. Commits come from the
 * followers' acknowledgements; Raft counts the leader's copy only once it is synced, so
 * every write acknowledged to a client is still fsynced on a majority. Where members
 * share one disk this takes a third of the flushes off the commit path.
 *
 * Deferring needs a quorum of voters other than the leader whose match index reached the
 * commit index of one to two SERVER_LEADER_HEALTH_MS periods ago: with a follower down,
 * the leader syncs every batch again within two periods. Between those checks a commit
 * may still wait on the leader's copy (a follower lagging): raft_commit_waiting_on_self
 * names the index that waits, and if it is still uncommitted `leader-sync-grace-ms` (default
 * 2) after it first appeared, the leader syncs at once. */
#include "server/server.h"

/* A follower keeping up: it holds what was committed one to two health periods ago. */
static bool keeping_up(const void *ctx, node_id_t id)
{
    const struct server *s = ctx;
    return id != s->cfg.id &&
           raft_member_match_index(s->raft, id) >= s->leader_sync_commit_mark_previous;
}

bool leader_sync_may_defer(const struct server *s)
{
    return s->cfg.leader_sync_delay_ms > 0 && raft_role(s->raft) == RAFT_LEADER &&
           raft_config_has_quorum(raft_configuration(s->raft), keeping_up, s);
}

void leader_sync_on_timer(uv_timer_t *t)
{
    server_process(t->data);
}

void leader_sync_watch(struct server *s, uint64_t now_ns)
{
    if (now_ns - s->leader_sync_mark_ns >= SERVER_LEADER_HEALTH_MS * 1000000ull) {
        s->leader_sync_commit_mark_previous = s->leader_sync_commit_mark;
        s->leader_sync_commit_mark = raft_commit_index(s->raft);
        s->leader_sync_mark_ns = now_ns;
    }
    raft_index_t waiting = raft_commit_waiting_on_self(s->raft);
    if (waiting == 0 || !leader_sync_may_defer(s)) {
        /* Nothing waits, or every batch is synced at once (and with it whatever a
         * forced sync left behind). */
        s->leader_sync_waiting_index = 0;
        return;
    }
    if (s->leader_sync_waiting_index == 0 ||
        raft_commit_index(s->raft) >= s->leader_sync_waiting_index) {
        /* A new wait: the followers caught up with the previous one. */
        s->leader_sync_waiting_index = waiting;
        s->leader_sync_waiting_since_ns = now_ns;
        uv_timer_start(&s->leader_sync_timer, leader_sync_on_timer, s->cfg.leader_sync_grace_ms,
                       0);
        return;
    }
    if (now_ns - s->leader_sync_waiting_since_ns < s->cfg.leader_sync_grace_ms * 1000000ull) {
        return;
    }
    disk_worker_sync_now(&s->disk);
    s->leader_sync_waiting_index = 0;
    s->metrics.leader_syncs_forced++;
    LOG_AT(&s->logger, LOG_DEBUG, "commit of %llu waits on our own sync: syncing now",
           (unsigned long long)waiting);
}
