/* The Raft core's event loop: creation, timers, message dispatch, proposals,
 * durability reports, role changes and the update (effects) protocol. The algorithm's
 * handlers live in election.c (§5.2, thesis §9.6), replication.c (§5.3-5.4),
 * read_index.c (thesis §6.4), lease.c (thesis §6.4.1), transfer.c (thesis §3.10) and
 * snapshot.c (§7). Pure: see raft.h. */
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "raft/raft_impl.h"

static const char *const role_names[] = {"follower", "pre-candidate", "candidate", "leader"};

const char *raft_role_name(enum raft_role role)
{
    return (unsigned)role < ARRAY_COUNT(role_names) ? role_names[role] : "?";
}

void raft_options_default(struct raft_options *o, node_id_t id, const node_id_t *voters,
                          uint32_t voters_count)
{
    memset(o, 0, sizeof *o);
    ASSERT(voters_count >= 1 && voters_count <= RAFT_NODES_COUNT_MAX);
    o->id = id;
    memcpy(o->voters, voters, voters_count * sizeof *voters);
    o->voters_count = voters_count;
    o->election_timeout_ns_min = 300 * 1000 * 1000ull;
    o->heartbeat_interval_ns = 50 * 1000 * 1000ull;
    o->pre_vote = true;
    o->check_quorum = true;
    o->entries_per_message_max = 64;
    o->bytes_per_message_max = 256 * 1024;
    o->inflight_messages_max = 8;
    o->applies_per_update_max = 256;
    o->snapshot_chunk_bytes_max = 64 * 1024;
    o->snapshot_chunks_inflight_max = 4;
    o->snapshot_bytes_max = 1ull << 30;
    o->snapshot_trailing_entries = 0;
    o->prng_seed = id;
    o->promote_lag_entries_max = 64;
}

bool raft_mutant(const struct raft *r, enum raft_mutant m)
{
#ifdef CHORUS_MUTANTS
    return r->opt.mutant == m;
#else
    (void)r;
    (void)m;
    return false;
#endif
}

struct progress *raft_progress_of(struct raft *r, node_id_t id)
{
    size_t i = raft_member_slot(r, id);
    return i == SIZE_MAX ? NULL : &r->progress[i];
}

static int raft_scratch_alloc(struct raft *r, size_t need)
{
    if (need <= r->scratch_cap) {
        return 0;
    }
    size_t cap = r->scratch_cap != 0 ? r->scratch_cap : 64;
    while (cap < need) {
        cap *= 2;
    }
    struct raft_entry *p = realloc(r->scratch, cap * sizeof *p);
    if (p == NULL) {
        return ERR_NOMEM;
    }
    r->scratch = p;
    r->scratch_cap = cap;
    return 0;
}

struct raft *raft_create(const struct raft_options *opt, const struct raft_boot *boot,
                         uint64_t now_ns)
{
    struct raft *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return NULL;
    }
    r->opt = *opt;
    ASSERT(opt->read_mode != RAFT_READ_LEASE ||
           opt->clock_drift_bound_ns < opt->election_timeout_ns_min);
    prng_seed(&r->prng, opt->prng_seed);
    r->now_ns = now_ns;
    r->term = r->durable_term = r->reported_term = boot->term;
    r->vote = r->durable_vote = r->reported_vote = boot->vote;
    raft_log_init(&r->log, boot->first_index != 0 ? boot->first_index : 1, boot->base_term);
    for (size_t i = 0; i < boot->entries_count; i++) {
        if (raft_log_append_copy(&r->log, &boot->entries[i]) != 0) {
            raft_destroy(r);
            return NULL;
        }
    }
    /* The term and vote are saved apart from the entries, so a crash can keep entries of
     * a newer term than the saved one. Nothing that depended on that newer term left the
     * node (messages wait for the hard state to be durable), so adopting the entries'
     * term with no vote is safe; it is persisted like any term change. */
    if (raft_log_last_term(&r->log) > r->term) {
        r->term = raft_log_last_term(&r->log);
        r->vote = 0;
    }
    /* Everything recovered was durable; the base was committed when it was compacted. */
    r->persisted_index = raft_log_last_index(&r->log);
    r->vote_barrier_index = boot->vote_barrier_index;
    if (boot->snapshot_index != 0) {
        ASSERT(r->log.first_index == boot->snapshot_index + 1 && boot->snapshot_data != NULL &&
               boot->snapshot_size_bytes > 0 && boot->snapshot_term == boot->base_term);
        r->snapshot_index = boot->snapshot_index;
        r->snapshot_term = boot->snapshot_term;
        r->snapshot_data = boot->snapshot_data;
        r->snapshot_size_bytes = boot->snapshot_size_bytes;
    }
    if (config_boot(r, boot) != 0) {
        raft_destroy(r);
        return NULL;
    }
    r->commit_index = r->log.first_index - 1;
    r->applied_index = r->commit_index;
    r->role = RAFT_FOLLOWER;
    /* A restarted voter has forgotten which leader it last acknowledged, and that
     * leader's lease may still rest on it: it waits one election timeout before voting,
     * as if it had just heard from a leader (lease.c). */
    r->leader_contact_ns = now_ns;
    raft_reset_election_timer(r);
    return r;
}

void raft_destroy(struct raft *r)
{
    if (r == NULL) {
        return;
    }
    raft_log_free(&r->log);
    snapshot_free(r);
    free(r->scratch);
    free(r);
}

void raft_reset_election_timer(struct raft *r)
{
    uint64_t min = r->opt.election_timeout_ns_min;
    r->election_deadline_ns = r->now_ns + min + prng_below(&r->prng, min);
}

void raft_set_term(struct raft *r, raft_term_t term)
{
    RAFT_ASSERT(r, term > r->term);
    r->term = term;
    r->vote = 0;
}

void raft_mark_persist_from(struct raft *r, raft_index_t index)
{
    if (r->persist_from_index == 0 || index < r->persist_from_index) {
        r->persist_from_index = index;
    }
}

/* Messages are released only once the term and vote they depend on are durable
 * (Figure 2: "respond to RPCs" comes after "update stable storage"). */
void raft_release_messages(struct raft *r)
{
    bool durable = r->term == r->durable_term && r->vote == r->durable_vote;
    if (durable || raft_mutant(r, RAFT_MUTANT_VOTE_BEFORE_PERSIST)) {
        r->outbox_released = r->outbox_count;
    }
}

struct raft_message *raft_outbox_push(struct raft *r, uint8_t type, node_id_t to)
{
    if (r->outbox_count == RAFT_OUTBOX_COUNT_MAX) {
        /* Raft tolerates lost messages; dropping the newest keeps the order of the rest. */
        LOGW(r->opt.logger, "outbox full, message to %u dropped", to);
        return NULL;
    }
    struct raft_message *m = &r->outbox[r->outbox_count++];
    memset(m, 0, sizeof *m);
    m->type = type;
    m->from = r->opt.id;
    m->to = to;
    m->term = r->term;
    return m;
}

void raft_become_follower(struct raft *r, raft_term_t term, node_id_t leader)
{
    if (term > r->term) {
        r->verified_index = 0;
        raft_set_term(r, term);
    }
    if (r->role == RAFT_LEADER) {
        read_index_fail_all(r);
        transfer_reset(r);
    }
    if (r->role != RAFT_FOLLOWER || r->leader != leader || term > r->term) {
        r->verified_index = 0;
    }
    if (r->role != RAFT_FOLLOWER || r->leader != leader) {
        LOGD(r->opt.logger, "follower in term %llu, leader %u", (unsigned long long)r->term, leader);
    }
    r->role = RAFT_FOLLOWER;
    r->leader = leader;
    raft_reset_election_timer(r);
}

static bool recently_active(const void *ctx, node_id_t id)
{
    struct raft *r = (struct raft *)ctx;
    return id == r->opt.id || raft_progress_of(r, id)->recently_active;
}

static void tick_leader(struct raft *r)
{
    r->leader_contact_ns = r->now_ns; /* a live leader refuses to be disrupted */
    if (r->opt.check_quorum && !raft_mutant(r, RAFT_MUTANT_NO_CHECK_QUORUM_LOCAL_READS) &&
        r->now_ns >= r->check_quorum_deadline_ns) {
        /* CheckQuorum (thesis §6.2): step down without contact with a quorum. */
        bool active = config_has_quorum(r, recently_active, r);
        for (size_t i = 0; i < r->members_count; i++) {
            r->progress[i].recently_active = false;
        }
        r->check_quorum_deadline_ns = r->now_ns + r->opt.election_timeout_ns_min;
        if (!active) {
            LOGI(r->opt.logger, "lost contact with a quorum; stepping down");
            raft_become_follower(r, r->term, 0);
            return;
        }
    }
    transfer_tick(r);
    if (r->now_ns >= r->heartbeat_deadline_ns) {
        r->heartbeat_deadline_ns = r->now_ns + r->opt.heartbeat_interval_ns;
        read_index_new_round(r); /* each round renews the lease from its send time */
        replication_broadcast(r, true);
    }
    config_on_commit(r); /* retries a C_new that could not be appended */
}

void raft_tick(struct raft *r, uint64_t now_ns)
{
    if (now_ns > r->now_ns) {
        r->now_ns = now_ns;
    }
    if (r->role == RAFT_LEADER) {
        tick_leader(r);
    } else if (r->now_ns >= r->election_deadline_ns) {
        if (r->vote_barrier_index != 0 || r->receive.installing || !config_can_campaign(r)) {
            /* Damaged (wait to be repaired by a leader), installing (wait for the disk), or
             * a non-voter without PreVote. */
            raft_reset_election_timer(r);
        } else {
            election_start(r, r->opt.pre_vote ? CAMPAIGN_PRE_VOTE : CAMPAIGN_ELECTION);
        }
    }
    raft_release_messages(r);
}

/* Leader stickiness (thesis §9.6): within the minimum election timeout of hearing from
 * a leader (or of starting, when we cannot know), this node neither grants votes nor
 * lets a vote request move its term. Lease reads rely on it (lease.c). */
bool raft_leader_heard_recently(const struct raft *r)
{
    return r->now_ns < r->leader_contact_ns + r->opt.election_timeout_ns_min;
}

/* A message from a newer term makes us a follower of it (§5.1), except for PreVote
 * traffic, which never changes terms (thesis §9.6). */
static bool receive_term_check(struct raft *r, const struct raft_message *m)
{
    bool is_pre_vote = (m->type == RAFT_MSG_VOTE && m->pre_vote) ||
                       (m->type == RAFT_MSG_VOTE_REPLY && m->pre_vote);
    if (m->term > r->term && !is_pre_vote) {
        if (m->type == RAFT_MSG_VOTE && !m->transfer && raft_leader_heard_recently(r)) {
            return false; /* a live leader is not disrupted by a vote request */
        }
        bool from_leader = m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_TIMEOUT_NOW ||
                           m->type == RAFT_MSG_SNAPSHOT;
        node_id_t leader = from_leader ? m->from : 0;
        raft_become_follower(r, m->term, leader);
    }
    return true;
}

void raft_receive(struct raft *r, uint64_t now_ns, const struct raft_message *m)
{
    if (now_ns > r->now_ns) {
        r->now_ns = now_ns;
    }
    /* Messages from non-members are heard: a node joins before it learns the config. */
    if (m->to != r->opt.id || m->from == 0 || m->from == r->opt.id) {
        return;
    }
    if (receive_term_check(r, m)) {
        switch (m->type) {
        case RAFT_MSG_VOTE: election_on_vote(r, m); break;
        case RAFT_MSG_VOTE_REPLY: election_on_vote_reply(r, m); break;
        case RAFT_MSG_APPEND: replication_on_append(r, m); break;
        case RAFT_MSG_APPEND_REPLY: replication_on_append_reply(r, m); break;
        case RAFT_MSG_TIMEOUT_NOW: transfer_on_timeout_now(r, m); break;
        case RAFT_MSG_SNAPSHOT: snapshot_on_message(r, m); break;
        case RAFT_MSG_SNAPSHOT_REPLY: snapshot_on_reply(r, m); break;
        default: LOGW(r->opt.logger, "unknown message type %u", m->type); break;
        }
    }
    raft_release_messages(r);
}

int raft_propose(struct raft *r, uint64_t now_ns, const uint8_t *data, size_t len,
                 raft_index_t *index_out)
{
    if (now_ns > r->now_ns) {
        r->now_ns = now_ns;
    }
    if (r->role != RAFT_LEADER) {
        return ERR_NOT_LEADER;
    }
    if (r->transfer_target != 0 && !raft_mutant(r, RAFT_MUTANT_PROPOSE_DURING_TRANSFER)) {
        return ERR_TRANSFERRING; /* not appended: the caller may retry at the new leader */
    }
    if (len > r->opt.bytes_per_message_max) {
        return ERR_TOO_LARGE;
    }
    struct raft_entry e = {
        .term = r->term,
        .index = raft_log_last_index(&r->log) + 1,
        .type = RAFT_ENTRY_NORMAL,
        .data_len = (uint32_t)len,
        .data = (uint8_t *)data,
    };
    int rc = raft_log_append_copy(&r->log, &e);
    if (rc != 0) {
        return rc;
    }
    raft_mark_persist_from(r, e.index);
    *index_out = e.index;
    /* Batching (thesis §10.2): the appends for every proposal made before the driver
     * takes its next update leave as one message per follower (raft_get_update), rather
     * than one small message per proposal using up the window of appends in flight. */
    r->broadcast_pending = true;
    return 0;
}

void raft_persisted_entries(struct raft *r, uint64_t now_ns, raft_index_t index, raft_term_t term)
{
    if (now_ns > r->now_ns) {
        r->now_ns = now_ns;
    }
    /* A report about an entry since truncated and replaced is stale. */
    if (index <= r->persisted_index || raft_log_term_at(&r->log, index) != term) {
        return;
    }
    r->persisted_index = index;
    if (r->role == RAFT_LEADER) {
        replication_maybe_commit(r);
    } else {
        replication_maybe_lift_vote_barrier(r);
        replication_send_pending_ack(r);
    }
    raft_release_messages(r);
}

void raft_persisted_hard_state(struct raft *r, uint64_t now_ns, raft_term_t term, node_id_t vote)
{
    if (now_ns > r->now_ns) {
        r->now_ns = now_ns;
    }
    if (term > r->durable_term || (term == r->durable_term && vote != r->durable_vote)) {
        r->durable_term = term;
        r->durable_vote = vote;
    }
    raft_release_messages(r);
}

bool raft_has_update(const struct raft *r)
{
    /* Entries past the applied index are work only when raft_get_update may hand them
     * out: while a snapshot installs, nothing is applied (see there), and reporting them
     * would make a driver that loops on this function spin forever on empty updates,
     * never returning to hear that the install is durable. */
    bool can_apply = r->commit_index > r->applied_index && !r->receive.installing;
    return r->outbox_released > 0 || r->persist_from_index != 0 || r->broadcast_pending ||
           r->read_round_pending ||
           can_apply || r->term != r->reported_term || r->vote != r->reported_vote ||
           r->reads_ready_count > 0 || r->reads_failed_count > 0 ||
           (r->receive.installing && !r->receive.install_reported);
}

/* Entries of queued messages are materialised here, from the log as it is now, so that
 * a truncation or a compaction (a snapshot taken) between queueing and sending can
 * never leave a dangling pointer: such a message leaves without entries. */
static void update_fill_messages(struct raft *r, struct raft_update *u)
{
    size_t need = 0;
    for (size_t i = 0; i < r->outbox_released; i++) {
        need += r->outbox[i].entries_count;
    }
    if (raft_scratch_alloc(r, need) != 0) {
        need = 0; /* out of memory: send the messages without entries (a heartbeat) */
    }
    size_t used = 0;
    for (size_t i = 0; i < r->outbox_released; i++) {
        struct raft_message *m = &r->outbox[i];
        if (m->type == RAFT_MSG_SNAPSHOT) {
            snapshot_fill_message(r, m);
            continue;
        }
        if (m->entries_count == 0) {
            continue;
        }
        size_t n = 0;
        if (need != 0) {
            n = raft_log_slice(&r->log, m->prev_log_index + 1, m->entries_count, SIZE_MAX,
                               r->scratch + used);
        }
        bool intact = n == m->entries_count && n > 0 &&
                      raft_log_term_at(&r->log, m->prev_log_index) == m->prev_log_term;
        m->entries = intact ? r->scratch + used : NULL;
        m->entries_count = intact ? (uint32_t)n : 0;
        used += m->entries_count;
    }
    u->messages = r->outbox;
    u->messages_count = r->outbox_released;
}

void raft_get_update(struct raft *r, struct raft_update *u)
{
    RAFT_ASSERT(r, !r->update_taken);
    read_index_start_pending_round(r);
    if (r->broadcast_pending) {
        r->broadcast_pending = false;
        if (r->role == RAFT_LEADER) {
            replication_broadcast(r, false);
            raft_release_messages(r);
        }
    }
    memset(u, 0, sizeof *u);
    r->update_taken = true;
    u->term = r->term;
    u->vote = r->vote;
    u->hard_state_changed = r->term != r->reported_term || r->vote != r->reported_vote;
    if (r->persist_from_index != 0 && r->persist_from_index <= raft_log_last_index(&r->log)) {
        u->persist_from_index = r->persist_from_index;
        u->persist_entries = raft_log_get(&r->log, r->persist_from_index);
        /* The ring may wrap: hand out the contiguous run and leave the rest for later. */
        size_t n = raft_log_last_index(&r->log) - r->persist_from_index + 1;
        size_t contiguous = r->log.entries_cap - ((u->persist_entries - r->log.entries));
        u->persist_entries_count = MIN(n, contiguous);
    } else if (r->persist_from_index != 0) {
        /* A truncation with nothing after it: still tell the driver to cut there. */
        u->persist_from_index = r->persist_from_index;
    }
    update_fill_messages(r, u);
    raft_index_t apply_to = MIN(r->commit_index, r->applied_index + r->opt.applies_per_update_max);
    if (r->receive.installing) {
        /* The snapshot replaces the state machine; nothing is applied meanwhile. */
        apply_to = r->applied_index;
        if (!r->receive.install_reported) {
            u->snapshot_install = &r->install;
        }
    }
    if (apply_to > r->applied_index) {
        const struct raft_entry *first = raft_log_get(&r->log, r->applied_index + 1);
        RAFT_ASSERT(r, first != NULL);
        size_t contiguous = r->log.entries_cap - (size_t)(first - r->log.entries);
        u->apply_entries = first;
        u->apply_entries_count = MIN((size_t)(apply_to - r->applied_index), contiguous);
    }
    u->reads_ready = r->reads_ready;
    u->reads_ready_count = r->reads_ready_count;
    u->reads_failed = r->reads_failed;
    u->reads_failed_count = r->reads_failed_count;
    r->update_apply_count = u->apply_entries_count;
    r->update_messages_count = u->messages_count;
    r->update_install = u->snapshot_install != NULL;
    r->update_persist_last = u->persist_from_index == 0 ? 0
                             : u->persist_from_index + u->persist_entries_count - 1;
}

void raft_update_done(struct raft *r)
{
    RAFT_ASSERT(r, r->update_taken);
    r->update_taken = false;
    r->reported_term = r->term;
    r->reported_vote = r->vote;
    if (r->persist_from_index != 0) {
        /* Entries past a wrap of the ring are handed out by the next update. */
        bool more = r->update_persist_last != 0 &&
                    r->update_persist_last < raft_log_last_index(&r->log);
        r->persist_from_index = more ? r->update_persist_last + 1 : 0;
    }
    size_t sent = r->update_messages_count;
    memmove(r->outbox, r->outbox + sent, (r->outbox_count - sent) * sizeof *r->outbox);
    r->outbox_count -= sent;
    r->outbox_released -= sent;
    r->applied_index += r->update_apply_count;
    if (r->update_install) {
        r->receive.install_reported = true;
    }
    r->reads_ready_count = 0;
    r->reads_failed_count = 0;
}

enum raft_role raft_role(const struct raft *r) { return r->role; }
raft_term_t raft_term(const struct raft *r) { return r->term; }
node_id_t raft_vote(const struct raft *r) { return r->vote; }
node_id_t raft_leader(const struct raft *r) { return r->leader; }
node_id_t raft_id(const struct raft *r) { return r->opt.id; }
raft_index_t raft_commit_index(const struct raft *r) { return r->commit_index; }
raft_index_t raft_applied_index(const struct raft *r) { return r->applied_index; }
raft_index_t raft_last_index(const struct raft *r) { return raft_log_last_index(&r->log); }
raft_index_t raft_persisted_index(const struct raft *r) { return r->persisted_index; }

raft_index_t raft_member_match_index(const struct raft *r, node_id_t id)
{
    if (r->role != RAFT_LEADER) {
        return 0;
    }
    if (id == r->opt.id) {
        return r->persisted_index;
    }
    const struct progress *p = raft_progress_of((struct raft *)r, id);
    return p != NULL ? p->match_index : 0;
}

const struct raft_entry *raft_entry_at(const struct raft *r, raft_index_t index)
{
    return raft_log_get(&r->log, index);
}

raft_term_t raft_term_at(const struct raft *r, raft_index_t index)
{
    return raft_log_term_at(&r->log, index);
}

raft_index_t raft_vote_barrier(const struct raft *r) { return r->vote_barrier_index; }
raft_index_t raft_first_index(const struct raft *r) { return r->log.first_index; }

bool raft_mutant_local_reads(const struct raft *r)
{
    return r->role == RAFT_LEADER && raft_mutant(r, RAFT_MUTANT_NO_CHECK_QUORUM_LOCAL_READS);
}

void raft_check_invariants(const struct raft *r)
{
    raft_index_t last = raft_log_last_index(&r->log);
    RAFT_ASSERT(r, r->applied_index <= r->commit_index);
    RAFT_ASSERT(r, r->commit_index <= last);
    RAFT_ASSERT(r, r->persisted_index <= last);
    RAFT_ASSERT(r, r->durable_term <= r->term);
    RAFT_ASSERT(r, r->outbox_released <= r->outbox_count);
    RAFT_ASSERT(r, r->role != RAFT_LEADER || r->leader == r->opt.id);
    RAFT_ASSERT(r, r->role != RAFT_CANDIDATE || r->vote == r->opt.id);
    snapshot_check_invariants(r);
    /* The committed prefix never changes (asserted where entries are replaced), so the
     * walk covers the tail above it, bounded to keep a simulator step cheap. */
    raft_index_t from = MAX(r->log.first_index, r->commit_index);
    if (last > from + 256) {
        from = last - 256;
    }
    raft_term_t prev = raft_log_term_at(&r->log, from - 1);
    for (raft_index_t i = from; i <= last; i++) {
        const struct raft_entry *e = raft_log_get(&r->log, i);
        RAFT_ASSERT(r, e->index == i);
        RAFT_ASSERT(r, e->term >= prev && e->term <= r->term);
        prev = e->term;
    }
    RAFT_ASSERT(r, r->config.voters_count >= 1 && r->config_index <= last);
    if (r->role == RAFT_LEADER) {
        for (size_t i = 0; i < r->members_count; i++) {
            const struct progress *p = &r->progress[i];
            RAFT_ASSERT(r, p->id == r->members[i]);
            RAFT_ASSERT(r, p->match_index < p->next_index || p->id == r->opt.id);
            RAFT_ASSERT(r, p->next_index <= last + 1);
        }
    }
}
