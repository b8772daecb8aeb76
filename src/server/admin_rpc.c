/* admin_rpc: the Admin service over framed RPC envelopes on the cluster port; see
 * admin_rpc.h. */
#include "server/admin_rpc.h"

#include <stdio.h>
#include <string.h>

#include "base/errors.h"
#include "server/server.h"
#include "server/admin_seal.h"
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
    const struct raft_config *c = raft_configuration(s->raft);
    uint32_t voters[RAFT_NODES_COUNT_MAX], learners[RAFT_NODES_COUNT_MAX];
    memcpy(voters, c->voters, c->voters_count * sizeof *voters);
    memcpy(learners, c->learners, c->learners_count * sizeof *learners);
    Chorus__StatusReply r = CHORUS__STATUS_REPLY__INIT;
    r.node_id = s->cfg.id;
    r.role = role_of(raft_role(s->raft));
    if (strcmp(members_role_of(s, s->cfg.id), "learner") == 0) {
        r.role = CHORUS__ROLE__ROLE_LEARNER;
    }
    r.term = raft_term(s->raft);
    r.leader_id = raft_leader(s->raft);
    r.commit_index = raft_commit_index(s->raft);
    r.applied_index = raft_applied_index(s->raft);
    r.last_log_index = raft_last_index(s->raft);
    r.n_voters = c->voters_count;
    r.voters = voters;
    r.n_learners = c->learners_count;
    r.learners = learners;
    Chorus__MemberInfo infos[RAFT_NODES_COUNT_MAX], *info_ptrs[RAFT_NODES_COUNT_MAX];
    char addresses[RAFT_NODES_COUNT_MAX][RAFT_MEMBER_ADDRESS_BYTES_MAX + 1];
    r.n_members = members_describe(s, infos, addresses, RAFT_NODES_COUNT_MAX);
    for (size_t i = 0; i < r.n_members; i++) {
        info_ptrs[i] = &infos[i];
    }
    r.members = info_ptrs;
    done(&r, call);
}

/* A refusal: RPC_NOT_LEADER (the detail names the leader and its address, which
 * chorus-cli follows) or RPC_FAILED with the same text as the CHORUS command. */
static void fail(void *call, int rc, const char *why)
{
    bool redirect = rc == ERR_NOT_LEADER || (rc == ERR_TRANSFERRING && strstr(why, "leads at") != NULL);
    rpc_call_fail(call, redirect ? CHORUS__RPC_STATUS__RPC_NOT_LEADER : CHORUS__RPC_STATUS__RPC_FAILED,
                  why);
}

static void admin_transfer(Chorus__Admin_Service *svc, const Chorus__TransferLeaderRequest *in,
                           Chorus__TransferLeaderReply_Closure done, void *call)
{
    char why[256];
    int rc = members_transfer(((struct admin_rpc *)svc)->server, in->target_id, why, sizeof why);
    if (rc != 0) {
        fail(call, rc, why);
        return;
    }
    Chorus__TransferLeaderReply r = CHORUS__TRANSFER_LEADER_REPLY__INIT;
    done(&r, call);
}

static void admin_snapshot(Chorus__Admin_Service *svc, const Chorus__SnapshotRequest *in,
                           Chorus__SnapshotReply_Closure done, void *call)
{
    (void)in;
    struct server *s = ((struct admin_rpc *)svc)->server;
    char why[128];
    raft_index_t index = 0;
    int rc = server_snapshot_now(s, &index, why, sizeof why);
    if (rc != 0) {
        fail(call, rc, why);
        return;
    }
    Chorus__SnapshotReply r = CHORUS__SNAPSHOT_REPLY__INIT;
    r.index = index;
    done(&r, call);
}

/* The membership calls: one shape, the operation chosen by which slot called. */
enum member_op { MEMBER_ADD_LEARNER, MEMBER_PROMOTE, MEMBER_REMOVE };

static void member_call(Chorus__Admin_Service *svc, enum member_op op, const Chorus__MemberRequest *in,
                        Chorus__MemberReply_Closure done, void *call)
{
    struct server *s = ((struct admin_rpc *)svc)->server;
    char why[256];
    raft_index_t index = 0;
    int rc;
    if (in->node_id == 0) {
        rc = ERR_INVALID;
        snprintf(why, sizeof why, "invalid node id 0");
    } else if (op == MEMBER_ADD_LEARNER) {
        const char *address = in->address != NULL ? in->address : "";
        rc = members_add_learner(s, in->node_id, address, strlen(address), &index, why, sizeof why);
    } else if (op == MEMBER_PROMOTE) {
        rc = members_promote(s, in->node_id, &index, why, sizeof why);
    } else {
        rc = members_remove(s, in->node_id, &index, why, sizeof why);
    }
    if (rc != 0) {
        fail(call, rc, why);
        return;
    }
    Chorus__MemberReply r = CHORUS__MEMBER_REPLY__INIT;
    r.config_index = index;
    done(&r, call);
}

static void admin_add_learner(Chorus__Admin_Service *svc, const Chorus__MemberRequest *in,
                              Chorus__MemberReply_Closure done, void *call)
{
    member_call(svc, MEMBER_ADD_LEARNER, in, done, call);
}

static void admin_promote(Chorus__Admin_Service *svc, const Chorus__MemberRequest *in,
                          Chorus__MemberReply_Closure done, void *call)
{
    member_call(svc, MEMBER_PROMOTE, in, done, call);
}

static void admin_remove(Chorus__Admin_Service *svc, const Chorus__MemberRequest *in,
                         Chorus__MemberReply_Closure done, void *call)
{
    member_call(svc, MEMBER_REMOVE, in, done, call);
}

int admin_rpc_init(struct admin_rpc *a, struct server *s)
{
    memset(a, 0, sizeof *a);
    chorus__admin__init(&a->service, NULL);
    a->service.status = admin_status;
    a->service.transfer_leader = admin_transfer;
    a->service.snapshot = admin_snapshot;
    a->service.add_learner = admin_add_learner;
    a->service.promote_learner = admin_promote;
    a->service.remove_member = admin_remove;
    a->server = s;
    buf_init(&a->frame, 0);
    int rc = admin_seal_init(&a->seal, s->cfg.sealed ? s->cfg.cluster_key : NULL);
    if (rc != 0) {
        return rc;
    }
    struct rpc_server_config cfg;
    rpc_server_config_defaults(&cfg);
    rc = rpc_server_create(&cfg, &a->rpc);
    if (rc == 0) {
        rc = rpc_server_add_service(a->rpc, &a->service.base);
    }
    return rc;
}

void admin_rpc_free(struct admin_rpc *a)
{
    rpc_server_destroy(a->rpc);
    buf_free(&a->frame);
    admin_seal_free(&a->seal);
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
            admin_seal_frame(&a->seal, &a->frame, h, envelope.data, envelope.len,
                             server_wall_ms()) == 0) {
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
        "# TYPE chorus_rpc_frames_refused_total counter\n"
        "chorus_rpc_frames_refused_total{reason=\"auth\"} %llu\n"
        "chorus_rpc_frames_refused_total{reason=\"malformed\"} %llu\n"
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
        (unsigned long long)a->frames_received, (unsigned long long)a->frames_refused_auth,
        (unsigned long long)a->frames_refused_bad, (unsigned long long)c->requests_bad,
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
    const uint8_t *envelope = NULL;
    size_t envelope_len = 0;
    int rc = admin_seal_open(&a->seal, data, len, server_wall_ms(), true, &h, &envelope,
                             &envelope_len);
    if (rc == ERR_AUTH) {
        a->frames_refused_auth++; /* no answer: an unauthenticated caller learns nothing */
    } else if (rc != 0 || h.cluster_id != ADMIN_RPC_CLUSTER_ID) {
        a->frames_refused_bad++;
    } else {
        rpc_server_on_message(a->rpc, caller_token(a, from), envelope, envelope_len);
        send_replies(a);
    }
    return true;
}
