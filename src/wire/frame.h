/* The frame: the unit every node-to-node datagram and every RPC message travels in.
 *
 * Byte format (all integers little-endian), FRAME_HEADER_SIZE = 32 bytes, then payload:
 *
 *   off size field
 *     0    4 magic        0x31524843 ("CHR1" on the wire)
 *     4    1 version      FRAME_VERSION (1); any other value is rejected
 *     5    1 flags        bit 0 FRAME_FLAG_SEALED: payload is AEAD ciphertext + tag
 *                         (the link layer seals and opens it); other bits must be 0
 *     6    2 kind         payload type, for dispatch before decoding (enum frame_kind)
 *     8    8 cluster_id   frames from another cluster are rejected
 *    16    4 from         sender node id
 *    20    4 to           receiver node id
 *    24    4 length       payload bytes that follow, <= FRAME_PAYLOAD_SIZE_MAX
 *    28    4 crc32c       CRC32C of header bytes 0..27 followed by the payload
 *
 * Validity: a frame is accepted only when the magic, version, flags, length and checksum
 * all check out; the decoder never reads past the bytes it was given and reports the
 * first failure as an error code, which the caller counts and drops. There is no
 * recovery inside a frame: a bad frame is discarded whole. */
#ifndef CHORUS_WIRE_FRAME_H
#define CHORUS_WIRE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define FRAME_MAGIC 0x31524843u
#define FRAME_VERSION 1
#define FRAME_HEADER_SIZE 32
#define FRAME_PAYLOAD_SIZE_MAX (16u * 1024 * 1024)
#define FRAME_FLAG_SEALED 0x01u
#define FRAME_FLAGS_KNOWN FRAME_FLAG_SEALED

enum frame_kind {
    FRAME_KIND_LINK = 1, /* a link-layer datagram (data, ack, reset) */
    FRAME_KIND_RPC = 2,  /* an RPC request or reply envelope */
    FRAME_KIND_RAFT = 3, /* a RaftMessage */
};

struct frame_header {
    uint8_t version;
    uint8_t flags;
    uint16_t kind;
    uint64_t cluster_id;
    uint32_t from;
    uint32_t to;
    uint32_t length;
};

/* Appends header + payload to out, with the checksum. Returns 0 or an error
 * (ERR_TOO_LARGE when the payload passes the limit, ERR_NOMEM). */
int frame_encode(struct buf *out, const struct frame_header *h, const void *payload,
                 size_t payload_len);

/* Encodes the header for payload into a FRAME_HEADER_SIZE buffer (for scatter I/O). */
void frame_encode_header(uint8_t out[FRAME_HEADER_SIZE], const struct frame_header *h,
                         const void *payload, size_t payload_len);

/* The kind of the frame at the start of data, read without any other check (no
 * checksum): enough to route a datagram to the decoder that will check everything.
 * Returns 0 when data is shorter than a header or does not start with the magic. */
uint16_t frame_peek_kind(const void *data, size_t len);

/* Decodes one frame from the start of data. On success fills h, points *payload into
 * data (borrowed) and returns the frame's total size in bytes. On failure returns
 * ERR_TRUNCATED, ERR_MAGIC, ERR_VERSION, ERR_MALFORMED (flags), ERR_TOO_LARGE or
 * ERR_CHECKSUM. When expect_cluster_id is non-zero a different cluster id gives
 * ERR_AUTH. */
long frame_decode(const void *data, size_t len, uint64_t expect_cluster_id,
                  struct frame_header *h, const uint8_t **payload);

#endif
