/* The command handlers, one family per file (kv_cmd_strings.c, kv_cmd_keys.c,
 * kv_cmd_lists.c, kv_cmd_hashes.c), collected into the table of kv_command.c. Each follows
 * the contract of kv_handler_fn in kv_internal.h. Internal to kv. */
#ifndef CHORUS_KV_HANDLERS_H
#define CHORUS_KV_HANDLERS_H

#include "kv/kv_internal.h"

/* The parsed options of SET, shared with the proposal-time rewrite in kv_prepare.c. */
struct kv_set_opts {
    bool nx, xx, get, keepttl;
    bool has_expire;
    int64_t expire_at_ms; /* absolute, valid when has_expire */
};
int kv_set_parse(struct kv_ctx *c, struct kv_set_opts *o);

/* EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: the absolute time and the condition flags. */
struct kv_expire_opts {
    int64_t at_ms;
    bool nx, xx, gt, lt;
    int flags_from;       /* argv index of the first flag */
};
int kv_expire_parse(struct kv_ctx *c, struct kv_expire_opts *o);

/* Shared lookups: the live key at argv[i] (reaping it when running a write). */
struct kv_key *kv_ctx_key(struct kv_ctx *c, int i);
/* Creates argv[i] as a new key of type t; the caller found it absent with kv_ctx_key. */
struct kv_key *kv_ctx_key_create(struct kv_ctx *c, int i, enum kv_type t);
/* 1 and a WRONGTYPE reply when k exists with another type than t. */
bool kv_ctx_wrongtype(struct kv_ctx *c, const struct kv_key *k, enum kv_type t);

int kv_cmd_get(struct kv_ctx *c);
int kv_cmd_set(struct kv_ctx *c);
int kv_cmd_incr(struct kv_ctx *c);
int kv_cmd_decr(struct kv_ctx *c);
int kv_cmd_incrby(struct kv_ctx *c);
int kv_cmd_decrby(struct kv_ctx *c);
int kv_cmd_append(struct kv_ctx *c);
int kv_cmd_strlen(struct kv_ctx *c);
int kv_cmd_mget(struct kv_ctx *c);
int kv_cmd_mset(struct kv_ctx *c);

int kv_cmd_del(struct kv_ctx *c);
int kv_cmd_exists(struct kv_ctx *c);
int kv_cmd_expire(struct kv_ctx *c); /* all four forms, told apart by argv[0] */
int kv_cmd_ttl(struct kv_ctx *c);
int kv_cmd_pttl(struct kv_ctx *c);
int kv_cmd_persist(struct kv_ctx *c);
int kv_cmd_type(struct kv_ctx *c);
int kv_cmd_dbsize(struct kv_ctx *c);
int kv_cmd_scan(struct kv_ctx *c);

int kv_cmd_lpush(struct kv_ctx *c);
int kv_cmd_rpush(struct kv_ctx *c);
int kv_cmd_lpop(struct kv_ctx *c);
int kv_cmd_rpop(struct kv_ctx *c);
int kv_cmd_lrange(struct kv_ctx *c);
int kv_cmd_llen(struct kv_ctx *c);

int kv_cmd_hset(struct kv_ctx *c);
int kv_cmd_hget(struct kv_ctx *c);
int kv_cmd_hdel(struct kv_ctx *c);
int kv_cmd_hgetall(struct kv_ctx *c);
int kv_cmd_hlen(struct kv_ctx *c);

#endif
