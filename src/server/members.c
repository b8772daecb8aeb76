/* members.c: the cluster operations an operator asks for (leadership transfer and
 * membership changes) and the server's peer set, which follows Raft's configuration.
 *
 * One implementation, two front ends: the CHORUS commands on the RESP port
 * (members_command, reached from server_execute so a follower can forward them) and the
 * Admin RPC service (admin_rpc.c) both call members_transfer, members_add_learner,
 * members_promote and members_remove, which answer 0 or an error code together with the
 * text both front ends show.
 *
 * Addresses. Every member's cluster address ("IPV4:PORT") is carried in Raft's
 * configuration (raft_config_address): the initial voters' from --peers
 * (raft_options_set_address), a learner's from CHORUS ADDLEARNER; config entries carry
 * them and snapshots keep the configuration, so they survive restarts even when --peers
 * is out of date, and they stay with a node until it is removed. The
 * peers of --peers are known from the start; any other member of the configuration in
 * effect is added to the link table and to cfg.peers at the address the configuration
 * gives. A peer outside the configuration is dropped from both once the configuration
 * that left it out is committed.
 *
 * A node started with `join yes` boots with the members of --peers other than itself as
 * voters: a spare, outside its own configuration, which Raft lets campaign only through
 * PreVote, which it cannot win with an empty log against a live cluster. So it never forms
 * a cluster of its own; it waits for a leader to add it and then learns its log (usually
 * by InstallSnapshot). A node that was a member and is no longer in the configuration (a
 * joint configuration leaving it out counts) is removed: it refuses every key-value
 * command with "-ERR this node was removed from the cluster" and INFO says
 * chorus_member:removed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/errors.h"
#include "server/server.h"

node_id_t members_parse_id(const char *text, size_t len)
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

/* "IPV4:PORT" into p (id not set). 0 or ERR_INVALID. */
int members_parse_address(const char *text, size_t len, struct server_peer *p)
{
    char tmp[SERVER_HOST_BYTES_MAX + 8];
    if (len == 0 || len >= sizeof tmp) {
        return ERR_INVALID;
    }
    memcpy(tmp, text, len);
    tmp[len] = '\0';
    char *colon = strrchr(tmp, ':');
    if (colon == NULL || colon == tmp) {
        return ERR_INVALID;
    }
    *colon = '\0';
    char *end = NULL;
    unsigned long port = strtoul(colon + 1, &end, 10);
    struct sockaddr_in sa;
    if (*end != '\0' || colon[1] == '\0' || port == 0 || port > 65535 ||
        uv_ip4_addr(tmp, (int)port, &sa) != 0 || strlen(tmp) >= sizeof p->host) {
        return ERR_INVALID;
    }
    memcpy(p->host, tmp, strlen(tmp) + 1); /* fits: checked above */
    p->port = (uint16_t)port;
    return 0;
}

static bool ids_have(const node_id_t *ids, uint32_t n, node_id_t id)
{
    for (uint32_t i = 0; i < n; i++) {
        if (ids[i] == id) {
            return true;
        }
    }
    return false;
}

static bool config_has(const struct raft_config *c, node_id_t id)
{
    return ids_have(c->voters, c->voters_count, id) ||
           ids_have(c->voters_old, c->voters_old_count, id) ||
           ids_have(c->learners, c->learners_count, id);
}

/* "not the leader; node N leads at HOST:PORT" (or "no leader known"): the redirect both
 * front ends give and chorus-cli follows. */
static void not_leader_text(const struct server *s, char *why, size_t cap)
{
    node_id_t leader = raft_leader(s->raft);
    const struct server_peer *p = server_config_peer(&s->cfg, leader);
    if (leader == 0 || leader == s->cfg.id) {
        snprintf(why, cap, "not the leader; no leader known");
    } else if (p == NULL) {
        snprintf(why, cap, "not the leader; node %u leads", leader);
    } else {
        snprintf(why, cap, "not the leader; node %u leads at %s:%u", leader, p->host, p->port);
    }
}

int members_transfer(struct server *s, node_id_t target, char *why, size_t cap)
{
    int rc = raft_transfer_leadership(s->raft, server_now_ns(), target);
    switch (rc) {
    case 0: snprintf(why, cap, "OK"); break;
    case ERR_NOT_LEADER: not_leader_text(s, why, cap); break;
    case ERR_INVALID: snprintf(why, cap, "node already leads"); break;
    case ERR_NOT_FOUND: snprintf(why, cap, "no node %u in the cluster", target); break;
    case ERR_BUSY:
        snprintf(why, cap, "a transfer to node %u is in progress", raft_transfer_target(s->raft));
        break;
    default: snprintf(why, cap, "transfer refused: %s", err_str(rc)); break;
    }
    return rc;
}

/* Common refusals of a membership change; fills why. */
static void change_error_text(struct server *s, int rc, node_id_t id, char *why, size_t cap)
{
    switch (rc) {
    case ERR_NOT_LEADER: not_leader_text(s, why, cap); break;
    case ERR_BUSY:
        snprintf(why, cap, "a membership change is in progress (or the leader has not "
                           "committed an entry of its term yet); retry");
        break;
    case ERR_NOT_CAUGHT_UP: snprintf(why, cap, "node %u lags too far behind the leader to be promoted; retry", id); break;
    case ERR_INVALID: snprintf(why, cap, "the change does not fit the configuration (node %u)", id); break;
    case ERR_TRANSFERRING: snprintf(why, cap, "leadership transfer in progress; retry"); break;
    default: snprintf(why, cap, "membership change refused: %s", err_str(rc)); break;
    }
}

static int change(struct server *s, uint8_t type, node_id_t id, const uint8_t *address,
                  size_t address_len, raft_index_t *index, char *why, size_t cap)
{
    struct raft_change ch = {.type = type, .id = id, .address = address, .address_len = address_len};
    int rc = raft_change_membership(s->raft, server_now_ns(), &ch, 1, index);
    if (rc != 0) {
        change_error_text(s, rc, id, why, cap);
    } else {
        snprintf(why, cap, "OK");
        LOG_AT(&s->logger, LOG_INFO, "membership change proposed at %llu: %s node %u",
               (unsigned long long)*index,
               type == RAFT_CHANGE_ADD_LEARNER ? "add learner" : type == RAFT_CHANGE_PROMOTE ? "promote" : "remove",
               id);
    }
    return rc;
}

int members_add_learner(struct server *s, node_id_t id, const char *address, size_t address_len,
                        raft_index_t *index, char *why, size_t cap)
{
    struct server_peer p = {.id = id};
    if (members_parse_address(address, address_len, &p) != 0) {
        snprintf(why, cap, "invalid address '%.*s' (want IPV4:PORT)", (int)address_len, address);
        return ERR_INVALID;
    }
    if (raft_role(s->raft) == RAFT_LEADER && config_has(raft_configuration(s->raft), id)) {
        snprintf(why, cap, "node %u is already a member", id);
        return ERR_EXISTS;
    }
    char text[SERVER_HOST_BYTES_MAX + 8];
    int len = snprintf(text, sizeof text, "%s:%u", p.host, p.port);
    return change(s, RAFT_CHANGE_ADD_LEARNER, id, (const uint8_t *)text, (size_t)len, index, why,
                  cap);
}

int members_promote(struct server *s, node_id_t id, raft_index_t *index, char *why, size_t cap)
{
    return change(s, RAFT_CHANGE_PROMOTE, id, NULL, 0, index, why, cap);
}

int members_remove(struct server *s, node_id_t id, raft_index_t *index, char *why, size_t cap)
{
    if (id == s->cfg.id && raft_role(s->raft) == RAFT_LEADER) {
        /* The leader leaves only after handing over, so the cluster never waits out an
         * election timeout: start the transfer, the caller retries at the new leader. */
        node_id_t target = raft_most_up_to_date_follower(s->raft);
        if (target == 0 || raft_transfer_leadership(s->raft, server_now_ns(), target) != 0) {
            snprintf(why, cap, "this node leads and cannot hand leadership over; retry");
            return ERR_BUSY;
        }
        const struct server_peer *p = server_config_peer(&s->cfg, target);
        snprintf(why, cap, "this node leads: handing leadership to node %u first; retry there "
                 "(not the leader; node %u leads at %s:%u)", target, target, p ? p->host : "?",
                 p ? p->port : 0);
        return ERR_TRANSFERRING;
    }
    return change(s, RAFT_CHANGE_REMOVE, id, NULL, 0, index, why, cap);
}

bool members_removed(const struct server *s)
{
    return s->member_removed;
}

const char *members_role_of(const struct server *s, node_id_t id)
{
    const struct raft_config *c = raft_configuration(s->raft);
    if (ids_have(c->voters, c->voters_count, id)) {
        return id == raft_leader(s->raft) ? "leader" : "voter";
    }
    if (ids_have(c->voters_old, c->voters_old_count, id)) {
        return "leaving";
    }
    return ids_have(c->learners, c->learners_count, id) ? "learner" : "none";
}

/* ---- the peer set ---- */

/* Adds member id of c at the address the configuration gives it. */
static void peer_add(struct server *s, const struct raft_config *c, node_id_t id)
{
    struct server_peer p = {.id = id};
    size_t len = 0;
    const uint8_t *address = raft_config_address(c, id, &len);
    if (address == NULL || members_parse_address((const char *)address, len, &p) != 0 ||
        s->cfg.peers_count == SERVER_PEERS_COUNT_MAX) {
        LOG_AT(&s->logger, LOG_WARN, "member %u has no usable address (%.*s): unreachable", id,
               (int)len, address != NULL ? (const char *)address : "");
        return;
    }
    p.id = id;
    uint32_t i = s->cfg.peers_count;
    if (link_table_add_peer(s->links, id) != 0) {
        return;
    }
    s->cfg.peers[i] = p;
    uv_ip4_addr(p.host, p.port, &s->peer_addr[i]);
    s->cfg.peers_count++;
    LOG_AT(&s->logger, LOG_INFO, "peer %u at %s:%u joins the link table", id, p.host, p.port);
}

static void peer_drop(struct server *s, uint32_t i)
{
    node_id_t id = s->cfg.peers[i].id;
    link_table_remove_peer(s->links, id);
    LOG_AT(&s->logger, LOG_INFO, "peer %u left the configuration: dropped from the link table", id);
    s->cfg.peers_count--;
    s->cfg.peers[i] = s->cfg.peers[s->cfg.peers_count];
    s->peer_addr[i] = s->peer_addr[s->cfg.peers_count];
}

void members_sync(struct server *s)
{
    const struct raft_config *c = raft_configuration(s->raft);
    raft_index_t ci = raft_configuration_index(s->raft);
    bool committed = ci <= raft_commit_index(s->raft);
    if (ci == s->members_config_index && committed == s->members_config_committed) {
        return;
    }
    s->members_config_index = ci;
    s->members_config_committed = committed;
    bool member = ids_have(c->voters, c->voters_count, s->cfg.id) ||
                  ids_have(c->learners, c->learners_count, s->cfg.id);
    s->member_seen = s->member_seen || member;
    if (s->member_seen && !member && !s->member_removed) {
        LOG_AT(&s->logger, LOG_WARN, "removed from the cluster by the configuration at %llu: "
               "refusing key-value commands from now on", (unsigned long long)ci);
    }
    s->member_removed = s->member_seen && !member;
    const node_id_t *sets[3] = {c->voters, c->voters_old, c->learners};
    uint32_t counts[3] = {c->voters_count, c->voters_old_count, c->learners_count};
    for (int k = 0; k < 3; k++) {
        for (uint32_t i = 0; i < counts[k]; i++) {
            if (sets[k][i] != s->cfg.id && server_config_peer(&s->cfg, sets[k][i]) == NULL) {
                peer_add(s, c, sets[k][i]);
            }
        }
    }
    for (uint32_t i = 0; committed && ci != 0 && i < s->cfg.peers_count; i++) {
        if (s->cfg.peers[i].id != s->cfg.id && !config_has(c, s->cfg.peers[i].id)) {
            peer_drop(s, i--);
        }
    }
}

/* ---- CHORUS commands on the RESP port ---- */

size_t members_describe(const struct server *s, Chorus__MemberInfo *out,
                        char (*addresses)[RAFT_MEMBER_ADDRESS_BYTES_MAX + 1], size_t cap)
{
    const struct raft_config *c = raft_configuration(s->raft);
    const node_id_t *sets[3] = {c->voters, c->voters_old, c->learners};
    uint32_t counts[3] = {c->voters_count, c->voters_old_count, c->learners_count};
    size_t n = 0;
    for (int k = 0; k < 3; k++) {
        for (uint32_t i = 0; i < counts[k] && n < cap; i++) {
            node_id_t id = sets[k][i];
            bool listed = false;
            for (size_t j = 0; j < n; j++) {
                listed = listed || out[j].node_id == id;
            }
            if (listed) {
                continue;
            }
            size_t len = 0;
            const uint8_t *address = raft_config_address(c, id, &len);
            snprintf(addresses[n], RAFT_MEMBER_ADDRESS_BYTES_MAX + 1, "%.*s", (int)len,
                     address != NULL ? (const char *)address : "");
            chorus__member_info__init(&out[n]);
            out[n].node_id = id;
            out[n].address = addresses[n];
            out[n].role = (char *)members_role_of(s, id);
            out[n].match_index = raft_member_match_index(s->raft, id);
            n++;
        }
    }
    return n;
}

static void members_list(struct server *s, struct kv_reply *r)
{
    Chorus__MemberInfo infos[RAFT_NODES_COUNT_MAX];
    char addresses[RAFT_NODES_COUNT_MAX][RAFT_MEMBER_ADDRESS_BYTES_MAX + 1];
    size_t n = members_describe(s, infos, addresses, RAFT_NODES_COUNT_MAX);
    size_t pos = kv_reply_array_begin(r);
    for (size_t i = 0; i < n; i++) {
        char line[160];
        int len = snprintf(line, sizeof line, "%u %s %s %llu", infos[i].node_id,
                           infos[i].address[0] != '\0' ? infos[i].address : "?", infos[i].role,
                           (unsigned long long)infos[i].match_index);
        kv_reply_bulk(r, (const uint8_t *)line, (size_t)len);
    }
    kv_reply_array_end(r, pos, (uint32_t)n);
}

/* Runs a CHORUS admin command on the leader into r. */
static void run_on_leader(struct server *s, int argc, const uint8_t *const *argv, const size_t *lens,
                          struct kv_reply *r)
{
    char why[256];
    raft_index_t index = 0;
    node_id_t id = argc >= 3 ? members_parse_id((const char *)argv[2], lens[2]) : 0;
    int rc;
    if (server_word_is(argv[1], lens[1], "members")) {
        members_list(s, r);
        return;
    }
    if (id == 0) {
        kv_reply_errorf(r, "ERR invalid node id '%.*s'", (int)lens[2], argv[2]);
        return;
    }
    if (server_word_is(argv[1], lens[1], "transfer")) {
        rc = members_transfer(s, id, why, sizeof why);
    } else if (server_word_is(argv[1], lens[1], "addlearner")) {
        rc = members_add_learner(s, id, (const char *)argv[3], lens[3], &index, why, sizeof why);
    } else if (server_word_is(argv[1], lens[1], "promote")) {
        rc = members_promote(s, id, &index, why, sizeof why);
    } else {
        rc = members_remove(s, id, &index, why, sizeof why);
    }
    if (rc == 0 && server_word_is(argv[1], lens[1], "transfer")) {
        kv_reply_status(r, "OK");
    } else if (rc == 0) {
        kv_reply_integer(r, (int64_t)index);
    } else {
        kv_reply_errorf(r, "%s %s", rc == ERR_BUSY || rc == ERR_NOT_CAUGHT_UP || rc == ERR_TRANSFERRING
                                        ? "TRYAGAIN" : "ERR", why);
    }
}

/* The argument count each command wants (including CHORUS and its name); 0: not ours. */
static int wanted_argc(const uint8_t *name, size_t len)
{
    if (server_word_is(name, len, "transfer") || server_word_is(name, len, "promote") || server_word_is(name, len, "remove")) {
        return 3;
    }
    if (server_word_is(name, len, "addlearner")) {
        return 4;
    }
    return server_word_is(name, len, "members") ? 2 : 0;
}

bool members_command(struct server *s, struct request *req, int argc, const uint8_t *const *argv,
                     const size_t *lens)
{
    if (!server_word_is(argv[0], lens[0], "chorus") || argc < 2 || wanted_argc(argv[1], lens[1]) == 0) {
        if (s->member_removed && kv_command_lookup(argv[0], lens[0]) != NULL) {
            request_complete_error(s, req, "ERR this node was removed from the cluster");
            return true;
        }
        return false;
    }
    if (argc != wanted_argc(argv[1], lens[1])) {
        char text[96];
        snprintf(text, sizeof text, "ERR wrong number of arguments for 'chorus|%.*s' command",
                 (int)(lens[1] < 32 ? lens[1] : 32), argv[1]);
        request_complete_error(s, req, text);
        return true;
    }
    node_id_t leader = raft_leader(s->raft);
    if (raft_role(s->raft) != RAFT_LEADER && leader != 0 && leader != s->cfg.id &&
        req->remote_peer == 0) {
        server_forward(s, req, argc, argv, lens, !server_word_is(argv[1], lens[1], "members"));
        return true;
    }
    struct kv_reply r;
    kv_reply_init(&r);
    run_on_leader(s, argc, argv, lens, &r);
    request_complete(s, req, &r);
    kv_reply_free(&r);
    return true; /* the loop's check handle sends what the change produced */
}

void members_info(const struct server *s, struct buf *out)
{
    char text[128];
    int n = snprintf(text, sizeof text, "\r\n# Membership\r\nchorus_member:%s\r\nchorus_members:%u\r\n",
                     members_removed(s) ? "removed" : members_role_of(s, s->cfg.id),
                     s->cfg.peers_count);
    buf_put(out, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
}

void members_metrics(const struct server *s, struct buf *out)
{
    const struct raft_config *c = raft_configuration(s->raft);
    char text[512];
    int n = snprintf(text, sizeof text,
                     "# TYPE chorus_config_voters gauge\nchorus_config_voters %u\n"
                     "# TYPE chorus_config_learners gauge\nchorus_config_learners %u\n"
                     "# TYPE chorus_config_joint gauge\nchorus_config_joint %d\n"
                     "# TYPE chorus_config_index gauge\nchorus_config_index %llu\n"
                     "# TYPE chorus_member_removed gauge\nchorus_member_removed %d\n",
                     c->voters_count, c->learners_count, raft_config_is_joint(c),
                     (unsigned long long)raft_configuration_index(s->raft), s->member_removed);
    buf_put(out, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
}
