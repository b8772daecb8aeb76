/* Leadership hand-off in the server: the CHORUS admin commands that move or name the
 * leader, and the graceful shutdown that hands leadership over before the process exits
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

static bool is(const uint8_t *name, size_t len, const char *want)
{
    return strlen(want) == len && strncasecmp((const char *)name, want, len) == 0;
}

/* A node id: 1 to 10 decimal digits within uint32; 0 when malformed. */
static node_id_t parse_id(const uint8_t *text, size_t len)
{
    if (len == 0 || len > 10) {
        return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return 0;
        }
        v = v * 10 + (uint64_t)(text[i] - '0');
    }
    return v <= UINT32_MAX ? (node_id_t)v : 0;
}

static void transfer(struct server *s, const uint8_t *arg, size_t len, struct kv_reply *r)
{
    node_id_t target = parse_id(arg, len);
    if (target == 0) {
        kv_reply_errorf(r, "ERR invalid node id '%.*s'", (int)len, arg);
        return;
    }
    int rc = raft_transfer_leadership(s->raft, server_now_ns(), target);
    switch (rc) {
    case 0:
        kv_reply_status(r, "OK");
        server_process(s);
        break;
    case ERR_NOT_LEADER:
        kv_reply_errorf(r, "ERR not the leader; node %u leads", raft_leader(s->raft));
        break;
    case ERR_INVALID: kv_reply_error(r, "ERR node already leads"); break;
    case ERR_NOT_FOUND: kv_reply_errorf(r, "ERR no node %u in the cluster", target); break;
    case ERR_BUSY:
        kv_reply_errorf(r, "ERR a transfer to node %u is in progress", raft_transfer_target(s->raft));
        break;
    default: kv_reply_errorf(r, "ERR transfer refused: %s", err_str(rc)); break;
    }
}

bool handoff_command(struct server *s, int argc, const uint8_t *const *argv, const size_t *lens,
                     struct kv_reply *r)
{
    if (!is(argv[0], lens[0], "chorus") || argc < 2) {
        return false;
    }
    if (is(argv[1], lens[1], "transfer") && argc == 3) {
        transfer(s, argv[2], lens[2], r);
    } else if (is(argv[1], lens[1], "leader") && argc == 2) {
        kv_reply_integer(r, raft_leader(s->raft));
    } else if (is(argv[1], lens[1], "transfer") || is(argv[1], lens[1], "leader")) {
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
