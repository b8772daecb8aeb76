/* raft_codec: struct raft_message <-> bytes, using proto/chorus.proto's RaftMessage.
 *
 * Byte format: exactly one protobuf-encoded chorus.RaftMessage (the link layer around it
 * supplies length, integrity and ordering). Decoding checks what the core trusts: a
 * known message type, non-zero from/to, at most RAFT_CODEC_ENTRIES_MAX entries, entry
 * types the core knows, and consecutive entry indexes after prev_log_index; a snapshot
 * chunk only on RAFT_MSG_SNAPSHOT, at most RAFT_CODEC_CHUNK_BYTES_MAX bytes and within
 * the snapshot's size; a snapshot configuration (snapshot_config, on the first chunk)
 * only on RAFT_MSG_SNAPSHOT and at most RAFT_CONFIG_ENCODED_SIZE_MAX bytes (the core
 * decodes it). Encoding and the common decoding are written by hand over
 * wire/pb_lite.h (same bytes as protoc-c's code, data left in place); whatever the fast
 * decoder does not expect goes through protoc-c's unpack. Depends on base, wire
 * (generated code) and raft's public header. */
#ifndef CHORUS_SERVER_RAFT_CODEC_H
#define CHORUS_SERVER_RAFT_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "raft/raft.h"

#define RAFT_CODEC_ENTRIES_MAX 4096
#define RAFT_CODEC_CHUNK_BYTES_MAX (1u << 20) /* InstallSnapshot payload per message */
/* Entries a decoded message holds in itself; more are allocated. */
#define RAFT_CODEC_INLINE_ENTRIES 128

/* A decoded message. Its entries and their data belong to it until raft_codec_free; it
 * must not be copied (entries may point into it). */
struct raft_codec_decoded {
    struct raft_message msg;
    struct raft_entry *entries; /* inline_entries, or owned */
    struct raft_entry inline_entries[RAFT_CODEC_INLINE_ENTRIES];
    void *unpacked;             /* owned protobuf-c message the data points into (slow
                                 * path), or NULL when it points into the bytes */
};

/* Appends the encoding of m (borrowed) to out. 0, or ERR_NOMEM. */
int raft_codec_encode(const struct raft_message *m, struct buf *out);
/* Decodes data into *out; entries and the chunk may point into data, which must stay
 * valid until raft_codec_free. 0, or ERR_MALFORMED/ERR_TOO_LARGE/ERR_NOMEM with nothing
 * to free. */
int raft_codec_decode(const uint8_t *data, size_t len, struct raft_codec_decoded *out);
void raft_codec_free(struct raft_codec_decoded *d);

#endif
