/* The simulator's view of the replicated state machine: a thin adapter over src/kv that
 * keeps replies in fixed-size values (they travel inside simulated messages) and tells
 * the driver which session command an entry carried. */
#ifndef CHORUS_SIM_SM_H
#define CHORUS_SIM_SM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define SM_REPLY_BYTES_MAX 8192

/* A kv reply in its byte encoding (src/kv/kv_reply.h); truncated replies are marked. */
struct sm_reply {
    uint32_t len;
    bool truncated;
    uint8_t bytes[SM_REPLY_BYTES_MAX];
};

/* What an applied entry was: its session pair (0, 0 when sessionless or malformed). */
struct sm_applied {
    uint64_t client_id;
    uint64_t seq;
};

struct sm;

struct sm *sm_create(bool mutant_apply_twice);
void sm_destroy(struct sm *s);
/* argv[0] "CHORUS.REGISTER" with client_id 0 prepares a session registration. Returns 0
 * with the entry appended to entry_out, or nonzero with the error in err. */
int sm_prepare(struct sm *s, uint64_t now_ms, uint64_t client_id, uint64_t seq, int argc,
               const uint8_t *const *argv, const size_t *argv_len, struct buf *entry_out,
               struct sm_reply *err);
void sm_apply(struct sm *s, uint64_t index, const uint8_t *data, size_t len,
              struct sm_reply *out, struct sm_applied *info);
void sm_read(struct sm *s, uint64_t now_ms, int argc, const uint8_t *const *argv,
             const size_t *argv_len, struct sm_reply *out);
uint64_t sm_digest(const struct sm *s);
/* The whole state (kv_snapshot_write), appended to out. Returns 0 or ERR_NOMEM. */
int sm_snapshot_write(const struct sm *s, struct buf *out);
/* Replaces the state with a snapshot (kv_snapshot_load); on failure s is unchanged. */
int sm_snapshot_load(struct sm *s, const uint8_t *data, size_t len);
void sim_kv_check_invariants(const struct sm *s);
/* Short human-readable form of a reply, for traces and failure reports. */
void sm_reply_format(const struct sm_reply *r, char *out, size_t cap);
bool sm_reply_is_error_prefix(const struct sm_reply *r, const char *prefix);

#endif
