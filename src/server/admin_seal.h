/* admin_seal: authentication of Admin RPC frames with the cluster key.
 *
 * The Admin service travels outside the links (chorus-cli is no member and has no
 * channel), so the links' sealing does not cover it. When a cluster key is configured,
 * every Admin frame, request and reply, carries FRAME_FLAG_SEALED and a payload of
 *
 *   off size field
 *     0   24 nonce        random (randombytes_buf), never reused in practice
 *    24    n ciphertext   XChaCha20-Poly1305 of: u64 sent_ms (wall clock, little-endian)
 *                         followed by the RPC envelope
 *  24+n   16 tag
 *
 * under a key derived from the cluster key (keyed BLAKE2b-256 of "chorus admin rpc v1"),
 * so Admin frames can never be mistaken for link datagrams sealed with the raw key. The
 * frame header's first 28 bytes (magic .. length) are the associated data: kind, cluster
 * id, from and to cannot be altered either. A request whose sent_ms is more than
 * ADMIN_SEAL_SKEW_MS_MAX away from the server's clock is refused: a captured frame cannot
 * be replayed later; within the window the RPC reply cache (at most once per call id)
 * makes a replay a no-op. Without a cluster key the frames are plain (flags 0) and the
 * cluster port is trusted: bind it to loopback or a private network.
 *
 * Used by src/server/admin_rpc.c and src/client/cli.c. Depends on base, wire, libsodium. */
#ifndef CHORUS_SERVER_ADMIN_SEAL_H
#define CHORUS_SERVER_ADMIN_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "wire/frame.h"

#define ADMIN_SEAL_KEY_BYTES 32
#define ADMIN_SEAL_NONCE_BYTES 24
#define ADMIN_SEAL_TAG_BYTES 16
#define ADMIN_SEAL_OVERHEAD_BYTES (ADMIN_SEAL_NONCE_BYTES + 8 + ADMIN_SEAL_TAG_BYTES)
#define ADMIN_SEAL_SKEW_MS_MAX 60000

struct admin_seal {
    bool sealed;                           /* false: plain frames (no cluster key) */
    uint8_t key[ADMIN_SEAL_KEY_BYTES];     /* derived from the cluster key */
    struct buf scratch;
};

/* cluster_key NULL: plain frames. Returns 0 or ERR_IO (libsodium failed to start). */
int admin_seal_init(struct admin_seal *a, const uint8_t *cluster_key);
void admin_seal_free(struct admin_seal *a);

/* Appends to out one frame of header h (flags set here) around envelope, sealed when a
 * key is configured; now_ms is the wall clock. Returns 0 or an error. */
int admin_seal_frame(struct admin_seal *a, struct buf *out, struct frame_header h,
                     const uint8_t *envelope, size_t envelope_len, uint64_t now_ms);

/* Checks one datagram: the frame, then (when sealed) the tag and the clock window.
 * On success points *envelope at the envelope (borrowed from data, or from a->scratch
 * until the next call) and returns 0; otherwise ERR_AUTH for a frame that is not
 * authentic, sealed when it should not be or plain when it should be sealed, or too far
 * from now_ms (when check_clock), and the frame decoder's errors. */
int admin_seal_open(struct admin_seal *a, const uint8_t *data, size_t len, uint64_t now_ms,
                    bool check_clock, struct frame_header *h, const uint8_t **envelope,
                    size_t *envelope_len);

#endif
