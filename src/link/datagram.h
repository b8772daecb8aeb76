/* The link datagram: its byte format, its encoder, and its checked decoder.
 *
 * Every link datagram is one frame (wire/frame.h) of kind FRAME_KIND_LINK. The frame
 * header carries the cluster id, the sender and receiver node ids, the payload length and
 * a CRC32C. The frame payload is (all integers little-endian):
 *
 *   clear prefix, LINK_PREFIX_SIZE = 16 bytes, never encrypted:
 *     0  8 src_incarnation  the sender's incarnation (non-zero)
 *     8  8 counter          per-channel datagram counter, strictly increasing from 1
 *   body (plaintext, or, when the frame flag FRAME_FLAG_SEALED is set, XChaCha20-Poly1305
 *   ciphertext of the same bytes followed by a LINK_TAG_SIZE = 16 byte tag):
 *     0  1 type             LINK_DGRAM_HELLO 1, LINK_DGRAM_ACK 2, LINK_DGRAM_DATA 3
 *     1  1 sacks_count      SACK ranges that follow, <= LINK_SACK_RANGES_MAX
 *     2  1 version          LINK_BODY_VERSION (1); any other value is dropped as
 *                           "version" (0 was the unversioned one-fragment format)
 *     3  1 frags_count      fragment records that follow the ranges: 0 for HELLO and
 *                           ACK, 1..LINK_DATAGRAM_FRAGMENTS_MAX for DATA
 *     4  4 window           fragments the sender will still accept beyond ack_cum
 *     8  8 dst_incarnation  the incarnation the sender believes the receiver has;
 *                           0 when it does not know yet (a HELLO)
 *    16  8 ack_cum          the next sequence number the sender expects from the receiver
 *                           (every fragment below it has been received)
 *    24  8 per SACK range   u32 start_delta (>= 1), u32 length (>= 1): fragments
 *                           [ack_cum + start_delta, ... + length) were received; ranges
 *                           ascend and do not touch or overlap
 *   DATA only, after the ranges, frags_count fragment records back to back:
 *     +0 8 seq              fragment sequence number (>= 1)
 *     +8 4 msg_len          length of the whole message, <= the configured message limit
 *    +12 4 frag_offset      where this fragment starts inside the message
 *    +16 4 frag_len         fragment bytes that follow: frag_offset + frag_len <= msg_len,
 *                           and at least one unless msg_len is 0
 *    +20 .. fragment bytes
 *   and nothing after the last record.
 *
 * Coalescing: a sender puts several fragments (of different small messages, or a
 * retransmission next to new data) into one DATA datagram while they fit the MTU, so a
 * burst of small messages costs one datagram and one system call. Each fragment keeps its
 * own sequence number; the receiver treats the records exactly as if they had arrived in
 * separate datagrams, in record order, after the acknowledgement fields.
 *
 * Sealing: key = the 32-byte cluster key; nonce (24 bytes) = from u32 || to u32 ||
 * src_incarnation u64 || counter u64, little-endian. Incarnations are unique per node
 * start and the counter never repeats within one (from, to, incarnation) channel, so a
 * nonce is never reused under the cluster key. Associated data = frame header bytes 0..27
 * (magic through length; the CRC at 28..31 covers the ciphertext and is computed last).
 *
 * Validity: the decoder rejects, and classifies for the drop counters, anything that is
 * short, has a bad frame, the wrong cluster, a sealed flag that does not match the
 * configuration, a tag that does not verify, an unknown version or type, a fragment
 * count that does not match the type, bad SACK ranges, a fragment outside its message or
 * outside the datagram, a message over the limit, or trailing bytes. It never reads outside the bytes it was given. Depends on base, wire
 * and libsodium (pure computation). */
#ifndef CHORUS_LINK_DATAGRAM_H
#define CHORUS_LINK_DATAGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "wire/frame.h"

#define LINK_KEY_SIZE 32
#define LINK_PREFIX_SIZE 16
#define LINK_TAG_SIZE 16
#define LINK_BODY_FIXED_SIZE 24
#define LINK_SACK_RANGE_SIZE 8
#define LINK_DATA_HEADER_SIZE 20 /* one fragment record's header */
#define LINK_SACK_RANGES_MAX 16
#define LINK_BODY_VERSION 1
/* Fragment records in one DATA datagram (coalesced small messages). */
#define LINK_DATAGRAM_FRAGMENTS_MAX 64
/* SACK ranges a DATA datagram is guaranteed room for; more are added when they fit. */
#define LINK_SACK_RANGES_IN_DATA_MIN 4
/* Datagram size limits: the smallest MTU that fits a full ACK, the UDP maximum. */
#define LINK_MTU_MIN 256
#define LINK_MTU_MAX 65507
/* Bytes of a full-size one-fragment DATA datagram that are not fragment bytes. The tag is
 * reserved even when not sealing, so the fragment size does not depend on the mode. A
 * coalesced datagram spends the same budget on several records. */
#define LINK_DATA_OVERHEAD                                                              \
    (FRAME_HEADER_SIZE + LINK_PREFIX_SIZE + LINK_TAG_SIZE + LINK_BODY_FIXED_SIZE +      \
     LINK_DATA_HEADER_SIZE + LINK_SACK_RANGES_IN_DATA_MIN * LINK_SACK_RANGE_SIZE)

enum link_dgram_type {
    LINK_DGRAM_HELLO = 1, /* "who are you": dst_incarnation is 0, carries nothing else */
    LINK_DGRAM_ACK = 2,   /* acknowledgement and window only */
    LINK_DGRAM_DATA = 3,  /* fragments, with a piggybacked acknowledgement */
};

/* Why a datagram was dropped; indexes link_counters.dropped. */
enum link_drop {
    LINK_DROP_NONE = 0,
    LINK_DROP_TRUNCATED,         /* shorter than its headers say */
    LINK_DROP_CHECKSUM,          /* frame CRC32C mismatch */
    LINK_DROP_MALFORMED,         /* bad frame or link field, or inconsistent fragment */
    LINK_DROP_WRONG_CLUSTER,     /* frame cluster id is not ours */
    LINK_DROP_MISADDRESSED,      /* from/to are not this channel's peer and node */
    LINK_DROP_AUTH,              /* tag does not verify (wrong key) or sealed-ness mismatch */
    LINK_DROP_STALE_INCARNATION, /* from an older incarnation, or addressed to one of ours */
    LINK_DROP_OUT_OF_WINDOW,     /* fragment beyond the receive window */
    LINK_DROP_REASSEMBLY_FULL,   /* out-of-order fragment over the reassembly byte bound */
    LINK_DROP_BAD_ACK,           /* acknowledges fragments never sent */
    LINK_DROP_VERSION,           /* a body version this node does not speak */
    LINK_DROP_COUNT_
};

/* A short stable name for a drop reason ("checksum", "auth", ...), for metrics labels. */
const char *link_drop_name(enum link_drop reason);

struct link_sack {
    uint64_t start; /* first fragment in the range */
    uint64_t end;   /* one past the last */
};

/* One fragment record. data points into the decoder's input or scratch (borrowed), or,
 * when encoding, into the sender's message. */
struct link_frag {
    uint64_t seq;
    uint32_t msg_len;
    uint32_t offset;
    uint32_t len;
    const uint8_t *data;
};

/* A decoded datagram. */
struct link_datagram {
    uint32_t from;
    uint32_t to;
    uint64_t src_incarnation;
    uint64_t dst_incarnation;
    uint64_t counter;
    uint8_t type;
    uint32_t window_fragments;
    uint64_t ack_cum;
    uint32_t sacks_count;
    struct link_sack sacks[LINK_SACK_RANGES_MAX];
    uint32_t frags_count; /* DATA: 1..LINK_DATAGRAM_FRAGMENTS_MAX; otherwise 0 */
    struct link_frag frags[LINK_DATAGRAM_FRAGMENTS_MAX];
};

/* What encoding and decoding need to know; shared by every channel of a node. */
struct link_codec {
    uint64_t cluster_id;
    uint32_t mtu_bytes;        /* largest datagram we send, frame header included */
    uint32_t message_size_max; /* a fragment claiming a larger message is malformed */
    bool sealed;
    uint8_t key[LINK_KEY_SIZE];
};

/* Fragment bytes in a full one-fragment DATA datagram under this codec's MTU. Every
 * fragment is at most this long; records of a coalesced datagram share
 * fragment_size_max + LINK_DATA_HEADER_SIZE bytes. */
uint32_t link_codec_fragment_size_max(const struct link_codec *c);
/* How many SACK ranges fit in a datagram whose fragment records (headers included) take
 * records_bytes (0 for HELLO and ACK). */
uint32_t link_codec_sacks_fit(const struct link_codec *c, size_t records_bytes);

/* Appends one complete frame for d to out (sealing when the codec says so). The fragment
 * bytes are read, not kept. The datagram must fit the MTU (asserted). Returns 0 or ERR_NOMEM. */
int link_datagram_encode(const struct link_codec *c, const struct link_datagram *d,
                         struct buf *out);

/* Decodes and checks one datagram of len bytes. scratch must hold LINK_MTU_MAX bytes; a
 * sealed body is opened there, and out->frag may point into it or into bytes. Returns
 * LINK_DROP_NONE or the reason to drop it. Never reads outside bytes[0..len). */
enum link_drop link_datagram_decode(const struct link_codec *c, const uint8_t *bytes, size_t len,
                                    uint8_t *scratch, struct link_datagram *out);

#endif
