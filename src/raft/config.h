/* Membership inside the Raft core (thesis §4.3, config.c): which configuration a node
 * uses, how it follows the log, and the leader's side of a change. Internal to src/raft;
 * the configuration type and its quorum functions are public in raft.h. */
#ifndef CHORUS_RAFT_CONFIG_H
#define CHORUS_RAFT_CONFIG_H

#include "raft/raft.h"

struct raft;

/* Sets the snapshot's configuration from boot (raft_options' voters without a snapshot
 * or with an empty one), then the configuration in effect from the latest config entry
 * in the log, or the snapshot's when there is none (raft_create). Returns ERR_MALFORMED
 * when boot's snapshot_config does not decode. */
int config_boot(struct raft *r, const struct raft_boot *boot);
/* The snapshot's configuration is now c, as of r->snapshot_index (a snapshot was taken
 * or installed); with adopt, the configuration in effect follows from the log again. */
void config_set_snapshot(struct raft *r, const struct raft_config *c, bool adopt);
/* The configuration as of index >= r->snapshot_index (raft_snapshot_taken looks before it
 * compacts). */
raft_index_t config_at(const struct raft *r, raft_index_t index, struct raft_config *out);
/* The log gained entry e (a follower's append); a config entry takes effect now. */
void config_on_append(struct raft *r, const struct raft_entry *e);
/* Entries from index on were removed; a removed config entry gives way to the previous
 * configuration in the log. */
void config_on_truncate(struct raft *r, raft_index_t index);
/* The leader's commit index advanced (or time passed): a committed C_old,new is followed
 * by C_new, and a leader that is not a voter of a committed C_new hands over. */
void config_on_commit(struct raft *r);
/* Whether the node may start an election: a voter, or any node with PreVote. */
bool config_can_campaign(const struct raft *r);
/* Whether id's vote or acknowledgement counts toward a quorum (a voter of either set). */
bool config_counts(const struct raft *r, node_id_t id);
/* The core's quorum decisions: raft_config_has_quorum / raft_config_committed_index over
 * the configuration in effect. */
bool config_has_quorum(const struct raft *r, bool (*granted)(const void *ctx, node_id_t id),
                       const void *ctx);
raft_index_t config_committed_index(const struct raft *r,
                                    raft_index_t (*match_of)(const void *ctx, node_id_t id),
                                    const void *ctx);
/* The slot of a member (voter of either set, or learner) in progress[] and votes_*[],
 * or SIZE_MAX. */
size_t raft_member_slot(const struct raft *r, node_id_t id);

#endif
