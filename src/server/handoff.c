/* Leadership hand-off in the server: CHORUS LEADER (CHORUS TRANSFER is in members.c,
 * which a follower forwards to the leader), and the graceful shutdown that hands leadership over before the process exits
 * (Raft thesis §3.10), so that a planned restart costs the cluster a round trip instead
 * of an election timeout without a leader. The protocol itself is src/raft/transfer.c;
 * this file only asks for it and watches the outcome. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/errors.h"
#include "server/server.h"

void handoff_begin(struct server *s)
{
    if (s->stopping) {
        return;
    }
    uint64_t now = server_now_ns();
    node_id_t target = raft_most_up_to_date_follower(s->raft);
    if (s->handoff_deadline_ns != 0 || target == 0 ||
        raft_transfer_leadership(s->raft, now, target) != 0) {
        server_stop(s); /* not a leader, alone, or asked twice: nothing to hand over */
        return;
    }
    LOG_AT(&s->logger, LOG_INFO, "handing leadership to node %u before stopping", target);
    s->handoff_deadline_ns = now + SERVER_HANDOFF_MS_MAX * 1000000ull;
    server_process(s);
}

void handoff_tick(struct server *s, uint64_t now_ns)
{
    if (s->handoff_deadline_ns == 0 || s->stopping) {
        return;
    }
    if (raft_role(s->raft) != RAFT_LEADER) {
        LOG_AT(&s->logger, LOG_INFO, "stepped down (leader now %u); stopping", raft_leader(s->raft));
        server_stop(s);
    } else if (now_ns >= s->handoff_deadline_ns) {
        LOG_AT(&s->logger, LOG_WARN, "leadership transfer did not finish in %u ms; stopping",
               SERVER_HANDOFF_MS_MAX);
        server_stop(s);
    } else if (raft_transfer_target(s->raft) == 0) {
        /* The transfer was abandoned (target unreachable): try the best follower again. */
        raft_transfer_leadership(s->raft, now_ns, raft_most_up_to_date_follower(s->raft));
    }
}

bool handoff_command(struct server *s, int argc, const uint8_t *const *argv, const size_t *lens,
                     struct kv_reply *r)
{
    if (!server_word_is(argv[0], lens[0], "chorus") || argc < 2) {
        return false;
    }
    if (server_word_is(argv[1], lens[1], "leader") && argc == 2) {
        kv_reply_integer(r, raft_leader(s->raft));
    } else if (server_word_is(argv[1], lens[1], "leader")) {
        kv_reply_errorf(r, "ERR wrong number of arguments for 'chorus|%.*s' command", (int)lens[1],
                        argv[1]);
    } else {
        return false;
    }
    return true;
}

void handoff_metrics(struct server *s, struct buf *out)
{
    char text[512];
    int n = snprintf(text, sizeof text,
                     "# TYPE chorus_lease_reads_total counter\nchorus_lease_reads_total %llu\n"
                     "# TYPE chorus_lease_held gauge\nchorus_lease_held %d\n"
                     "# TYPE chorus_transfer_target gauge\nchorus_transfer_target %u\n",
                     (unsigned long long)s->metrics.lease_reads,
                     raft_lease_holds(s->raft, server_now_ns()), raft_transfer_target(s->raft));
    buf_put(out, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
}
