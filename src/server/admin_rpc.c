/* admin_rpc: the Admin service over framed RPC envelopes on the cluster port; see
 * admin_rpc.h. */
#include "server/admin_rpc.h"

#include <stdio.h>
#include <string.h>

#include "base/errors.h"
#include "server/server.h"
#include "wire/frame.h"

static Chorus__Role role_of(enum raft_role role)
{
    switch (role) {
    case RAFT_LEADER:
        return CHORUS__ROLE__ROLE_LEADER;
    case RAFT_CANDIDATE:
    case RAFT_PRE_CANDIDATE:
        return CHORUS__ROLE__ROLE_CANDIDATE;
    case RAFT_FOLLOWER:
        return CHORUS__ROLE__ROLE_FOLLOWER;
    }
    return CHORUS__ROLE__ROLE_UNKNOWN;
}

static void admin_status(Chorus__Admin_Service *svc, const Chorus__StatusRequest *in,
                         Chorus__StatusReply_Closure done, void *call)
{
    (void)in;
    const struct server *s = ((struct admin_rpc *)svc)->server;
    uint32_t voters[SERVER_PEERS_COUNT_MAX];
    for (uint32_t i = 0; i < s->cfg.peers_count; i++) {
        voters[i] = s->cfg.peers[i].id;
    }
    Chorus__StatusReply r = CHORUS__STATUS_REPLY__INIT;
    r.node_id = s->cfg.id;
    r.role = role_of(raft_role(s->raft));
    r.term = raft_term(s->raft);
    r.leader_id = raft_leader(s->raft);
    r.commit_index = raft_commit_index(s->raft);
    r.applied_index = raft_applied_index(s->raft);
    r.last_log_index = raft_last_index(s->raft);
    r.n_voters = s->cfg.peers_count;
    r.voters = voters;
    done(&r, call);
}

int admin_rpc_init(struct admin_rpc *a, struct server *s)
{
    memset(a, 0, sizeof *a);
    chorus__admin__init(&a->service, NULL);
    a->service.status = admin_status;
    a->server = s;
    buf_init(&a->frame, 0);
    struct rpc_server_config cfg;
    rpc_server_config_defaults(&cfg);
    int rc = rpc_server_create(&cfg, &a->rpc);
    if (rc == 0) {
        rc = rpc_server_add_service(a->rpc, &a->service.base);
    }
    return rc;
}

void admin_rpc_free(struct admin_rpc *a)
{
    rpc_server_destroy(a->rpc);
    buf_free(&a->frame);
    a->rpc = NULL;
}

/* The token of a caller's address, remembering it (over the oldest) when new. */
static uint32_t caller_token(struct admin_rpc *a, const struct sockaddr_in *from)
{
    for (uint32_t i = 0; i < a->callers_count; i++) {
        if (a->callers[i].sin_addr.s_addr == from->sin_addr.s_addr &&
            a->callers[i].sin_port == from->sin_port) {
            return i + 1;
        }
    }
    uint32_t slot = a->callers_next;
    a->callers_next = (a->callers_next + 1) % ADMIN_RPC_CALLERS_MAX;
    if (a->callers_count < ADMIN_RPC_CALLERS_MAX) {
        a->callers_count++;
    }
    a->callers[slot] = *from;
    return slot + 1;
}

static void send_replies(struct admin_rpc *a)
{
    struct server *s = a->server;
    struct buf envelope;
    buf_init(&envelope, 0);
    uint32_t token = 0;
    while (rpc_server_next_message(a->rpc, &token, &envelope)) {
        struct frame_header h = {.version = FRAME_VERSION, .kind = FRAME_KIND_RPC,
                                 .cluster_id = ADMIN_RPC_CLUSTER_ID, .from = s->cfg.id};
        buf_reset(&a->frame);
        if (token >= 1 && token <= a->callers_count &&
            frame_encode(&a->frame, &h, envelope.data, envelope.len) == 0) {
            net_udp_send(&s->udp, &a->callers[token - 1], a->frame.data, a->frame.len);
        }
        buf_reset(&envelope);
    }
    buf_free(&envelope);
}

void admin_rpc_metrics(const struct admin_rpc *a, const struct net_udp *udp, struct buf *o)
{
    const struct rpc_server_counters *c = rpc_server_counters(a->rpc);
    char t[2048];
    int n = snprintf(
        t, sizeof t,
        "# TYPE chorus_rpc_frames_total counter\nchorus_rpc_frames_total %llu\n"
        "# TYPE chorus_rpc_requests_bad_total counter\nchorus_rpc_requests_bad_total %llu\n"
        "# TYPE chorus_rpc_calls_executed_total counter\nchorus_rpc_calls_executed_total %llu\n"
        "# TYPE chorus_rpc_duplicates_total counter\n"
        "chorus_rpc_duplicates_total{of=\"running\"} %llu\n"
        "chorus_rpc_duplicates_total{of=\"finished\"} %llu\n"
        "# TYPE chorus_rpc_refused_total counter\n"
        "chorus_rpc_refused_total{reason=\"evicted\"} %llu\n"
        "chorus_rpc_refused_total{reason=\"busy\"} %llu\n"
        "chorus_rpc_refused_total{reason=\"no_budget\"} %llu\n"
        "chorus_rpc_refused_total{reason=\"no_such_method\"} %llu\n"
        "chorus_rpc_refused_total{reason=\"unimplemented\"} %llu\n"
        "chorus_rpc_refused_total{reason=\"bad_payload\"} %llu\n"
        "# TYPE chorus_rpc_cache_evictions_total counter\nchorus_rpc_cache_evictions_total %llu\n"
        "# TYPE chorus_rpc_clients_forgotten_total counter\nchorus_rpc_clients_forgotten_total %llu\n"
        "# TYPE chorus_rpc_outbox_overflows_total counter\nchorus_rpc_outbox_overflows_total %llu\n"
        "# TYPE chorus_udp_recv_batches_total counter\nchorus_udp_recv_batches_total %llu\n"
        "# TYPE chorus_udp_recv_batch_datagrams_max gauge\nchorus_udp_recv_batch_datagrams_max %llu\n"
        "# TYPE chorus_udp_sends_queued_total counter\nchorus_udp_sends_queued_total %llu\n",
        (unsigned long long)a->frames_received, (unsigned long long)c->requests_bad,
        (unsigned long long)c->calls_executed, (unsigned long long)c->duplicates_running,
        (unsigned long long)c->duplicates_replayed, (unsigned long long)c->refused_evicted,
        (unsigned long long)c->refused_busy, (unsigned long long)c->refused_no_budget,
        (unsigned long long)c->no_such_method, (unsigned long long)c->unimplemented,
        (unsigned long long)c->bad_payloads, (unsigned long long)c->entries_evicted,
        (unsigned long long)c->clients_forgotten, (unsigned long long)c->outbox_overflow_drops,
        (unsigned long long)udp->recv_batches, (unsigned long long)udp->recv_batch_datagrams_max,
        (unsigned long long)udp->sends_queued);
    buf_put(o, t, (size_t)n < sizeof t ? (size_t)n : sizeof t - 1);
}

bool admin_rpc_on_datagram(struct admin_rpc *a, const struct sockaddr_in *from,
                           const uint8_t *data, size_t len)
{
    /* Peek first: the link datagrams that make up nearly all traffic must not pay for a
     * second checksum pass here. */
    if (a->rpc == NULL || frame_peek_kind(data, len) != FRAME_KIND_RPC) {
        return false;
    }
    a->frames_received++;
    struct frame_header h;
    const uint8_t *payload = NULL;
    long n = frame_decode(data, len, ADMIN_RPC_CLUSTER_ID, &h, &payload);
    if (n > 0 && (size_t)n == len && h.flags == 0) {
        rpc_server_on_message(a->rpc, caller_token(a, from), payload, h.length);
        send_replies(a);
    }
    return true;
}
