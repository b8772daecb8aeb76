/* Test helper: an Admin service whose handlers record every execution, so tests can
 * check that no call ever runs twice, and a pair of client and server wired by hand.
 *   Status          answers at once; StatusReply.commit_index = the execution's number
 *   Snapshot        completes later: the test finishes it with admin_finish_parked()
 *   AddMember       fails with RPC_NOT_LEADER
 *   the others      no handler: RPC_UNIMPLEMENTED */
#ifndef CHORUS_TESTS_RPC_TEST_H
#define CHORUS_TESTS_RPC_TEST_H

#include <stdlib.h>

#include "base/assertions.h"
#include "harness.h"
#include "rpc/client.h"
#include "rpc/envelope.h"
#include "rpc/server.h"

#define ADMIN_CLIENTS_MAX 8
#define ADMIN_CALLS_MAX 8192
#define ADMIN_PARKED_MAX 256
#define METHOD_STATUS 0
#define METHOD_TRANSFER_LEADER 1
#define METHOD_SNAPSHOT 2
#define METHOD_ADD_MEMBER 3

struct test_admin {
    Chorus__Admin_Service service; /* first: handlers get &service */
    uint64_t client_ids[ADMIN_CLIENTS_MAX];
    uint8_t executions[ADMIN_CLIENTS_MAX][ADMIN_CALLS_MAX];
    uint64_t executions_total;
    bool ran_twice;                 /* some (client, call) executed more than once */
    struct rpc_call *parked[ADMIN_PARKED_MAX];
    Chorus__SnapshotReply_Closure parked_closure[ADMIN_PARKED_MAX];
    uint32_t parked_count;
};

static inline void admin_record(struct test_admin *a, const struct rpc_call *call)
{
    uint64_t client = rpc_call_client_id(call), id = rpc_call_id(call);
    int slot = -1;
    for (int i = 0; i < ADMIN_CLIENTS_MAX && slot < 0; i++) {
        if (a->client_ids[i] == client || a->client_ids[i] == 0) {
            a->client_ids[i] = client;
            slot = i;
        }
    }
    ASSERT(slot >= 0 && id < ADMIN_CALLS_MAX);
    if (++a->executions[slot][id] > 1) {
        a->ran_twice = true;
    }
    a->executions_total++;
}

static inline uint32_t admin_executions(const struct test_admin *a, uint64_t client, uint64_t id)
{
    for (int i = 0; i < ADMIN_CLIENTS_MAX; i++) {
        if (a->client_ids[i] == client) {
            return a->executions[i][id];
        }
    }
    return 0;
}

static inline void admin_status(Chorus__Admin_Service *svc, const Chorus__StatusRequest *in,
                         Chorus__StatusReply_Closure done, void *call)
{
    (void)in;
    struct test_admin *a = (struct test_admin *)svc;
    admin_record(a, call);
    Chorus__StatusReply r = CHORUS__STATUS_REPLY__INIT;
    r.node_id = 42;
    r.commit_index = a->executions_total;
    done(&r, call);
}

static inline void admin_snapshot(Chorus__Admin_Service *svc, const Chorus__SnapshotRequest *in,
                           Chorus__SnapshotReply_Closure done, void *call)
{
    (void)in;
    struct test_admin *a = (struct test_admin *)svc;
    admin_record(a, call);
    ASSERT(a->parked_count < ADMIN_PARKED_MAX);
    a->parked_closure[a->parked_count] = done;
    a->parked[a->parked_count++] = call;
}

static inline void admin_add_member(Chorus__Admin_Service *svc, const Chorus__MemberRequest *in,
                             Chorus__MemberReply_Closure done, void *call)
{
    (void)done;
    admin_record((struct test_admin *)svc, call);
    rpc_call_fail(call, CHORUS__RPC_STATUS__RPC_NOT_LEADER, in->address);
}

static inline void test_admin_init(struct test_admin *a)
{
    memset(a, 0, sizeof *a);
    chorus__admin__init(&a->service, NULL);
    a->service.status = admin_status;
    a->service.snapshot = admin_snapshot;
    a->service.add_member = admin_add_member;
}

/* Completes the oldest parked Snapshot call; returns false when none is parked. */
static inline bool admin_finish_parked(struct test_admin *a, uint64_t index)
{
    if (a->parked_count == 0) {
        return false;
    }
    struct rpc_call *call = a->parked[0];
    Chorus__SnapshotReply_Closure done = a->parked_closure[0];
    a->parked_count--;
    memmove(a->parked, a->parked + 1, a->parked_count * sizeof a->parked[0]);
    memmove(a->parked_closure, a->parked_closure + 1, a->parked_count * sizeof a->parked_closure[0]);
    Chorus__SnapshotReply r = CHORUS__SNAPSHOT_REPLY__INIT;
    r.index = index;
    done(&r, call);
    return true;
}

/* What a test callback saw. */
struct outcome {
    int completions;
    int status;
    char detail[256];
    uint64_t value; /* StatusReply.commit_index or SnapshotReply.index */
    uint64_t call_id;
};

static inline void outcome_record(void *ctx, const struct rpc_result *r)
{
    struct outcome *o = ctx;
    o->completions++;
    o->status = r->status;
    o->call_id = r->call_id;
    snprintf(o->detail, sizeof o->detail, "%s", r->detail);
    o->value = 0;
    if (r->reply != NULL && r->reply->descriptor == &chorus__status_reply__descriptor) {
        o->value = ((const Chorus__StatusReply *)r->reply)->commit_index;
    } else if (r->reply != NULL && r->reply->descriptor == &chorus__snapshot_reply__descriptor) {
        o->value = ((const Chorus__SnapshotReply *)r->reply)->index;
    }
}

#endif
