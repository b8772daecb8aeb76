/* The simulated clients: each registers a session, then runs operations one at a time on
 * a small set of keys (registers, counters and lists), retrying the same (client id,
 * seq) after a timeout, a redirect or a lost leadership until it gets an answer. Every
 * operation's invocation, completion and outcome go into the linearizability history.
 * Writes that never got an answer are recorded as unknown: they may or may not have
 * taken effect. */
#include <stdlib.h>
#include <string.h>

#include "base/assertions.h"
#include "kv/kv_reply.h"
#include "sim/lincheck.h"
#include "sim/sim_impl.h"

#define CLIENT_RETRY_NS (20 * SIM_MS)
#define CLIENT_THINK_NS_MAX (30 * SIM_MS)

enum key_class { KEY_REGISTER, KEY_COUNTER, KEY_LIST };

static const struct {
    const char *name;
    enum key_class cls;
} keys[] = {
    {"r0", KEY_REGISTER}, {"r1", KEY_REGISTER}, {"r2", KEY_REGISTER}, {"c0", KEY_COUNTER},
    {"c1", KEY_COUNTER},  {"l0", KEY_LIST},     {"l1", KEY_LIST},
};

static void req_arg(struct sim_request *r, const char *s)
{
    size_t n = strlen(s);
    ASSERT(r->argc < SIM_ARGV_MAX && n <= SIM_VALUE_MAX);
    memcpy(r->argv[r->argc], s, n);
    r->argv_len[r->argc++] = n;
}

static void send_attempt(struct sim_world *w, struct sim_client *c)
{
    c->attempt++;
    c->req.attempt = c->attempt;
    c->req.client_id = c->client_id;
    c->req.client = c->index;
    if (c->target == 0) {
        c->target = (node_id_t)prng_range(&w->prng, 1, w->cfg.nodes_count);
    }
    if (!prng_chance(&w->prng, w->loss_per_million)) {
        struct sim_request *copy = malloc(sizeof *copy);
        ASSERT(copy != NULL);
        *copy = c->req;
        struct sim_event ev = {.generation = w->nodes[c->target - 1].generation};
        ev.u.request = copy;
        uint64_t delay = prng_range(&w->prng, 50, 500) * 1000;
        sim_schedule(w, w->now_ns + delay, EV_CLIENT_REQUEST, c->target - 1, &ev);
    }
    c->timeout_at_ns = w->now_ns + w->cfg.client_timeout_ns;
    struct sim_event wake = {0};
    wake.u.value = ++c->wake_token;
    sim_schedule(w, c->timeout_at_ns, EV_CLIENT_WAKE, c->index, &wake);
}

static void start_register(struct sim_world *w, struct sim_client *c)
{
    memset(&c->req, 0, sizeof c->req);
    req_arg(&c->req, "CHORUS.REGISTER");
    c->client_id = 0;
    c->seq = 0;
    c->state = OP_REGISTERING;
    c->op_has_history = false;
    send_attempt(w, c);
}

/* Picks the next operation and records its invocation. */
static void start_op(struct sim_world *w, struct sim_client *c)
{
    if (w->ops_invoked >= w->cfg.ops_count) {
        c->state = OP_IDLE;
        return;
    }
    w->ops_invoked++;
    uint32_t key = (uint32_t)prng_below(&w->prng, ARRAY_COUNT(keys));
    char value[32];
    snprintf(value, sizeof value, "v%u.%u", c->index, c->ops_done);
    struct sim_request *r = &c->req;
    memset(r, 0, sizeof *r);
    uint64_t roll = prng_below(&w->prng, 100);
    enum lincheck_op_kind kind;
    const char *arg = NULL;
    switch (keys[key].cls) {
    case KEY_COUNTER:
        kind = roll < 60 ? LINCHECK_INCR : LINCHECK_GET;
        req_arg(r, kind == LINCHECK_INCR ? "INCR" : "GET");
        req_arg(r, keys[key].name);
        break;
    case KEY_LIST:
        kind = roll < 60 ? LINCHECK_RPUSH : LINCHECK_LRANGE;
        req_arg(r, kind == LINCHECK_RPUSH ? "RPUSH" : "LRANGE");
        req_arg(r, keys[key].name);
        if (kind == LINCHECK_RPUSH) {
            req_arg(r, value);
            arg = value;
        } else {
            req_arg(r, "0");
            req_arg(r, "-1");
        }
        break;
    default:
        kind = roll < 30 ? LINCHECK_GET : roll < 60 ? LINCHECK_SET : roll < 70 ? LINCHECK_SET_NX
               : roll < 80 ? LINCHECK_SET_XX : roll < 90 ? LINCHECK_SET_GET : LINCHECK_DEL;
        req_arg(r, kind == LINCHECK_GET ? "GET" : kind == LINCHECK_DEL ? "DEL" : "SET");
        req_arg(r, keys[key].name);
        if (kind != LINCHECK_GET && kind != LINCHECK_DEL) {
            req_arg(r, value);
            arg = value;
            if (kind != LINCHECK_SET) {
                req_arg(r, kind == LINCHECK_SET_NX ? "NX" : kind == LINCHECK_SET_XX ? "XX" : "GET");
            }
        }
        break;
    }
    r->is_read = kind == LINCHECK_GET || kind == LINCHECK_LRANGE;
    if (!r->is_read) {
        c->seq++;
    }
    r->seq = c->seq;
    c->state = OP_RUNNING;
    c->invoked_at_ns = w->now_ns;
    c->history_op = lincheck_invoke(w->history, key, c->index, kind, arg,
                                    arg != NULL ? strlen(arg) : 0, w->now_ns);
    c->op_has_history = true;
    sim_trace(w, "\"ev\":\"invoke\",\"client\":%u,\"op\":\"%s %s\"", c->index,
              lincheck_op_kind_name(kind), keys[key].name);
    send_attempt(w, c);
}

static void schedule_next(struct sim_world *w, struct sim_client *c, uint64_t delay_ns)
{
    struct sim_event wake = {0};
    wake.u.value = ++c->wake_token; /* supersedes any pending timeout */
    c->timeout_at_ns = 0;
    sim_schedule(w, w->now_ns + delay_ns, EV_CLIENT_WAKE, c->index, &wake);
}

void client_start(struct sim_world *w, struct sim_client *c)
{
    if (w->history == NULL) {
        w->history = calloc(1, sizeof *w->history);
        ASSERT(w->history != NULL);
        lincheck_history_init(w->history, 0);
    }
    start_register(w, c);
}

void client_wake(struct sim_world *w, struct sim_client *c, uint64_t token)
{
    if (token != c->wake_token) {
        return; /* superseded by a later timer */
    }
    if (c->state == OP_IDLE) {
        if (c->client_id == 0) {
            start_register(w, c);
        } else {
            start_op(w, c);
        }
        return;
    }
    if (c->timeout_at_ns != 0) {
        /* No answer in time: try another node with the same (client id, seq). */
        c->target = (node_id_t)prng_range(&w->prng, 1, w->cfg.nodes_count);
    }
    send_attempt(w, c);
}

/* Converts a kv reply to the checker's result form (items point into `reply`). */
static bool to_lincheck(const struct sm_reply *reply, struct lincheck_result *out,
                        struct lincheck_bytes *items, size_t items_max)
{
    struct kv_reply kr;
    kv_reply_init(&kr);
    bool ok = kv_reply_set_bytes(&kr, reply->bytes, reply->len) == 0;
    struct kv_reply_iter it;
    struct kv_reply_item item;
    kv_reply_iter_init(&it, &kr);
    ok = ok && kv_reply_next(&it, &item);
    if (ok) {
        switch (item.type) {
        case KV_REPLY_STATUS: *out = lincheck_result_ok(); break;
        case KV_REPLY_INTEGER: *out = lincheck_result_int(item.integer); break;
        case KV_REPLY_NIL: *out = lincheck_result_nil(); break;
        case KV_REPLY_BULK:
            *out = lincheck_result_bulk(reply->bytes + (item.str - kr.bytes.data), item.str_len);
            break;
        case KV_REPLY_ARRAY:
            ok = item.count <= items_max;
            for (uint32_t i = 0; ok && i < item.count; i++) {
                struct kv_reply_item e;
                ok = kv_reply_next(&it, &e) && e.type == KV_REPLY_BULK;
                items[i].data = reply->bytes + (e.str - kr.bytes.data);
                items[i].len = e.str_len;
            }
            *out = lincheck_result_array(items, item.count);
            break;
        case KV_REPLY_ERROR:
            if (item.str_len >= 9 && memcmp(item.str, "WRONGTYPE", 9) == 0) {
                *out = lincheck_result_error(LINCHECK_RESULT_ERR_WRONGTYPE);
            } else if (item.str_len >= 27 && memcmp(item.str, "ERR value is not an integer", 27) == 0) {
                *out = lincheck_result_error(LINCHECK_RESULT_ERR_NOT_INTEGER);
            } else if (item.str_len >= 13 && memcmp(item.str, "ERR increment", 13) == 0) {
                *out = lincheck_result_error(LINCHECK_RESULT_ERR_OVERFLOW);
            } else {
                ok = false;
            }
            break;
        default: ok = false; break;
        }
    }
    kv_reply_free(&kr);
    return ok;
}

static void finish_op(struct sim_world *w, struct sim_client *c, enum lincheck_outcome outcome,
                      const struct sm_reply *reply)
{
    struct lincheck_bytes items[1024];
    struct lincheck_result result = lincheck_result_nil();
    if (outcome == LINCHECK_OK && !to_lincheck(reply, &result, items, ARRAY_COUNT(items))) {
        char text[128];
        sm_reply_format(reply, text, sizeof text);
        sim_fail(w, "reply", "client %u got an unexpected reply: %s", c->index, text);
        outcome = LINCHECK_UNKNOWN;
    }
    if (c->op_has_history) {
        lincheck_complete(w->history, c->history_op, outcome, &result, w->now_ns);
        c->op_has_history = false;
    }
    if (outcome == LINCHECK_OK) {
        w->result->ops_ok++;
    } else if (outcome == LINCHECK_UNKNOWN) {
        w->result->ops_unknown++;
    } else {
        w->result->ops_failed++;
    }
    w->ops_finished++;
    c->ops_done++;
    c->state = OP_IDLE;
    c->attempt++; /* replies to older attempts are now stale */
}

void client_reply(struct sim_world *w, struct sim_client *c, struct sim_reply *r)
{
    if (r->attempt != c->attempt || c->state == OP_IDLE) {
        return;
    }
    if (r->kind != REPLY_RESULT) {
        c->target = r->kind == REPLY_REDIRECT && r->leader_hint != 0
                        ? r->leader_hint
                        : (node_id_t)prng_range(&w->prng, 1, w->cfg.nodes_count);
        c->attempt++; /* the pending timeout is now stale */
        schedule_next(w, c, CLIENT_RETRY_NS);
        return;
    }
    if (c->state == OP_REGISTERING) {
        struct lincheck_result res;
        struct lincheck_bytes none[1];
        if (!to_lincheck(&r->result, &res, none, 0) || res.kind != LINCHECK_RESULT_INT) {
            sim_fail(w, "reply", "client %u: registration did not return an id", c->index);
            return;
        }
        c->client_id = (uint64_t)res.integer;
        c->state = OP_IDLE;
        c->attempt++;
        schedule_next(w, c, 0);
        return;
    }
    if (sm_reply_is_error_prefix(&r->result, "SESSIONEXPIRED")) {
        finish_op(w, c, LINCHECK_UNKNOWN, NULL);
        c->client_id = 0; /* register again */
        schedule_next(w, c, 0);
        return;
    }
    char text[96];
    sm_reply_format(&r->result, text, sizeof text);
    sim_trace(w, "\"ev\":\"complete\",\"client\":%u,\"seq\":%llu,\"reply\":\"%s\"", c->index,
              (unsigned long long)c->seq, text);
    if (!c->req.is_read) {
        check_acked_write(w, c->client_id, c->seq);
    }
    finish_op(w, c, LINCHECK_OK, &r->result);
    schedule_next(w, c, prng_below(&w->prng, CLIENT_THINK_NS_MAX));
}

bool clients_done(const struct sim_world *w) { return w->ops_finished >= w->cfg.ops_count; }

void client_finish_run(struct sim_world *w)
{
    for (uint32_t i = 0; i < w->cfg.clients_count; i++) {
        struct sim_client *c = &w->clients[i];
        if (c->state == OP_RUNNING && c->op_has_history) {
            lincheck_complete(w->history, c->history_op,
                              c->req.is_read ? LINCHECK_FAILED : LINCHECK_UNKNOWN, NULL, w->now_ns);
            c->op_has_history = false;
        }
    }
}
