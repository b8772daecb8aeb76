/* chorus-cli: cluster administration over the Admin RPC service.
 *
 *   chorus-cli --peers 1@127.0.0.1:17001,2@127.0.0.1:17002 [--timeout-ms N] COMMAND
 *
 * COMMAND is an Admin method that takes no argument, asked of every member at once (one
 * RPC each, sent as frames of kind FRAME_KIND_RPC to its cluster UDP port, see
 * src/server/admin_rpc.h):
 *   status    one line per member: role, term, leader, commit, applied and last index
 *   snapshot  one line per member: what it answered
 * A member that does not answer OK gets the status and its detail instead (e.g.
 * RPC_UNIMPLEMENTED, RPC_DEADLINE_EXCEEDED). Exit status: 0 when every member answered
 * OK, 1 when some did not, 2 on bad usage.
 * This is a driver (DESIGN.md §2): it owns the libuv loop, the clock and the socket, and
 * moves envelopes between the socket and the pure RPC client. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "base/errors.h"
#include "io/net_udp.h"
#include "rpc/client.h"
#include "rpc/envelope.h"
#include "server/admin_rpc.h"
#include "server/config.h"
#include "wire/frame.h"

#define CLI_TIMEOUT_MS_DEFAULT 2000
#define CLI_ERROR_BYTES 256

/* What one member said. */
struct member_status {
    const struct server_peer *peer;
    struct sockaddr_in addr;
    bool answered;
    int status;
    char detail[RPC_DETAIL_BYTES_MAX + 1];
    Chorus__StatusReply reply; /* copied scalars; no repeated fields kept */
};

/* The commands: a name on the command line and the Admin method it calls. */
static const struct {
    const char *command;
    const char *method;
} COMMANDS[] = {{"status", "Status"}, {"snapshot", "Snapshot"}};

struct cli {
    const ProtobufCMethodDescriptor *method;
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
        if (p != NULL && frame_encode(&c->frame, &h, c->envelope.data, c->envelope.len) == 0) {
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
    long n = frame_decode(data, len, ADMIN_RPC_CLUSTER_ID, &h, &payload);
    if (n < 0 || (size_t)n != len || h.kind != FRAME_KIND_RPC) {
        return;
    }
    /* The member is known by the address it answers from, not by what the frame claims. */
    for (uint32_t i = 0; i < c->cfg.peers_count; i++) {
        const struct sockaddr_in *a = &c->members[i].addr;
        if (a->sin_addr.s_addr == from->sin_addr.s_addr && a->sin_port == from->sin_port) {
            rpc_client_on_message(c->rpc, uv_hrtime(), c->cfg.peers[i].id, payload, h.length);
        }
    }
    pump(c);
}

static void on_answer(void *ctx, const struct rpc_result *r)
{
    struct member_status *m = ctx;
    m->answered = r->status == CHORUS__RPC_STATUS__RPC_OK;
    m->status = r->status;
    snprintf(m->detail, sizeof m->detail, "%s", r->detail);
    if (m->answered && r->reply->descriptor == &chorus__status_reply__descriptor) {
        m->reply = *(const Chorus__StatusReply *)r->reply;
        m->reply.n_voters = 0;
        m->reply.voters = NULL;
        m->reply.n_learners = 0;
        m->reply.learners = NULL;
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
        printf("%-4u %-22s %s%s%s\n", m->peer->id, address, m->answered ? "OK" : rpc_status_name(m->status),
               m->answered ? "" : ": ", m->answered ? "" : m->detail);
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
            "status|snapshot\n",
            error);
    return 2;
}

/* Parses argv into c->cfg.peers and *timeout_ms. Returns 0 or prints and returns 2. */
static int parse_args(struct cli *c, int argc, char **argv, uint64_t *timeout_ms)
{
    char err[CLI_ERROR_BYTES];
    server_config_defaults(&c->cfg);
    c->cfg.peers_count = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--peers") == 0 && i + 1 < argc) {
            if (server_config_set(&c->cfg, "peers", argv[++i], "--peers", err, sizeof err) != 0) {
                return usage(err);
            }
        } else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) {
            char *end = NULL;
            *timeout_ms = strtoull(argv[++i], &end, 10);
            if (*end != '\0' || *timeout_ms == 0 || *timeout_ms > 3600 * 1000) {
                return usage("--timeout-ms wants 1..3600000");
            }
        } else if (argv[i][0] != '-' && c->method == NULL) {
            for (size_t k = 0; k < sizeof COMMANDS / sizeof COMMANDS[0]; k++) {
                if (strcmp(argv[i], COMMANDS[k].command) == 0) {
                    c->method = protobuf_c_service_descriptor_get_method_by_name(
                        &chorus__admin__descriptor, COMMANDS[k].method);
                }
            }
            if (c->method == NULL) {
                snprintf(err, sizeof err, "unknown command '%s'", argv[i]);
                return usage(err);
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

static int start_calls(struct cli *c, uint64_t timeout_ms)
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
        m->status = CHORUS__RPC_STATUS__RPC_DEADLINE_EXCEEDED;
        if (uv_ip4_addr(m->peer->host, m->peer->port, &m->addr) != 0) {
            return ERR_INVALID;
        }
        /* Every command's input is an empty message: built from its descriptor alone. */
        _Alignas(max_align_t) uint8_t input[256];
        if (c->method->input->sizeof_message > sizeof input) {
            return ERR_TOO_LARGE;
        }
        c->method->input->message_init((ProtobufCMessage *)input);
        unsigned method_index = (unsigned)(c->method - chorus__admin__descriptor.methods);
        int64_t id = rpc_client_call(c->rpc, uv_hrtime(), m->peer->id, &chorus__admin__descriptor,
                                     method_index, (const ProtobufCMessage *)input,
                                     timeout_ms * 1000000ull, NULL, on_answer, m);
        if (id < 0) {
            return (int)id;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct cli c;
    uint64_t timeout_ms = CLI_TIMEOUT_MS_DEFAULT;
    int rc = parse_args(&c, argc, argv, &timeout_ms);
    if (rc != 0) {
        return rc;
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
    rc = start_calls(&c, timeout_ms);
    if (rc != 0) {
        fprintf(stderr, "chorus-cli: cannot start the calls: %s\n", err_str(rc));
        return 1;
    }
    pump(&c);
    uv_run(&c.loop, UV_RUN_DEFAULT);
    int status = c.method->output == &chorus__status_reply__descriptor ? print_status_table(&c)
                                                                       : print_answers(&c);
    net_udp_close(&c.udp);
    uv_close((uv_handle_t *)&c.timer, NULL);
    uv_run(&c.loop, UV_RUN_DEFAULT);
    uv_loop_close(&c.loop);
    rpc_client_destroy(c.rpc);
    buf_free(&c.envelope);
    buf_free(&c.frame);
    return status;
}
