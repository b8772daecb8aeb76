/* chorus-cli: cluster administration over the Admin RPC service.
 *
 *   chorus-cli --peers 1@127.0.0.1:17001,2@127.0.0.1:17002 [--timeout-ms N] [--wait-ms N]
 *              [--cluster-key HEX | --cluster-key-file PATH] COMMAND [ARGS]
 *
 * Asked of every member at once (one RPC each, sent as frames of kind FRAME_KIND_RPC to
 * its cluster UDP port, see src/server/admin_rpc.h):
 *   status    one line per member: role, term, leader, commit, applied and last index
 *             (members of the configuration that --peers does not name are asked too)
 *   snapshot  one line per member: what it answered (each takes its own snapshot)
 * A member that does not answer OK gets the status and its detail instead (e.g.
 * RPC_DEADLINE_EXCEEDED).
 *
 * Asked of the leader (the first member, then wherever RPC_NOT_LEADER's "node N leads at
 * HOST:PORT" points, a silent member skipped), retried while the answer says "retry",
 * for at most --wait-ms (default 30 s):
 *   transfer ID             leadership to node ID
 *   add-learner ID IP:PORT  node ID (its cluster port) joins as a learner
 *   promote ID              the learner becomes a voter once caught up
 *   remove ID               node ID leaves (the leader hands over first)
 *   add ID IP:PORT          add-learner, then promote once it has caught up
 * Exit status: 0 when every call answered OK, 1 when one did not, 2 on bad usage.
 *
 * With a cluster key every frame is sealed (src/server/admin_seal.h); a server with a key
 * drops plain or wrongly keyed frames unanswered, which looks like a silent member here.
 * This is a driver (DESIGN.md §2): it owns the libuv loop, the clock and the socket, and
 * moves envelopes between the socket and the pure RPC client. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "base/errors.h"
#include "io/net_udp.h"
#include "rpc/client.h"
#include "rpc/envelope.h"
#include "server/admin_rpc.h"
#include "server/admin_seal.h"
#include "server/config.h"
#include "server/server.h" /* members_parse_id, members_parse_address */
#include "wire/frame.h"

#define CLI_TIMEOUT_MS_DEFAULT 2000
#define CLI_WAIT_MS_DEFAULT 30000
#define CLI_RETRY_PAUSE_MS 200
#define CLI_ERROR_BYTES 256

struct cli;

/* What one member said. */
struct member_status {
    struct cli *cli;
    const struct server_peer *peer;
    struct sockaddr_in addr;
    bool answered;
    int status;
    char detail[RPC_DETAIL_BYTES_MAX + 1];
    Chorus__StatusReply reply; /* copied scalars; no repeated fields kept */
    uint64_t index;            /* MemberReply.config_index or SnapshotReply.index */
    bool done;
};

/* The commands: a name on the command line and the Admin method it calls. */
static const struct {
    const char *command;
    const char *method;
    int args;         /* arguments after the command */
    bool on_leader;   /* asked of the leader, not of every member */
} COMMANDS[] = {{"status", "Status", 0, false},       {"snapshot", "Snapshot", 0, false},
                {"transfer", "TransferLeader", 1, true}, {"add-learner", "AddLearner", 2, true},
                {"promote", "PromoteLearner", 1, true}, {"remove", "RemoveMember", 1, true},
                {"add", "AddLearner", 2, true}};

struct cli {
    const ProtobufCMethodDescriptor *method;
    size_t command;           /* index into COMMANDS */
    uint32_t target_id;       /* ID argument */
    const char *address;      /* IP:PORT argument */
    struct admin_seal seal;
    bool keyed;               /* cfg.cluster_key holds --cluster-key */
    uv_loop_t loop;
    struct net_udp udp;
    uv_timer_t timer;
    struct rpc_client *rpc;
    struct server_config cfg; /* only peers is used */
    struct member_status members[SERVER_PEERS_COUNT_MAX];
    struct buf envelope;
    struct buf frame;
};

static void on_timer(uv_timer_t *t);

/* Sends what the client wants sent, re-arms its timer, stops when nothing is in flight. */
static void pump(struct cli *c)
{
    uint32_t peer = 0;
    for (buf_reset(&c->envelope); rpc_client_next_message(c->rpc, &peer, &c->envelope);
         buf_reset(&c->envelope)) {
        const struct server_peer *p = server_config_peer(&c->cfg, peer);
        struct frame_header h = {.version = FRAME_VERSION, .kind = FRAME_KIND_RPC,
                                 .cluster_id = ADMIN_RPC_CLUSTER_ID, .to = peer};
        buf_reset(&c->frame);
        if (p != NULL && admin_seal_frame(&c->seal, &c->frame, h, c->envelope.data,
                                          c->envelope.len, (uint64_t)time(NULL) * 1000) == 0) {
            net_udp_send(&c->udp, &c->members[p - c->cfg.peers].addr, c->frame.data, c->frame.len);
        }
    }
    if (rpc_client_calls_in_flight(c->rpc) == 0) {
        uv_stop(&c->loop);
        return;
    }
    uint64_t next = rpc_client_next_timeout_ns(c->rpc), now = uv_hrtime();
    uv_timer_start(&c->timer, on_timer, next > now ? (next - now) / 1000000 + 1 : 0, 0);
}

static void on_timer(uv_timer_t *t)
{
    struct cli *c = t->data;
    rpc_client_tick(c->rpc, uv_hrtime());
    pump(c);
}

static void on_datagram(void *ctx, const struct sockaddr_in *from, const uint8_t *data, size_t len)
{
    struct cli *c = ctx;
    struct frame_header h;
    const uint8_t *payload = NULL;
    size_t payload_len = 0;
    if (admin_seal_open(&c->seal, data, len, 0, false, &h, &payload, &payload_len) != 0 ||
        h.kind != FRAME_KIND_RPC || h.cluster_id != ADMIN_RPC_CLUSTER_ID) {
        return;
    }
    /* The member is known by the address it answers from, not by what the frame claims. */
    for (uint32_t i = 0; i < c->cfg.peers_count; i++) {
        const struct sockaddr_in *a = &c->members[i].addr;
        if (a->sin_addr.s_addr == from->sin_addr.s_addr && a->sin_port == from->sin_port) {
            rpc_client_on_message(c->rpc, uv_hrtime(), c->cfg.peers[i].id, payload, payload_len);
        }
    }
    pump(c);
}

static void note_members(struct cli *c, const Chorus__StatusReply *r);

static void on_answer(void *ctx, const struct rpc_result *r)
{
    struct member_status *m = ctx;
    m->answered = r->status == CHORUS__RPC_STATUS__RPC_OK;
    m->status = r->status;
    m->done = true;
    snprintf(m->detail, sizeof m->detail, "%s", r->detail);
    if (m->answered && r->reply->descriptor == &chorus__member_reply__descriptor) {
        m->index = ((const Chorus__MemberReply *)r->reply)->config_index;
    }
    if (m->answered && r->reply->descriptor == &chorus__snapshot_reply__descriptor) {
        m->index = ((const Chorus__SnapshotReply *)r->reply)->index;
    }
    if (m->answered && r->reply->descriptor == &chorus__status_reply__descriptor) {
        note_members(m->cli, (const Chorus__StatusReply *)r->reply);
        m->reply = *(const Chorus__StatusReply *)r->reply;
        m->reply.n_voters = 0;
        m->reply.voters = NULL;
        m->reply.n_learners = 0;
        m->reply.learners = NULL;
        m->reply.n_members = 0;
        m->reply.members = NULL;
    }
}

static const char *role_name(Chorus__Role role)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&chorus__role__descriptor, role);
    return v == NULL ? "?" : v->name + strlen("ROLE_");
}

/* For methods other than Status: one line per member. */
static int print_answers(const struct cli *c)
{
    int missing = 0;
    printf("%-4s %-22s %s\n", "ID", "ADDRESS", c->method->name);
    for (uint32_t i = 0; i < c->cfg.peers_count; i++) {
        const struct member_status *m = &c->members[i];
        char address[sizeof m->peer->host + 8];
        snprintf(address, sizeof address, "%s:%u", m->peer->host, m->peer->port);
        if (m->answered) {
            printf("%-4u %-22s OK %llu\n", m->peer->id, address, (unsigned long long)m->index);
        } else {
            printf("%-4u %-22s %s: %s\n", m->peer->id, address, rpc_status_name(m->status), m->detail);
        }
        missing += !m->answered;
    }
    return missing == 0 ? 0 : 1;
}

static int print_status_table(const struct cli *c)
{
    int missing = 0;
    printf("%-4s %-22s %-10s %8s %7s %10s %10s %10s\n", "ID", "ADDRESS", "ROLE", "TERM", "LEADER",
           "COMMIT", "APPLIED", "LAST");
    for (uint32_t i = 0; i < c->cfg.peers_count; i++) {
        const struct member_status *m = &c->members[i];
        char address[sizeof m->peer->host + 8];
        snprintf(address, sizeof address, "%s:%u", m->peer->host, m->peer->port);
        if (!m->answered) {
            printf("%-4u %-22s %s: %s\n", m->peer->id, address, rpc_status_name(m->status), m->detail);
            missing++;
            continue;
        }
        const Chorus__StatusReply *r = &m->reply;
        printf("%-4u %-22s %-10s %8llu %7u %10llu %10llu %10llu\n", r->node_id, address,
               role_name(r->role), (unsigned long long)r->term, r->leader_id,
               (unsigned long long)r->commit_index, (unsigned long long)r->applied_index,
               (unsigned long long)r->last_log_index);
    }
    return missing == 0 ? 0 : 1;
}

static int usage(const char *error)
{
    fprintf(stderr,
            "chorus-cli: %s\nusage: chorus-cli --peers ID@IPV4:PORT[,...] [--timeout-ms N] "
            "[--wait-ms N] [--cluster-key HEX | --cluster-key-file PATH]\n"
            "       status | snapshot | transfer ID | add-learner ID IPV4:PORT | promote ID |\n"
            "       remove ID | add ID IPV4:PORT\n",
            error);
    return 2;
}

/* The key as the server reads it (64 hex digits), from the text or the file's first line. */
static int set_key(struct cli *c, const char *text, const char *file)
{
    char line[256] = "", err[CLI_ERROR_BYTES];
    if (file != NULL) {
        FILE *f = fopen(file, "r");
        if (f == NULL || fgets(line, sizeof line, f) == NULL) {
            snprintf(line, sizeof line, "unreadable");
        }
        if (f != NULL) {
            fclose(f);
        }
        line[strcspn(line, "\r\n")] = '\0';
        text = line;
    }
    if (server_config_set(&c->cfg, "cluster-key", text, file ? "--cluster-key-file" : "--cluster-key",
                          err, sizeof err) != 0) {
        return usage(err);
    }
    c->keyed = true;
    return 0;
}

/* The command at argv[*i] and its arguments. 0 or prints and returns 2. */
static int parse_command(struct cli *c, int argc, char **argv, int *i)
{
    char err[CLI_ERROR_BYTES];
    for (size_t k = 0; k < sizeof COMMANDS / sizeof COMMANDS[0]; k++) {
        if (strcmp(argv[*i], COMMANDS[k].command) != 0) {
            continue;
        }
        if (*i + COMMANDS[k].args >= argc) {
            snprintf(err, sizeof err, "'%s' wants %d argument(s)", argv[*i], COMMANDS[k].args);
            return usage(err);
        }
        c->command = k;
        c->method = protobuf_c_service_descriptor_get_method_by_name(&chorus__admin__descriptor,
                                                                     COMMANDS[k].method);
        if (COMMANDS[k].args >= 1) {
            c->target_id = members_parse_id(argv[*i + 1], strlen(argv[*i + 1]));
            if (c->target_id == 0) {
                return usage("invalid node id");
            }
        }
        if (COMMANDS[k].args >= 2) {
            struct server_peer p;
            c->address = argv[*i + 2];
            if (members_parse_address(c->address, strlen(c->address), &p) != 0) {
                return usage("invalid address (want IPV4:PORT)");
            }
        }
        *i += COMMANDS[k].args;
        return 0;
    }
    snprintf(err, sizeof err, "unknown command '%s'", argv[*i]);
    return usage(err);
}

static int parse_ms(const char *text, uint64_t *out)
{
    char *end = NULL;
    *out = strtoull(text, &end, 10);
    return *end != '\0' || *out == 0 || *out > 3600 * 1000 ? -1 : 0;
}

/* Parses argv into c. Returns 0 or prints and returns 2. */
static int parse_args(struct cli *c, int argc, char **argv, uint64_t *timeout_ms, uint64_t *wait_ms)
{
    char err[CLI_ERROR_BYTES];
    server_config_defaults(&c->cfg);
    c->cfg.peers_count = 0;
    for (int i = 1; i < argc; i++) {
        bool has_value = i + 1 < argc;
        if (strcmp(argv[i], "--peers") == 0 && has_value) {
            if (server_config_set(&c->cfg, "peers", argv[++i], "--peers", err, sizeof err) != 0) {
                return usage(err);
            }
        } else if (strcmp(argv[i], "--timeout-ms") == 0 && has_value) {
            if (parse_ms(argv[++i], timeout_ms) != 0) {
                return usage("--timeout-ms wants 1..3600000");
            }
        } else if (strcmp(argv[i], "--wait-ms") == 0 && has_value) {
            if (parse_ms(argv[++i], wait_ms) != 0) {
                return usage("--wait-ms wants 1..3600000");
            }
        } else if (strcmp(argv[i], "--cluster-key") == 0 && has_value) {
            if (set_key(c, argv[++i], NULL) != 0) {
                return 2;
            }
        } else if (strcmp(argv[i], "--cluster-key-file") == 0 && has_value) {
            if (set_key(c, NULL, argv[++i]) != 0) {
                return 2;
            }
        } else if (argv[i][0] != '-' && c->method == NULL) {
            if (parse_command(c, argc, argv, &i) != 0) {
                return 2;
            }
        } else {
            snprintf(err, sizeof err, "unknown argument '%s'", argv[i]);
            return usage(err);
        }
    }
    if (c->cfg.peers_count == 0) {
        return usage("--peers is required");
    }
    return c->method != NULL ? 0 : usage("no command");
}

static int start_client(struct cli *c)
{
    struct rpc_client_config rc;
    rpc_client_config_defaults(&rc);
    rc.client_id = (uv_hrtime() << 16) ^ (uint64_t)getpid() ^ 1;
    rc.prng_seed = uv_hrtime();
    rc.retry.attempt_timeout_ns = 20ull * 1000 * 1000;
    rc.retry.backoff_base_ns = 50ull * 1000 * 1000;
    rc.retry.backoff_cap_ns = 500ull * 1000 * 1000;
    if (rpc_client_create(&rc, &c->rpc) != 0) {
        return ERR_NOMEM;
    }
    for (uint32_t i = 0; i < c->cfg.peers_count; i++) {
        struct member_status *m = &c->members[i];
        m->peer = &c->cfg.peers[i];
        m->cli = c;
        if (uv_ip4_addr(m->peer->host, m->peer->port, &m->addr) != 0) {
            return ERR_INVALID;
        }
    }
    return 0;
}

/* Starts method on member m with input (NULL: the method's empty input). */
static int start_call(struct cli *c, struct member_status *m, const ProtobufCMethodDescriptor *method,
                      const ProtobufCMessage *input, uint64_t timeout_ms)
{
    m->status = CHORUS__RPC_STATUS__RPC_DEADLINE_EXCEEDED;
    m->answered = m->done = false;
    m->detail[0] = '\0';
    _Alignas(max_align_t) uint8_t empty[256];
    if (input == NULL) {
        if (method->input->sizeof_message > sizeof empty) {
            return ERR_TOO_LARGE;
        }
        method->input->message_init((ProtobufCMessage *)empty);
        input = (const ProtobufCMessage *)empty;
    }
    unsigned method_index = (unsigned)(method - chorus__admin__descriptor.methods);
    int64_t id = rpc_client_call(c->rpc, uv_hrtime(), m->peer->id, &chorus__admin__descriptor,
                                 method_index, input, timeout_ms * 1000000ull, NULL, on_answer, m);
    return id < 0 ? (int)id : 0;
}

/* Status and Snapshot: every member at once; for Status then also the members the
 * answers name that --peers did not. */
static int call_every_member(struct cli *c, uint64_t timeout_ms)
{
    uint32_t asked = 0;
    while (asked < c->cfg.peers_count) {
        uint32_t known = c->cfg.peers_count;
        for (uint32_t i = asked; i < known; i++) {
            int rc = start_call(c, &c->members[i], c->method, NULL, timeout_ms);
            if (rc != 0) {
                return rc;
            }
        }
        asked = known;
        pump(c);
        uv_run(&c->loop, UV_RUN_DEFAULT);
    }
    return 0;
}

/* Adds p to the members asked; its index, or -1 when there is no room. */
static int add_peer(struct cli *c, const struct server_peer *p)
{
    if (c->cfg.peers_count == SERVER_PEERS_COUNT_MAX) {
        return -1;
    }
    uint32_t i = c->cfg.peers_count++;
    c->cfg.peers[i] = *p;
    c->members[i].peer = &c->cfg.peers[i];
    c->members[i].cli = c;
    uv_ip4_addr(p->host, p->port, &c->members[i].addr);
    return (int)i;
}

/* Members of a configuration that --peers did not name are asked too (status). */
static void note_members(struct cli *c, const Chorus__StatusReply *r)
{
    for (size_t i = 0; i < r->n_members; i++) {
        const Chorus__MemberInfo *mi = r->members[i];
        struct server_peer p = {.id = mi->node_id};
        if (server_config_peer(&c->cfg, mi->node_id) == NULL && mi->address != NULL &&
            members_parse_address(mi->address, strlen(mi->address), &p) == 0) {
            add_peer(c, &p);
        }
    }
}

/* The member to ask after a redirect ("node N leads at HOST:PORT"), added when new;
 * -1 when the detail names none. */
static int redirect_target(struct cli *c, const char *detail)
{
    const char *at = strstr(detail, "node ");
    const char *last = NULL;
    for (; at != NULL; at = strstr(at + 1, "node ")) {
        last = at;
    }
    unsigned id = 0;
    char address[SERVER_HOST_BYTES_MAX + 8] = "";
    if (last == NULL || sscanf(last, "node %u leads at %71[0-9.:]", &id, address) < 1 || id == 0) {
        return -1;
    }
    for (uint32_t i = 0; i < c->cfg.peers_count; i++) {
        if (c->cfg.peers[i].id == id) {
            return (int)i;
        }
    }
    struct server_peer p = {.id = id};
    return members_parse_address(address, strlen(address), &p) == 0 ? add_peer(c, &p) : -1;
}

static void pause_ms(struct cli *c, uint64_t ms)
{
    (void)c;
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Calls method at the leader, following redirects and retrying "retry" answers until
 * wait_ms. Returns the member whose answer ends it (RPC_OK or a final refusal). */
static struct member_status *call_leader(struct cli *c, const char *method_name,
                                         const ProtobufCMessage *input, uint64_t timeout_ms,
                                         uint64_t wait_ms)
{
    const ProtobufCMethodDescriptor *method =
        protobuf_c_service_descriptor_get_method_by_name(&chorus__admin__descriptor, method_name);
    uint64_t deadline = uv_hrtime() + wait_ms * 1000000ull;
    uint32_t target = 0;
    for (;;) {
        struct member_status *m = &c->members[target];
        if (start_call(c, m, method, input, timeout_ms) != 0) {
            return m;
        }
        pump(c);
        uv_run(&c->loop, UV_RUN_DEFAULT);
        if (m->answered || uv_hrtime() >= deadline) {
            return m;
        }
        int next = m->status == CHORUS__RPC_STATUS__RPC_NOT_LEADER ? redirect_target(c, m->detail) : -1;
        bool retry = m->status == CHORUS__RPC_STATUS__RPC_NOT_LEADER || strstr(m->detail, "retry") != NULL;
        if (m->status == CHORUS__RPC_STATUS__RPC_DEADLINE_EXCEEDED) {
            next = (int)((target + 1) % c->cfg.peers_count);
        } else if (!retry) {
            return m;
        }
        if (next < 0 || (uint32_t)next == target) {
            pause_ms(c, CLI_RETRY_PAUSE_MS); /* no leader yet, or a change still in flight */
        }
        target = next >= 0 ? (uint32_t)next : target;
    }
}

static int print_leader_answer(const char *what, const struct member_status *m)
{
    if (m->answered && m->index == 0) {
        printf("%s: OK (node %u)\n", what, m->peer->id);
        return 0;
    }
    if (m->answered) {
        printf("%s: OK (node %u, config index %llu)\n", what, m->peer->id,
               (unsigned long long)m->index);
        return 0;
    }
    printf("%s: %s: %s (node %u)\n", what, rpc_status_name(m->status), m->detail, m->peer->id);
    return 1;
}

static int run_on_leader(struct cli *c, uint64_t timeout_ms, uint64_t wait_ms)
{
    Chorus__TransferLeaderRequest transfer = CHORUS__TRANSFER_LEADER_REQUEST__INIT;
    transfer.target_id = c->target_id;
    Chorus__MemberRequest member = CHORUS__MEMBER_REQUEST__INIT;
    member.node_id = c->target_id;
    member.address = (char *)(c->address != NULL ? c->address : "");
    const char *command = COMMANDS[c->command].command;
    if (strcmp(command, "transfer") == 0) {
        return print_leader_answer(command, call_leader(c, "TransferLeader", &transfer.base,
                                                        timeout_ms, wait_ms));
    }
    if (strcmp(command, "add") != 0) {
        return print_leader_answer(command, call_leader(c, COMMANDS[c->command].method,
                                                        &member.base, timeout_ms, wait_ms));
    }
    struct member_status *m = call_leader(c, "AddLearner", &member.base, timeout_ms, wait_ms);
    if (!m->answered && strstr(m->detail, "already a member") == NULL) {
        return print_leader_answer("add-learner", m);
    }
    print_leader_answer("add-learner", m);
    /* The promotion waits, retried, until the learner has caught up. */
    return print_leader_answer("promote", call_leader(c, "PromoteLearner", &member.base,
                                                      timeout_ms, wait_ms));
}

int main(int argc, char **argv)
{
    static struct cli c;
    uint64_t timeout_ms = CLI_TIMEOUT_MS_DEFAULT, wait_ms = CLI_WAIT_MS_DEFAULT;
    int rc = parse_args(&c, argc, argv, &timeout_ms, &wait_ms);
    if (rc != 0) {
        return rc;
    }
    if (admin_seal_init(&c.seal, c.keyed ? c.cfg.cluster_key : NULL) != 0) {
        fprintf(stderr, "chorus-cli: libsodium failed to start\n");
        return 1;
    }
    buf_init(&c.envelope, 0);
    buf_init(&c.frame, 0);
    uv_loop_init(&c.loop);
    rc = net_udp_open(&c.udp, &c.loop, "0.0.0.0", 0, on_datagram, &c);
    if (rc != 0) {
        fprintf(stderr, "chorus-cli: cannot open a UDP socket: %s\n", uv_strerror(rc));
        return 1;
    }
    uv_timer_init(&c.loop, &c.timer);
    c.timer.data = &c;
    rc = start_client(&c);
    int status = 1;
    if (rc == 0 && COMMANDS[c.command].on_leader) {
        status = run_on_leader(&c, timeout_ms, wait_ms);
    } else if (rc == 0 && (rc = call_every_member(&c, timeout_ms)) == 0) {
        status = c.method->output == &chorus__status_reply__descriptor ? print_status_table(&c)
                                                                      : print_answers(&c);
    }
    if (rc != 0) {
        fprintf(stderr, "chorus-cli: cannot start the calls: %s\n", err_str(rc));
    }
    net_udp_close(&c.udp);
    uv_close((uv_handle_t *)&c.timer, NULL);
    uv_run(&c.loop, UV_RUN_DEFAULT);
    uv_loop_close(&c.loop);
    rpc_client_destroy(c.rpc);
    admin_seal_free(&c.seal);
    buf_free(&c.envelope);
    buf_free(&c.frame);
    return status;
}
