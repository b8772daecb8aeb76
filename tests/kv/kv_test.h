/* Helpers shared by the kv tests: run a command line through prepare + apply (as the
 * leader and every replica would) or through the local read path, and render the reply
 * with kv_reply_format so tests compare short strings. A command line is split on
 * spaces; '~' inside a word stands for a space and "\"\"" for an empty argument. */
#ifndef CHORUS_TESTS_KV_TEST_H
#define CHORUS_TESTS_KV_TEST_H

#include <stdlib.h>

#include "base/assertions.h"
#include "base/errors.h"
#include "harness.h"
#include "kv/kv.h"

/* CHECK_STR for replies, which may be longer than the harness's message buffer. */
#define CHECK_REPLY(got, want)                                                  \
    do {                                                                        \
        const char *got_ = (got), *want_ = (want);                              \
        if (strcmp(got_, want_) != 0) {                                        \
            char msg_[1024];                                                    \
            snprintf(msg_, sizeof msg_, "got %.480s, want %.480s", got_, want_); \
            test_fail(__FILE__, __LINE__, msg_);                                \
        }                                                                       \
    } while (0)

#define KVT_ARGC_MAX 64
#define KVT_LINE_MAX 4096

struct kvt {
    struct kv_store *s;
    uint64_t index;   /* last index applied */
    uint64_t now_ms;  /* the leader's clock for the next prepare */
    struct kv_reply reply;
    struct buf entry; /* the last prepared entry */
    char out[KVT_LINE_MAX];
};

struct kvt_args {
    char text[KVT_LINE_MAX];
    const uint8_t *argv[KVT_ARGC_MAX];
    size_t len[KVT_ARGC_MAX];
    struct kv_argv cmd;
};

static inline void kvt_split(struct kvt_args *a, const char *line)
{
    snprintf(a->text, sizeof a->text, "%s", line);
    int argc = 0;
    char *save = NULL;
    for (char *w = strtok_r(a->text, " ", &save); w != NULL && argc < KVT_ARGC_MAX;
         w = strtok_r(NULL, " ", &save)) {
        if (strcmp(w, "\"\"") == 0) {
            w[0] = '\0';
        }
        for (char *p = w; *p != '\0'; p++) {
            if (*p == '~') {
                *p = ' ';
            }
        }
        a->argv[argc] = (const uint8_t *)w;
        a->len[argc] = strlen(w);
        argc++;
    }
    a->cmd.argc = argc;
    a->cmd.argv = a->argv;
    a->cmd.argv_len = a->len;
}

static inline void kvt_init_cfg(struct kvt *t, const struct kv_config *cfg)
{
    memset(t, 0, sizeof *t);
    t->s = kv_create(cfg);
    t->now_ms = 1000000;
    kv_reply_init(&t->reply);
    buf_init(&t->entry, 0);
}

static inline void kvt_init(struct kvt *t) { kvt_init_cfg(t, NULL); }

static inline void kvt_free(struct kvt *t)
{
    kv_check_invariants(t->s);
    kv_destroy(t->s);
    kv_reply_free(&t->reply);
    buf_free(&t->entry);
}

static inline const char *kvt_format(struct kvt *t)
{
    kv_reply_format(&t->reply, t->out, sizeof t->out);
    return t->out;
}

/* Applies whatever is in t->entry at the next index. */
static inline const char *kvt_apply_entry(struct kvt *t)
{
    int rc = kv_apply(t->s, ++t->index, t->entry.data, t->entry.len, &t->reply);
    CHECK_EQ(rc, 0);
    kv_check_invariants(t->s);
    return kvt_format(t);
}

/* Prepare (with a client, or sessionless when client is NULL) and apply. */
static inline const char *kvt_client_do(struct kvt *t, const struct kv_client *client,
                                        const char *line)
{
    struct kvt_args a;
    kvt_split(&a, line);
    buf_reset(&t->entry);
    if (kv_prepare(kv_config_of(t->s), t->now_ms, client, &a.cmd, &t->entry, &t->reply) != 0) {
        return kvt_format(t);
    }
    return kvt_apply_entry(t);
}

static inline const char *kvt_do(struct kvt *t, const char *line)
{
    return kvt_client_do(t, NULL, line);
}

static inline const char *kvt_read(struct kvt *t, const char *line)
{
    struct kvt_args a;
    kvt_split(&a, line);
    kv_read(t->s, t->now_ms, &a.cmd, &t->reply);
    return kvt_format(t);
}

static inline uint64_t kvt_register(struct kvt *t)
{
    buf_reset(&t->entry);
    CHECK_EQ(kv_prepare_register(t->now_ms, &t->entry), 0);
    kvt_apply_entry(t);
    struct kv_reply_iter it;
    struct kv_reply_item item;
    kv_reply_iter_init(&it, &t->reply);
    CHECK(kv_reply_next(&it, &item) && item.type == KV_REPLY_INTEGER);
    return (uint64_t)item.integer;
}

#endif
