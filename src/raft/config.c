/* Membership changes by joint consensus, and learners (thesis §4.3 "Arbitrary
 * configuration changes using joint consensus", paper §6; learners as in etcd and the
 * thesis's "non-voting members", §4.2.1).
 *
 * A configuration lives in the log as a RAFT_ENTRY_CONFIG entry and takes effect on a
 * node as soon as the entry is appended there, committed or not (thesis §4.1); removing
 * the entry by truncation reverts to the previous configuration in the log or, when the
 * log holds none, to the snapshot's configuration (the one in effect as of its index,
 * which comes with the snapshot at boot and on install), or, without a snapshot, to
 * raft_options' voters. A change of voters goes through the joint configuration
 * C_old,new, in which elections and commitment need a majority of C_old and a majority of
 * C_new; once C_old,new commits, the leader appends C_new. Only one change is in flight
 * at a time. Learners receive the log but never count toward a quorum, and campaign only
 * through PreVote (see config_can_campaign); a learner is promoted only once it has
 * caught up, so that it does not stall commitment. Each member carries an opaque address
 * (raft never reads it) that stays with it through promotion and the joint phase and
 * leaves with it.
 *
 * Every quorum decision of the core (votes, PreVote, CheckQuorum, ReadIndex rounds,
 * commitment) goes through raft_config_has_quorum or raft_config_committed_index. */
#include <string.h>

#include "base/errors.h"
#include "raft/raft_impl.h"

#define CONFIG_FORMAT_VERSION_IDS 1 /* ids only: every address empty */
#define CONFIG_FORMAT_VERSION 2     /* ids, then an address per member */

static bool ids_contain(const node_id_t *ids, uint32_t count, node_id_t id)
{
    for (uint32_t i = 0; i < count; i++) {
        if (ids[i] == id) {
            return true;
        }
    }
    return false;
}

static bool ids_remove(node_id_t *ids, uint32_t *count, node_id_t id)
{
    for (uint32_t i = 0; i < *count; i++) {
        if (ids[i] == id) {
            ids[i] = ids[--*count];
            return true;
        }
    }
    return false;
}

static bool ids_same_set(const node_id_t *a, uint32_t a_count, const node_id_t *b,
                         uint32_t b_count)
{
    if (a_count != b_count) {
        return false;
    }
    for (uint32_t i = 0; i < a_count; i++) {
        if (!ids_contain(b, b_count, a[i])) {
            return false;
        }
    }
    return true;
}

bool raft_config_is_joint(const struct raft_config *c) { return c->voters_old_count != 0; }

bool raft_config_is_voter(const struct raft_config *c, node_id_t id)
{
    return ids_contain(c->voters, c->voters_count, id) ||
           ids_contain(c->voters_old, c->voters_old_count, id);
}

bool raft_config_is_learner(const struct raft_config *c, node_id_t id)
{
    return ids_contain(c->learners, c->learners_count, id);
}

static bool majority_granted(const node_id_t *ids, uint32_t count,
                             bool (*granted)(const void *ctx, node_id_t id), const void *ctx)
{
    uint32_t yes = 0;
    for (uint32_t i = 0; i < count; i++) {
        yes += granted(ctx, ids[i]);
    }
    return yes >= count / 2 + 1;
}

bool raft_config_has_quorum(const struct raft_config *c,
                            bool (*granted)(const void *ctx, node_id_t id), const void *ctx)
{
    return majority_granted(c->voters, c->voters_count, granted, ctx) &&
           (!raft_config_is_joint(c) ||
            majority_granted(c->voters_old, c->voters_old_count, granted, ctx));
}

/* The highest index that a majority of ids store: the (count/2+1)-th largest match. */
static raft_index_t majority_match(const node_id_t *ids, uint32_t count,
                                   raft_index_t (*match_of)(const void *ctx, node_id_t id),
                                   const void *ctx)
{
    raft_index_t matches[RAFT_NODES_COUNT_MAX];
    for (uint32_t i = 0; i < count; i++) {
        matches[i] = match_of(ctx, ids[i]);
        for (uint32_t j = i; j > 0 && matches[j] > matches[j - 1]; j--) {
            raft_index_t t = matches[j];
            matches[j] = matches[j - 1];
            matches[j - 1] = t;
        }
    }
    return count == 0 ? 0 : matches[count / 2];
}

raft_index_t raft_config_committed_index(const struct raft_config *c,
                                         raft_index_t (*match_of)(const void *ctx, node_id_t id),
                                         const void *ctx)
{
    raft_index_t index = majority_match(c->voters, c->voters_count, match_of, ctx);
    if (raft_config_is_joint(c)) {
        index = MIN(index, majority_match(c->voters_old, c->voters_old_count, match_of, ctx));
    }
    return index;
}

/* Distinct ids of c in the order of first appearance: voters, old voters, learners
 * (room for 3 * RAFT_NODES_COUNT_MAX; a valid configuration has at most
 * RAFT_NODES_COUNT_MAX). */
static uint32_t config_ids(const struct raft_config *c, node_id_t *ids)
{
    const node_id_t *sets[3] = {c->voters, c->voters_old, c->learners};
    uint32_t counts[3] = {c->voters_count, c->voters_old_count, c->learners_count};
    uint32_t count = 0;
    for (int s = 0; s < 3; s++) {
        for (uint32_t i = 0; i < counts[s]; i++) {
            if (!ids_contain(ids, count, sets[s][i])) {
                ids[count++] = sets[s][i];
            }
        }
    }
    return count;
}

/* Members: voters of both sets, then learners, each once. Returns false when more
 * than RAFT_NODES_COUNT_MAX. */
static bool config_members(const struct raft_config *c, node_id_t *members, uint32_t *count)
{
    node_id_t ids[3 * RAFT_NODES_COUNT_MAX];
    *count = config_ids(c, ids);
    if (*count > RAFT_NODES_COUNT_MAX) {
        return false;
    }
    memcpy(members, ids, *count * sizeof *ids);
    return true;
}

static bool config_is_member(const struct raft_config *c, node_id_t id)
{
    return raft_config_is_voter(c, id) || raft_config_is_learner(c, id);
}

static int address_slot(const struct raft_member_address *table, uint32_t count, node_id_t id)
{
    for (uint32_t i = 0; i < count; i++) {
        if (table[i].id == id) {
            return (int)i;
        }
    }
    return -1;
}

/* Sets id's entry in a table of RAFT_NODES_COUNT_MAX entries: replaced, added, or
 * removed when len is 0. The caller checked that id belongs (so there is room). */
static void address_put(struct raft_member_address *table, uint32_t *count, node_id_t id,
                        const uint8_t *address, size_t len)
{
    ASSERT(len <= RAFT_MEMBER_ADDRESS_BYTES_MAX);
    int slot = address_slot(table, *count, id);
    if (len == 0) {
        if (slot >= 0) {
            table[slot] = table[--*count];
        }
        return;
    }
    if (slot < 0) {
        ASSERT(*count < RAFT_NODES_COUNT_MAX);
        slot = (int)(*count)++;
    }
    struct raft_member_address *a = &table[slot];
    memset(a, 0, sizeof *a);
    a->id = id;
    a->len = (uint8_t)len;
    memcpy(a->bytes, address, len);
}

const uint8_t *raft_config_address(const struct raft_config *c, node_id_t id, size_t *len)
{
    static const uint8_t none[1];
    *len = 0;
    if (!config_is_member(c, id)) {
        return NULL;
    }
    int slot = address_slot(c->addresses, c->addresses_count, id);
    if (slot < 0) {
        return none;
    }
    *len = c->addresses[slot].len;
    return c->addresses[slot].bytes;
}

int raft_config_set_address(struct raft_config *c, node_id_t id, const uint8_t *address,
                            size_t len)
{
    if (len > RAFT_MEMBER_ADDRESS_BYTES_MAX) {
        return ERR_TOO_LARGE;
    }
    if (!config_is_member(c, id)) {
        return ERR_NOT_FOUND;
    }
    address_put(c->addresses, &c->addresses_count, id, address, len);
    return 0;
}

int raft_options_set_address(struct raft_options *o, node_id_t id, const uint8_t *address,
                             size_t len)
{
    if (len > RAFT_MEMBER_ADDRESS_BYTES_MAX) {
        return ERR_TOO_LARGE;
    }
    if (!ids_contain(o->voters, o->voters_count, id)) {
        return ERR_NOT_FOUND;
    }
    address_put(o->voter_addresses, &o->voter_addresses_count, id, address, len);
    return 0;
}

/* Drops the addresses of nodes that are no longer members: a removed node's address
 * leaves with it once it has left both voter sets. */
static void config_drop_stale_addresses(struct raft_config *c)
{
    for (uint32_t i = 0; i < c->addresses_count;) {
        if (config_is_member(c, c->addresses[i].id)) {
            i++;
        } else {
            c->addresses[i] = c->addresses[--c->addresses_count];
        }
    }
}

static size_t put_ids(uint8_t *out, const node_id_t *ids, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        for (int b = 0; b < 4; b++) {
            out[i * 4 + (size_t)b] = (uint8_t)(ids[i] >> (8 * b));
        }
    }
    return (size_t)count * 4;
}

size_t raft_config_encode(const struct raft_config *c, uint8_t *out)
{
    out[0] = CONFIG_FORMAT_VERSION;
    out[1] = (uint8_t)c->voters_count;
    out[2] = (uint8_t)c->voters_old_count;
    out[3] = (uint8_t)c->learners_count;
    size_t len = 4;
    len += put_ids(out + len, c->voters, c->voters_count);
    len += put_ids(out + len, c->voters_old, c->voters_old_count);
    len += put_ids(out + len, c->learners, c->learners_count);
    node_id_t ids[3 * RAFT_NODES_COUNT_MAX];
    uint32_t count = config_ids(c, ids);
    ASSERT(count <= RAFT_NODES_COUNT_MAX);
    for (uint32_t i = 0; i < count; i++) {
        size_t address_len;
        const uint8_t *address = raft_config_address(c, ids[i], &address_len);
        out[len++] = (uint8_t)address_len;
        memcpy(out + len, address, address_len);
        len += address_len;
    }
    ASSERT(len <= RAFT_CONFIG_ENCODED_SIZE_MAX);
    return len;
}

/* Reads count ids; each must be nonzero and new to the set it joins (`seen`). */
static bool get_ids(const uint8_t *in, uint32_t count, node_id_t *ids, const node_id_t *seen,
                    uint32_t seen_count)
{
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *p = in + (size_t)i * 4;
        ids[i] = (node_id_t)p[0] | (node_id_t)p[1] << 8 | (node_id_t)p[2] << 16 |
                 (node_id_t)p[3] << 24;
        if (ids[i] == 0 || ids_contain(ids, i, ids[i]) || ids_contain(seen, seen_count, ids[i])) {
            return false;
        }
    }
    return true;
}

/* Reads the three id sets that start at data + 4 (their counts, bytes 1..3, are
 * already checked against the limit and the length). */
static bool get_sets(const uint8_t *data, struct raft_config *c)
{
    uint32_t voters = data[1], old = data[2], learners = data[3];
    const uint8_t *p = data + 4;
    /* A learner is neither a new nor an old voter; the two voter sets may overlap. */
    node_id_t all_voters[2 * RAFT_NODES_COUNT_MAX];
    if (!get_ids(p, voters, c->voters, NULL, 0) ||
        !get_ids(p + 4 * voters, old, c->voters_old, NULL, 0)) {
        return false;
    }
    memcpy(all_voters, c->voters, voters * sizeof *all_voters);
    memcpy(all_voters + voters, c->voters_old, old * sizeof *all_voters);
    if (!get_ids(p + 4 * (voters + old), learners, c->learners, all_voters, voters + old)) {
        return false;
    }
    c->voters_count = voters;
    c->voters_old_count = old;
    c->learners_count = learners;
    return true;
}

/* Reads one address per member from in[0, len): a length byte and that many bytes
 * each, ending exactly at len. */
static bool get_addresses(const uint8_t *in, size_t len, struct raft_config *c)
{
    node_id_t ids[3 * RAFT_NODES_COUNT_MAX];
    uint32_t count = config_ids(c, ids);
    size_t at = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (at >= len || in[at] > RAFT_MEMBER_ADDRESS_BYTES_MAX || len - at - 1 < in[at]) {
            return false;
        }
        address_put(c->addresses, &c->addresses_count, ids[i], in + at + 1, in[at]);
        at += 1 + (size_t)in[at];
    }
    return at == len;
}

int raft_config_decode(const uint8_t *data, size_t len, struct raft_config *c)
{
    memset(c, 0, sizeof *c);
    if (len < 4) {
        return ERR_MALFORMED;
    }
    uint8_t version = data[0];
    if (version != CONFIG_FORMAT_VERSION && version != CONFIG_FORMAT_VERSION_IDS) {
        return ERR_VERSION;
    }
    uint32_t voters = data[1], old = data[2], learners = data[3];
    size_t ids_end = 4 + 4 * (size_t)(voters + old + learners);
    if (voters == 0 || voters > RAFT_NODES_COUNT_MAX || old > RAFT_NODES_COUNT_MAX ||
        learners > RAFT_NODES_COUNT_MAX || len < ids_end ||
        (version == CONFIG_FORMAT_VERSION_IDS && len != ids_end)) {
        return ERR_MALFORMED;
    }
    node_id_t members[RAFT_NODES_COUNT_MAX];
    uint32_t members_count;
    if (!get_sets(data, c) || !config_members(c, members, &members_count) ||
        (version == CONFIG_FORMAT_VERSION && !get_addresses(data + ids_end, len - ids_end, c))) {
        memset(c, 0, sizeof *c);
        return ERR_MALFORMED;
    }
    return 0;
}

size_t raft_member_slot(const struct raft *r, node_id_t id)
{
    for (size_t i = 0; i < r->members_count; i++) {
        if (r->members[i] == id) {
            return i;
        }
    }
    return SIZE_MAX;
}

/* Puts c in effect. Per-member state (progress, votes) follows its member to its new
 * slot; a new member starts from scratch (a leader probes it from its last index). */
static void config_set(struct raft *r, const struct raft_config *c, raft_index_t index)
{
    node_id_t members[RAFT_NODES_COUNT_MAX];
    uint32_t count;
    if (!config_members(c, members, &count)) {
        LOGE(r->opt.logger, "config at index %llu has too many members; ignored",
             (unsigned long long)index);
        return;
    }
    struct progress progress[RAFT_NODES_COUNT_MAX];
    bool granted[RAFT_NODES_COUNT_MAX], answered[RAFT_NODES_COUNT_MAX];
    memcpy(progress, r->progress, sizeof progress);
    memcpy(granted, r->votes_granted, sizeof granted);
    memcpy(answered, r->votes_answered, sizeof answered);
    size_t old_slot[RAFT_NODES_COUNT_MAX];
    for (uint32_t i = 0; i < count; i++) {
        old_slot[i] = raft_member_slot(r, members[i]);
    }
    for (uint32_t i = 0; i < count; i++) {
        struct progress *p = &r->progress[i];
        if (old_slot[i] != SIZE_MAX) {
            *p = progress[old_slot[i]];
            r->votes_granted[i] = granted[old_slot[i]];
            r->votes_answered[i] = answered[old_slot[i]];
            continue;
        }
        memset(p, 0, sizeof *p);
        p->id = members[i];
        p->next_index = raft_log_last_index(&r->log) + 1;
        p->state = PROGRESS_PROBE;
        r->votes_granted[i] = false;
        r->votes_answered[i] = false;
    }
    memcpy(r->members, members, sizeof members);
    r->members_count = count;
    r->config = *c;
    r->config_index = index;
    LOGI(r->opt.logger, "config at index %llu: %u voters, %u old voters, %u learners",
         (unsigned long long)index, c->voters_count, c->voters_old_count, c->learners_count);
}

/* The configuration of raft_options: its voters and their addresses. */
static void config_initial(const struct raft *r, struct raft_config *c)
{
    memset(c, 0, sizeof *c);
    c->voters_count = r->opt.voters_count;
    memcpy(c->voters, r->opt.voters, r->opt.voters_count * sizeof *c->voters);
    for (uint32_t i = 0; i < r->opt.voter_addresses_count; i++) {
        const struct raft_member_address *a = &r->opt.voter_addresses[i];
        raft_config_set_address(c, a->id, a->bytes, a->len);
    }
}

/* The latest configuration in the log at or before index, else the one in effect as of
 * the snapshot, which covers everything before the log (raft_options' voters when there
 * is no snapshot). */
raft_index_t config_at(const struct raft *r, raft_index_t index, struct raft_config *out)
{
    for (raft_index_t i = MIN(index, raft_log_last_index(&r->log)); i >= r->log.first_index; i--) {
        const struct raft_entry *e = raft_log_get(&r->log, i);
        if (e->type == RAFT_ENTRY_CONFIG && raft_config_decode(e->data, e->data_len, out) == 0) {
            return i;
        }
    }
    if (raft_mutant(r, RAFT_MUTANT_SNAPSHOT_DROP_CONFIG)) {
        config_initial(r, out);
        return 0;
    }
    *out = r->snapshot_config;
    return r->snapshot_index;
}

static void config_from_log(struct raft *r, raft_index_t index)
{
    struct raft_config c;
    raft_index_t at = config_at(r, index, &c);
    config_set(r, &c, at);
}

void config_set_snapshot(struct raft *r, const struct raft_config *c, bool adopt)
{
    r->snapshot_config = *c;
    r->snapshot_config_len = (uint32_t)raft_config_encode(c, r->snapshot_config_bytes);
    if (adopt) {
        config_from_log(r, raft_log_last_index(&r->log));
    }
}

int config_boot(struct raft *r, const struct raft_boot *boot)
{
    struct raft_config c;
    if (boot->snapshot_index != 0 && boot->snapshot_config_len != 0) {
        int rc = raft_config_decode(boot->snapshot_config, boot->snapshot_config_len, &c);
        if (rc != 0) {
            LOGE(r->opt.logger, "the configuration of snapshot %llu is invalid (%s)",
                 (unsigned long long)boot->snapshot_index, err_str(rc));
            return rc;
        }
    } else {
        if (boot->snapshot_index != 0) {
            LOGW(r->opt.logger, "snapshot %llu has no configuration; using the configured voters",
                 (unsigned long long)boot->snapshot_index);
        }
        config_initial(r, &c);
    }
    config_set_snapshot(r, &c, true);
    return 0;
}

raft_index_t raft_configuration_at(const struct raft *r, raft_index_t index,
                                   struct raft_config *out)
{
    return config_at(r, MAX(index, r->snapshot_index), out);
}

size_t raft_snapshot_config_encode(const struct raft *r, raft_index_t index, uint8_t *out)
{
    RAFT_ASSERT(r, index >= r->snapshot_index && index <= r->applied_index);
    struct raft_config c;
    config_at(r, index, &c);
    return raft_config_encode(&c, out);
}

void config_on_append(struct raft *r, const struct raft_entry *e)
{
    if (e->type != RAFT_ENTRY_CONFIG) {
        return;
    }
    struct raft_config c;
    int rc = raft_config_decode(e->data, e->data_len, &c);
    if (rc != 0) {
        LOGE(r->opt.logger, "config entry %llu is invalid (%s); ignored",
             (unsigned long long)e->index, err_str(rc));
        return;
    }
    config_set(r, &c, e->index);
}

void config_on_truncate(struct raft *r, raft_index_t index)
{
    if (r->config_index >= index) {
        config_from_log(r, index - 1);
    }
}

/* Appends c as a config entry of the leader's term; it takes effect at once. The
 * addresses of nodes it no longer lists are dropped. */
static int append_config(struct raft *r, struct raft_config *c, raft_index_t *index_out)
{
    config_drop_stale_addresses(c);
    uint8_t payload[RAFT_CONFIG_ENCODED_SIZE_MAX];
    struct raft_entry e = {
        .term = r->term,
        .index = raft_log_last_index(&r->log) + 1,
        .type = RAFT_ENTRY_CONFIG,
        .data = payload,
    };
    e.data_len = (uint32_t)raft_config_encode(c, payload);
    int rc = raft_log_append_copy(&r->log, &e);
    if (rc != 0) {
        return rc;
    }
    raft_mark_persist_from(r, e.index);
    config_set(r, c, e.index);
    *index_out = e.index;
    replication_broadcast(r, false);
    return 0;
}

/* The leader of a committed C_new that does not include it steps down (thesis §4.2.2).
 * Removing the leader should hand leadership over first: leadership transfer plugs in
 * here (TimeoutNow to the most caught-up voter of C_new), so that the cluster does not
 * wait out an election timeout. Until then the remaining voters elect a leader among
 * themselves once this node falls silent. */
static void config_hand_over_leadership(struct raft *r)
{
    LOGI(r->opt.logger, "removed from the configuration; stepping down");
    raft_become_follower(r, r->term, 0);
}

void config_on_commit(struct raft *r)
{
    if (r->role != RAFT_LEADER || r->config_index > r->commit_index) {
        return;
    }
    if (raft_config_is_joint(&r->config)) {
        struct raft_config next = r->config;
        next.voters_old_count = 0;
        raft_index_t index;
        if (append_config(r, &next, &index) != 0) {
            LOGW(r->opt.logger, "could not append C_new; retried at the next tick");
        }
        return;
    }
    if (!raft_config_is_voter(&r->config, r->opt.id)) {
        config_hand_over_leadership(r);
    }
}

/* Voters campaign; with PreVote, so does a node outside the voters of its own
 * configuration (a learner, a spare, a removed node). Its log may be the most up-to-date
 * one left: a leader may have replicated its last entries only to it and then lost them
 * (a damaged log) or died, and the voters of an uncommitted joint configuration may need
 * the vote it refuses to anyone with an older log; if it could not win itself, no one
 * could. It counts only the voters' votes, and as leader it hands leadership over as soon
 * as its configuration commits (config_on_commit). PreVote keeps it harmless otherwise:
 * its pre-vote succeeds only when a quorum of voters has no leader and no newer log. */
bool config_can_campaign(const struct raft *r)
{
    return raft_config_is_voter(&r->config, r->opt.id) || r->opt.pre_vote;
}

bool config_counts(const struct raft *r, node_id_t id)
{
    return raft_config_is_voter(&r->config, id) ||
           (raft_mutant(r, RAFT_MUTANT_MEMBERSHIP_COUNT_LEARNERS) &&
            raft_config_is_learner(&r->config, id));
}

/* The configuration quorums are counted in: the one in effect, unless the mutant that
 * counts learners as voters is on. */
static const struct raft_config *quorum_config(const struct raft *r, struct raft_config *scratch)
{
    if (!raft_mutant(r, RAFT_MUTANT_MEMBERSHIP_COUNT_LEARNERS)) {
        return &r->config;
    }
    *scratch = r->config;
    for (uint32_t i = 0; i < r->config.learners_count; i++) {
        scratch->voters[scratch->voters_count++] = r->config.learners[i];
    }
    return scratch;
}

bool config_has_quorum(const struct raft *r, bool (*granted)(const void *ctx, node_id_t id),
                       const void *ctx)
{
    struct raft_config scratch;
    return raft_config_has_quorum(quorum_config(r, &scratch), granted, ctx);
}

raft_index_t config_committed_index(const struct raft *r,
                                    raft_index_t (*match_of)(const void *ctx, node_id_t id),
                                    const void *ctx)
{
    struct raft_config scratch;
    return raft_config_committed_index(quorum_config(r, &scratch), match_of, ctx);
}

/* Applies one change to next: ERR_INVALID when it does not fit the configuration,
 * ERR_NOT_CAUGHT_UP for a learner that lags too far to be promoted. */
static int change_apply(struct raft *r, const struct raft_change *ch, struct raft_config *next)
{
    switch (ch->type) {
    case RAFT_CHANGE_ADD_LEARNER:
        if (ch->id == 0 || raft_config_is_voter(next, ch->id) ||
            raft_config_is_learner(next, ch->id)) {
            return ERR_INVALID;
        }
        if (ch->address_len > RAFT_MEMBER_ADDRESS_BYTES_MAX) {
            return ERR_TOO_LARGE;
        }
        next->learners[next->learners_count++] = ch->id;
        return raft_config_set_address(next, ch->id, ch->address, ch->address_len);
    case RAFT_CHANGE_PROMOTE: {
        if (!raft_config_is_learner(next, ch->id)) {
            return ERR_INVALID;
        }
        const struct progress *p = raft_progress_of(r, ch->id);
        if (p == NULL ||
            p->match_index + r->opt.promote_lag_entries_max < raft_log_last_index(&r->log)) {
            return ERR_NOT_CAUGHT_UP;
        }
        ids_remove(next->learners, &next->learners_count, ch->id);
        next->voters[next->voters_count++] = ch->id;
        return 0;
    }
    case RAFT_CHANGE_REMOVE:
        if (ids_remove(next->voters, &next->voters_count, ch->id) ||
            ids_remove(next->learners, &next->learners_count, ch->id)) {
            return 0;
        }
        return ERR_INVALID;
    default:
        return ERR_INVALID;
    }
}

int raft_change_membership(struct raft *r, uint64_t now_ns, const struct raft_change *changes,
                           size_t changes_count, raft_index_t *index_out)
{
    if (now_ns > r->now_ns) {
        r->now_ns = now_ns;
    }
    if (r->role != RAFT_LEADER) {
        return ERR_NOT_LEADER;
    }
    if (changes_count == 0 || changes_count > RAFT_NODES_COUNT_MAX) {
        return ERR_INVALID;
    }
    /* One change at a time, and only once this leader knows what is committed. */
    if (raft_config_is_joint(&r->config) || r->config_index > r->commit_index ||
        r->commit_index < r->first_index_of_term) {
        return ERR_BUSY;
    }
    struct raft_config next = r->config;
    for (size_t i = 0; i < changes_count; i++) {
        if (next.voters_count + next.learners_count >= RAFT_NODES_COUNT_MAX &&
            changes[i].type == RAFT_CHANGE_ADD_LEARNER) {
            return ERR_INVALID;
        }
        int rc = change_apply(r, &changes[i], &next);
        if (rc != 0) {
            return rc;
        }
    }
    if (next.voters_count == 0) {
        return ERR_INVALID;
    }
    bool voters_change = !ids_same_set(next.voters, next.voters_count, r->config.voters,
                                       r->config.voters_count);
    if (voters_change && !raft_mutant(r, RAFT_MUTANT_MEMBERSHIP_SKIP_JOINT)) {
        memcpy(next.voters_old, r->config.voters, sizeof next.voters_old);
        next.voters_old_count = r->config.voters_count;
    }
    node_id_t members[RAFT_NODES_COUNT_MAX];
    uint32_t members_count;
    if (!config_members(&next, members, &members_count)) {
        return ERR_INVALID; /* C_old and C_new together exceed RAFT_NODES_COUNT_MAX */
    }
    int rc = append_config(r, &next, index_out);
    raft_release_messages(r);
    return rc;
}

const struct raft_config *raft_configuration(const struct raft *r) { return &r->config; }
raft_index_t raft_configuration_index(const struct raft *r) { return r->config_index; }
