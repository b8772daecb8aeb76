/* The simulator's checkers (DESIGN.md §4 "sim"), in the terms of the Raft paper's
 * Figure 3:
 *  - election safety: at most one leader per term (checked whenever a node leads);
 *  - log matching: two logs with an entry of the same index and term are identical up to
 *    it (every node's log is summarised as a chain of hashes, and every (index, term)
 *    must always map to the same chain value);
 *  - leader completeness: a new leader holds every entry committed in an earlier term
 *    (a stale leader of an old term, say one that was paused, need not hold later ones);
 *  - commit safety (§5.4): once a leader commits an entry, no node lacking it could win an
 *    election, judged against the other nodes' durable logs (the least they could
 *    present after a crash). This catches the Figure 8 bug at the unsafe commit itself;
 *  - state machine safety: every node applies the same entry at the same index;
 *  - promise durability: a granted vote and an acknowledged entry survive the node's
 *    crash (Figure 2: update stable storage before responding to RPCs);
 *  - exactly once: a command applied again (a retried (client id, seq)) answers with the
 *    first application's reply, so its effect happened once;
 *  - snapshots: every state machine taken or installed as of index i has the same digest
 *    (a node that installs a snapshot skips applying entries up to it, so its state is
 *    compared there instead), and a node's log after its snapshot chains on from the
 *    committed entry at the snapshot index;
 * and at the end: durability (every acknowledged write is in the final committed log),
 * replica convergence (equal applied index, equal state digest) and linearizability of
 * every key's history. Progress is judged by sim_run. */
#include <stdlib.h>
#include <string.h>

#include "base/assertions.h"
#include "proto/chorus.pb-c.h"
#include "sim/lincheck.h"
#include "sim/sim_impl.h"
#include "wire/arena.h"

struct pair_item {
    uint64_t a, b;   /* the key */
    uint64_t v1, v2; /* the values */
};

static bool pair_eq(const void *item, const void *key)
{
    const struct pair_item *i = item;
    const uint64_t *k = key;
    return i->a == k[0] && i->b == k[1];
}

static uint64_t pair_hash(uint64_t a, uint64_t b) { return prng_mix64(a * 31 + prng_mix64(b)); }

static struct pair_item *pair_find(struct hashmap *m, uint64_t a, uint64_t b)
{
    uint64_t key[2] = {a, b};
    return hashmap_find(m, pair_hash(a, b), key);
}

static struct pair_item *pair_put(struct hashmap *m, uint64_t a, uint64_t b)
{
    struct pair_item *it = calloc(1, sizeof *it);
    ASSERT(it != NULL);
    it->a = a;
    it->b = b;
    ASSERT(hashmap_insert(m, pair_hash(a, b), it) == 0);
    return it;
}

static void pairs_free(struct hashmap *m)
{
    void *it;
    for (size_t c = 0; hashmap_next(m, &c, &it);) {
        free(it);
    }
    hashmap_free(m);
}

void check_init(struct sim_world *w)
{
    hashmap_init(&w->leaders_by_term, pair_eq);
    hashmap_init(&w->chain_by_index_term, pair_eq);
    hashmap_init(&w->reply_by_session, pair_eq);
    hashmap_init(&w->acked_writes, pair_eq);
    hashmap_init(&w->digest_by_snapshot, pair_eq);
}

void check_free(struct sim_world *w)
{
    pairs_free(&w->leaders_by_term);
    pairs_free(&w->chain_by_index_term);
    pairs_free(&w->reply_by_session);
    pairs_free(&w->acked_writes);
    pairs_free(&w->digest_by_snapshot);
    free(w->applied_chain);
    free(w->applied_cmd);
    free(w->commit_term);
    if (w->history != NULL) {
        lincheck_history_free(w->history);
        free(w->history);
    }
}

static uint64_t entry_hash(const struct raft_entry *e)
{
    return pair_hash(e->term, hash_bytes(e->data, e->data_len) ^ e->type);
}

void check_log_changed(struct sim_world *w, struct sim_node *n, raft_index_t from_index)
{
    raft_index_t last = raft_last_index(n->raft);
    if (last + 1 > n->chain_cap) {
        n->chain_cap = MAX(last + 1, n->chain_cap * 2);
        n->chain = realloc(n->chain, n->chain_cap * sizeof *n->chain);
        ASSERT(n->chain != NULL);
    }
    n->chain[0] = 0;
    if (from_index <= n->promised_match) {
        /* The node replaced acknowledged but uncommitted entries, legitimately. */
        n->promised_match = from_index - 1;
        n->promised_match_term = from_index > 1 ? raft_term_at(n->raft, from_index - 1) : 0;
    }
    raft_index_t start = MAX(MIN(from_index, n->chain_last + 1), 1);
    raft_index_t first = raft_first_index(n->raft);
    if (start < first) {
        /* Before its first entry the node holds a snapshot of the committed prefix. */
        start = first;
        ASSERT(first - 1 <= w->applied_max);
        n->chain[first - 1] = first > 1 ? w->applied_chain[first - 1] : 0;
    }
    for (raft_index_t i = start; i <= last; i++) {
        const struct raft_entry *e = raft_entry_at(n->raft, i);
        n->chain[i] = pair_hash(n->chain[i - 1], entry_hash(e));
        struct pair_item *seen = pair_find(&w->chain_by_index_term, i, e->term);
        if (seen == NULL) {
            pair_put(&w->chain_by_index_term, i, e->term)->v1 = n->chain[i];
        } else if (seen->v1 != n->chain[i]) {
            sim_fail(w, "log_matching", "node %u: entry %llu of term %llu differs from another "
                     "node's entry with the same index and term, or its prefix does",
                     n->id, (unsigned long long)i, (unsigned long long)e->term);
            return;
        }
    }
    n->chain_last = last;
}

static void check_new_leader(struct sim_world *w, struct sim_node *n)
{
    raft_term_t term = raft_term(n->raft);
    struct pair_item *seen = pair_find(&w->leaders_by_term, term, 0);
    if (seen != NULL && seen->v1 != n->id) {
        sim_fail(w, "election_safety", "nodes %llu and %u both lead term %llu",
                 (unsigned long long)seen->v1, n->id, (unsigned long long)term);
        return;
    }
    if (seen == NULL) {
        pair_put(&w->leaders_by_term, term, 0)->v1 = n->id;
        w->result->leaders_elected++;
        sim_trace(w, "\"ev\":\"leader\",\"node\":%u,\"term\":%llu", n->id, (unsigned long long)term);
        transfer_on_new_leader(w, n);
        check_no_lease_overlap(w, n);
    }
    /* Up to its first entry the leader holds a snapshot, compared by digest. */
    for (raft_index_t i = raft_first_index(n->raft); i <= w->applied_max; i++) {
        bool earlier = i < w->commit_term_cap && w->commit_term[i] != 0 && w->commit_term[i] < term;
        if (earlier && (i > n->chain_last || n->chain[i] != w->applied_chain[i])) {
            sim_fail(w, "leader_completeness", "node %u leads term %llu without committed "
                     "entry %llu", n->id, (unsigned long long)term, (unsigned long long)i);
            return;
        }
    }
}

/* The (last term, last index) a node presents in an election: its durable log (what
 * survives a crash), and while it runs, also its in-memory log. */
struct log_tip {
    raft_term_t term;
    raft_index_t index;
};

static bool tip_at_least(struct log_tip a, struct log_tip b)
{
    return a.term != b.term ? a.term > b.term : a.index >= b.index;
}

static struct log_tip durable_tip(const struct sim_node *n)
{
    struct log_tip t = {0, n->synced_count};
    if (n->synced_count > 0) {
        t.term = n->synced_terms[n->synced_count - 1];
    }
    return t;
}

static bool node_holds(const struct sim_node *n, raft_index_t i, raft_term_t term, bool durable)
{
    if (durable) {
        return i <= n->synced_snapshot_index ||
               (n->synced_count >= i && n->synced_terms[i - 1] == term);
    }
    return i < raft_first_index(n->raft) || raft_term_at(n->raft, i) == term;
}

static bool node_barred(const struct sim_node *n)
{
    return n->barrier_durable != 0 || n->bit_flipped ||
           (n->up && n->raft != NULL && raft_vote_barrier(n->raft) != 0);
}

/* Whether voter id would grant a vote to a candidate presenting `tip`. */
struct electorate {
    const struct sim_world *w;
    node_id_t candidate;
    struct log_tip tip;
    uint32_t votes; /* granted votes counted so far, for the report */
};

static bool could_grant(const void *ctx, node_id_t id)
{
    struct electorate *e = (struct electorate *)ctx;
    if (id == e->candidate) {
        e->votes++;
        return true;
    }
    if (id < 1 || id > e->w->cfg.nodes_count) {
        return false;
    }
    const struct sim_node *ny = &e->w->nodes[id - 1];
    bool grant = !node_barred(ny) && tip_at_least(e->tip, durable_tip(ny));
    e->votes += grant;
    return grant;
}

/* A node campaigns with the configuration in the log it presents, and needs a quorum of
 * it (of both sets while joint); its own vote counts only if it is a voter there. Every
 * node is judged: a learner or a removed node may campaign too (through PreVote). */
static void check_commit_safety(struct sim_world *w, struct sim_node *leader)
{
    raft_index_t i = raft_commit_index(leader->raft);
    raft_term_t term = raft_term_at(leader->raft, i);
    uint32_t count = w->cfg.nodes_count;
    for (uint32_t x = 0; x < count; x++) {
        struct sim_node *nx = &w->nodes[x];
        bool up = nx->up && nx->raft != NULL;
        if (node_barred(nx)) {
            continue; /* behind its vote barrier a damaged node neither campaigns nor votes */
        }
        struct log_tip tips[2] = {durable_tip(nx), {0, 0}};
        bool lacks[2] = {!node_holds(nx, i, term, true), false};
        struct raft_config configs[2] = {nx->durable_config};
        if (up) {
            tips[1].index = raft_last_index(nx->raft);
            tips[1].term = raft_term_at(nx->raft, tips[1].index);
            lacks[1] = !node_holds(nx, i, term, false);
            raft_configuration_at(nx->raft, nx->synced_count, &configs[0]);
            configs[1] = *raft_configuration(nx->raft);
        }
        for (int v = 0; v < (up ? 2 : 1); v++) {
            if (!lacks[v]) {
                continue;
            }
            struct electorate e = {w, nx->id, tips[v], 0};
            if (raft_config_has_quorum(&configs[v], could_grant, &e)) {
                sim_fail(w, "commit_safety", "leader %u committed entry %llu (term %llu) but "
                         "node %u, lacking it, could still be elected by a quorum of its "
                         "configuration (%u votes)", leader->id, (unsigned long long)i,
                         (unsigned long long)term, nx->id, e.votes);
                return;
            }
        }
    }
}

static void record_commit_terms(struct sim_world *w, raft_index_t from, raft_index_t to,
                                raft_term_t term)
{
    if (to >= w->commit_term_cap) {
        size_t cap = MAX(to + 1, w->commit_term_cap * 2);
        w->commit_term = realloc(w->commit_term, cap * sizeof *w->commit_term);
        ASSERT(w->commit_term != NULL);
        memset(w->commit_term + w->commit_term_cap, 0,
               (cap - w->commit_term_cap) * sizeof *w->commit_term);
        w->commit_term_cap = cap;
    }
    for (raft_index_t i = from; i <= to; i++) {
        if (w->commit_term[i] == 0 || term < w->commit_term[i]) {
            w->commit_term[i] = term;
        }
    }
}

void check_after_step(struct sim_world *w, struct sim_node *n)
{
    if (n->raft == NULL || w->failed) {
        return;
    }
    raft_check_invariants(n->raft);
    enum raft_role role = raft_role(n->raft);
    raft_term_t term = raft_term(n->raft);
    if (role == RAFT_LEADER && (n->last_role != RAFT_LEADER || n->last_term != term)) {
        check_new_leader(w, n);
    }
    if (role == RAFT_LEADER && raft_commit_index(n->raft) > n->last_commit_checked) {
        record_commit_terms(w, n->last_commit_checked + 1, raft_commit_index(n->raft), term);
        n->last_commit_checked = raft_commit_index(n->raft);
        check_commit_safety(w, n);
    }
    n->last_role = role;
    n->last_term = term;
}

void check_applied(struct sim_world *w, struct sim_node *n, const struct raft_entry *e)
{
    raft_index_t i = e->index;
    if (w->failed) {
        return;
    }
    ASSERT(i <= n->chain_last);
    if (i >= w->applied_cap) {
        size_t cap = MAX(i + 1, w->applied_cap * 2);
        w->applied_chain = realloc(w->applied_chain, cap * sizeof *w->applied_chain);
        ASSERT(w->applied_chain != NULL);
        memset(w->applied_chain + w->applied_cap, 0, (cap - w->applied_cap) * sizeof *w->applied_chain);
        w->applied_cmd = realloc(w->applied_cmd, cap * sizeof *w->applied_cmd);
        ASSERT(w->applied_cmd != NULL);
        memset(w->applied_cmd + w->applied_cap, 0, (cap - w->applied_cap) * sizeof *w->applied_cmd);
        w->applied_cap = cap;
    }
    if (i <= w->applied_max && w->applied_chain[i] != n->chain[i]) {
        sim_fail(w, "state_machine_safety", "node %u applies a different entry at index %llu",
                 n->id, (unsigned long long)i);
        return;
    }
    if (i > w->applied_max) {
        ASSERT(i == w->applied_max + 1 || w->applied_chain[i - 1] != 0 || i == 1);
        w->applied_chain[i] = n->chain[i];
        w->applied_max = i;
    }
}

void check_session_reply(struct sim_world *w, struct sim_node *n, raft_index_t index,
                         uint64_t client_id, uint64_t seq, const struct sm_reply *reply)
{
    (void)n;
    ASSERT(index < w->applied_cap);
    w->applied_cmd[index] = (struct applied_command){client_id, seq};
    if (client_id == 0) {
        return;
    }
    if (sm_reply_is_error_prefix(reply, "EVICTED")) {
        return; /* a late duplicate the session refused to run again: exactly once holds */
    }
    uint64_t h = hash_bytes(reply->bytes, reply->len);
    struct pair_item *seen = pair_find(&w->reply_by_session, client_id, seq);
    if (seen == NULL) {
        struct pair_item *it = pair_put(&w->reply_by_session, client_id, seq);
        it->v1 = index;
        it->v2 = h;
    } else if (seen->v1 != index && seen->v2 == h) {
        w->result->duplicates_answered++;
    } else if (seen->v2 != h) {
        char text[96];
        sm_reply_format(reply, text, sizeof text);
        sim_fail(w, seen->v1 == index ? "determinism" : "exactly_once",
                 "node %u: command (client %llu, seq %llu) at index %llu answered %s, unlike "
                 "its application at index %llu", n->id, (unsigned long long)client_id,
                 (unsigned long long)seq, (unsigned long long)index, text,
                 (unsigned long long)seen->v1);
    }
}

/* Every acknowledged write must be in the committed log of the final leader. */
static void check_durability(struct sim_world *w)
{
    struct sim_node *leader = NULL;
    for (uint32_t i = 0; i < w->cfg.nodes_count; i++) {
        struct sim_node *n = &w->nodes[i];
        if (n->up && raft_role(n->raft) == RAFT_LEADER &&
            (leader == NULL || raft_term(n->raft) > raft_term(leader->raft))) {
            leader = n;
        }
    }
    if (leader == NULL) {
        return; /* progress already demands one; a run without faults may end first */
    }
    struct hashmap present;
    hashmap_init(&present, pair_eq);
    struct arena a;
    arena_init(&a, 4096, 1 << 20);
    for (raft_index_t i = 1; i <= raft_commit_index(leader->raft); i++) {
        struct applied_command cmd = {0};
        const struct raft_entry *e = raft_entry_at(leader->raft, i);
        if (e == NULL) {
            /* Compacted into the leader's snapshot: the command applied there, which
             * state machine safety proved the same on every node. */
            ASSERT(i <= w->applied_max);
            cmd = w->applied_cmd[i];
        } else if (e->type == RAFT_ENTRY_NORMAL) {
            arena_reset(&a);
            Chorus__Command *c = chorus__command__unpack(&a.allocator, e->data_len, e->data);
            if (c != NULL) {
                cmd = (struct applied_command){c->client_id, c->seq};
            }
        }
        if (cmd.client_id != 0 && pair_find(&present, cmd.client_id, cmd.seq) == NULL) {
            pair_put(&present, cmd.client_id, cmd.seq);
        }
    }
    arena_free(&a);
    void *it;
    for (size_t cur = 0; hashmap_next(&w->acked_writes, &cur, &it);) {
        const struct pair_item *p = it;
        if (pair_find(&present, p->a, p->b) == NULL) {
            sim_fail(w, "durability", "acknowledged write (client %llu, seq %llu) is missing "
                     "from leader %u's committed log (term %llu, commit %llu, last %llu)",
                     (unsigned long long)p->a, (unsigned long long)p->b, leader->id,
                     (unsigned long long)raft_term(leader->raft),
                     (unsigned long long)raft_commit_index(leader->raft),
                     (unsigned long long)raft_last_index(leader->raft));
            break;
        }
    }
    pairs_free(&present);
}

static void check_convergence(struct sim_world *w)
{
    for (uint32_t i = 0; i < w->cfg.nodes_count; i++) {
        for (uint32_t j = i + 1; j < w->cfg.nodes_count; j++) {
            struct sim_node *a = &w->nodes[i], *b = &w->nodes[j];
            if (!a->up || !b->up || raft_applied_index(a->raft) != raft_applied_index(b->raft)) {
                continue;
            }
            if (sm_digest(a->sm) != sm_digest(b->sm)) {
                sim_fail(w, "state_machine_safety", "nodes %u and %u applied up to %llu but hold "
                         "different states", a->id, b->id,
                         (unsigned long long)raft_applied_index(a->raft));
                return;
            }
        }
    }
}

static void check_linearizability(struct sim_world *w)
{
    struct lincheck_limits limits = {.steps_max = 2000000, .memory_bytes_max = 256u << 20};
    struct lincheck_report *report = calloc(1, sizeof *report);
    ASSERT(report != NULL);
    lincheck_check(w->history, &limits, report);
    w->result->lincheck_unknown_keys = report->keys_unknown_count;
    if (report->verdict == LINCHECK_NOT_LINEARIZABLE) {
        sim_fail(w, "linearizability", "key %u: %.200s", report->key_id, report->explanation);
        if (w->cfg.verbose) {
            fprintf(stderr, "%s", report->explanation);
        }
    }
    free(report);
}

void check_final(struct sim_world *w)
{
    check_durability(w);
    check_convergence(w);
    for (uint32_t i = 0; i < w->cfg.nodes_count && !w->failed; i++) {
        if (w->nodes[i].up) {
            sim_kv_check_invariants(w->nodes[i].sm);
        }
    }
    if (!w->failed) {
        check_linearizability(w);
    }
}

void check_acked_write(struct sim_world *w, uint64_t client_id, uint64_t seq)
{
    if (pair_find(&w->acked_writes, client_id, seq) == NULL) {
        pair_put(&w->acked_writes, client_id, seq);
    }
}

void check_promise_sent(struct sim_world *w, struct sim_node *n, const struct raft_message *m)
{
    (void)w;
    if (m->type == RAFT_MSG_VOTE_REPLY && m->granted && !m->pre_vote) {
        n->promised_vote_term = m->term;
        n->promised_vote = m->to;
    } else if ((m->type == RAFT_MSG_APPEND_REPLY ||
                (m->type == RAFT_MSG_SNAPSHOT_REPLY && m->done)) &&
               m->success && m->match_index > n->promised_match) {
        n->promised_match = m->match_index;
        n->promised_match_term = m->type == RAFT_MSG_SNAPSHOT_REPLY
                                     ? m->snapshot_term
                                     : raft_term_at(n->raft, m->match_index);
    }
}

/* Called when a node restarts, after its log was recovered. */
void check_promises_kept(struct sim_world *w, struct sim_node *n)
{
    if (n->recovered_term < n->promised_vote_term ||
        (n->recovered_term == n->promised_vote_term && n->promised_vote != 0 &&
         n->recovered_vote != n->promised_vote)) {
        sim_fail(w, "vote_durability", "node %u voted for %u in term %llu but recovered term "
                 "%llu vote %u", n->id, n->promised_vote, (unsigned long long)n->promised_vote_term,
                 (unsigned long long)n->recovered_term, n->recovered_vote);
        return;
    }
    raft_index_t p = n->promised_match;
    bool in_snapshot = p <= n->synced_snapshot_index;
    if (p > 0 && !in_snapshot &&
        (n->synced_count < p || n->synced_terms[p - 1] != n->promised_match_term)) {
        sim_fail(w, "ack_durability", "node %u acknowledged entry %llu (term %llu) but recovered "
                 "without it", n->id, (unsigned long long)p,
                 (unsigned long long)n->promised_match_term);
    }
}

/* Every node's state machine as of snapshot index `index` must be the same: recorded by
 * the first node that took a snapshot there, compared for every later one, and for every
 * state loaded from a snapshot (an install or a restart). */
void check_snapshot_state(struct sim_world *w, struct sim_node *n, raft_index_t index,
                          bool taken_here)
{
    uint64_t digest = sm_digest(n->sm);
    struct pair_item *seen = pair_find(&w->digest_by_snapshot, index, 0);
    if (seen == NULL && taken_here) {
        pair_put(&w->digest_by_snapshot, index, 0)->v1 = digest;
    } else if (seen == NULL) {
        sim_fail(w, "snapshot", "node %u loaded a snapshot at %llu that no node took", n->id,
                 (unsigned long long)index);
    } else if (seen->v1 != digest) {
        sim_fail(w, "state_machine_safety", "node %u's state as of snapshot %llu differs from "
                 "another node's", n->id, (unsigned long long)index);
    }
}

/* A follower installed the snapshot at index: its state is checked as above, and its log
 * must now chain on from the committed entry there. Its chain is recomputed from just
 * after the snapshot, so a kept tail that does not extend the committed prefix breaks
 * log matching. Acknowledgements of a kept tail still stand; a dropped one was never
 * committed. */
void check_snapshot_installed(struct sim_world *w, struct sim_node *n, raft_index_t index,
                              bool log_tail_kept)
{
    check_snapshot_state(w, n, index, false);
    if (w->failed) {
        return;
    }
    raft_index_t promised = n->promised_match;
    raft_term_t promised_term = n->promised_match_term;
    n->chain_last = MIN(n->chain_last, index - 1); /* chain[index] := the committed one */
    check_log_changed(w, n, index);
    n->promised_match = promised;
    n->promised_match_term = promised_term;
    if (!log_tail_kept && promised > index) {
        n->promised_match = index;
        n->promised_match_term = raft_term_at(n->raft, index);
    }
}
