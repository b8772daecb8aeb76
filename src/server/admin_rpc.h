/* admin_rpc: the Admin service (proto/chorus.proto) served over the cluster UDP port.
 *
 * chorus-cli is not a cluster member, so it cannot open a link; it sends each request
 * envelope as one frame of kind FRAME_KIND_RPC (wire/frame.h: magic, version, cluster id,
 * length, CRC32C) to a node's cluster port, and relies on the RPC runtime's retries for
 * loss. node.c's datagram callback offers every datagram here first; a peek at the frame
 * kind (frame_peek_kind, no checksum pass) sends every other kind on to the link table. Replies go back, framed the same way, to the address the
 * request came from: the RPC server knows callers by a small token, mapped here to the
 * last ADMIN_RPC_CALLERS_MAX addresses seen.
 *
 * Implemented: Status (role, term, leader, commit, applied and last index, voters,
 * learners), TransferLeader, Snapshot, AddLearner, PromoteLearner and RemoveMember, each
 * through the same function as its CHORUS command (members.c, snapshots.c). A call that
 * needs the leader answers RPC_NOT_LEADER on a follower, with "node N leads at
 * HOST:PORT" in the detail, which chorus-cli follows. AddMember (learner, catch up,
 * promote) is chorus-cli's `add`, not a server call: it answers RPC_UNIMPLEMENTED.
 *
 * Authentication (admin_seal.h): with a cluster key every frame is sealed with a key
 * derived from it and carries its send time; a frame that is not authentic, is plain, or
 * is more than a minute off is dropped unanswered and counted
 * (chorus_rpc_frames_refused_total{reason="auth"}). Without a cluster key frames are plain
 * and the cluster port is trusted (loopback or a private network), as the links are. */
#ifndef CHORUS_SERVER_ADMIN_RPC_H
#define CHORUS_SERVER_ADMIN_RPC_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "io/net_udp.h"
#include "proto/chorus.pb-c.h"
#include "rpc/server.h"
#include "server/admin_seal.h"

#define ADMIN_RPC_CALLERS_MAX 64
/* The cluster id in every frame; the links use the same (node.c open_links). */
#define ADMIN_RPC_CLUSTER_ID 1

struct server;

struct admin_rpc {
    Chorus__Admin_Service service; /* first: handlers get &service and find us */
    struct server *server;         /* borrowed */
    struct rpc_server *rpc;
    struct sockaddr_in callers[ADMIN_RPC_CALLERS_MAX]; /* token t is callers[t - 1] */
    uint32_t callers_count;
    uint32_t callers_next;         /* the slot the next new caller overwrites */
    struct buf frame;
    struct admin_seal seal;        /* plain without a cluster key */
    uint64_t frames_received;
    uint64_t frames_refused_auth;  /* not authentic, wrong kind of frame, or too old */
    uint64_t frames_refused_bad;   /* malformed, or another cluster's */
};

/* 0 or ERR_NOMEM. */
int admin_rpc_init(struct admin_rpc *a, struct server *s);
void admin_rpc_free(struct admin_rpc *a);
/* Appends the Admin RPC server's and the UDP driver's counters to o, Prometheus text. */
void admin_rpc_metrics(const struct admin_rpc *a, const struct net_udp *udp, struct buf *o);
/* Serves data when it is an RPC frame and returns true; false for anything else (the
 * caller hands it to the link layer). */
bool admin_rpc_on_datagram(struct admin_rpc *a, const struct sockaddr_in *from,
                           const uint8_t *data, size_t len);

#endif
