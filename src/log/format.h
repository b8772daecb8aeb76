/* Byte formats of the log's files (mirrored in docs/log.md). All integers are
 * little-endian; every structure carries a magic, a version and a CRC32C, and a decoder
 * rejects anything else with ERR_MAGIC, ERR_VERSION, ERR_CHECKSUM, ERR_TOO_LARGE or
 * ERR_MALFORMED without reading past the bytes it was given.
 *
 * Segment file "log-<first index, 16 hex digits>": a 32-byte segment header, then
 * records back to back, then zero bytes to the end of the file: room the log fills
 * ahead of its appends, so that syncing an append need not also sync a new file size.
 * The data ends at the first record position holding only zeros.
 *   off size field
 *     0    4 magic        0x474C4843 ("CHLG")
 *     4    2 version      2
 *     6    2 header size  32
 *     8    8 first_index  index of the segment's first record; equals the file name's
 *    16   12 reserved     zero
 *    28    4 crc32c       of bytes 0..27
 *
 * Record: a 32-byte header, then `length` payload bytes, then one end byte 0xE5.
 *     0    2 magic        0x4C52 ("RL")
 *     2    1 version      2
 *     3    1 type         the caller's entry type, opaque to the log
 *     4    4 length       payload bytes, <= LOG_ENTRY_SIZE_MAX
 *     8    8 term
 *    16    8 index        exactly one more than the previous record's
 *    24    4 payload_crc  CRC32C of the payload
 *    28    4 header_crc   CRC32C of bytes 0..27
 * The header has its own checksum so that a length is trusted only when it checks out,
 * and so that recovery can recognise a valid record after a damaged one. The end byte
 * makes a record's last byte nonzero: a crash that keeps only a prefix of a record in
 * zero-filled room leaves a zero there, so it is told from a complete record that
 * rotted (docs/log.md, "Recovery").
 *
 * Metadata file "meta" (replaced through "meta.tmp" + rename), 40 bytes:
 *     0    4 magic        0x544D4843 ("CHMT")
 *     4    2 version      2
 *     6    2 size         40
 *     8    8 term
 *    16    8 vote         node id voted for in term, 0 for nobody
 *    24    8 vote_barrier 0, or the index a damaged log must be repaired past
 *    32    4 reserved     zero
 *    36    4 crc32c       of bytes 0..35
 *
 * Snapshot file "snapshot" (replaced through "snapshot.tmp" + rename): a 48-byte header,
 * then config_len bytes of cluster configuration, then data_len bytes of state machine
 * data; the file is exactly that long.
 *     0    4 magic        0x4E534843 ("CHSN")
 *     4    2 version      2
 *     6    2 header size  48
 *     8    8 index        last index the snapshot covers
 *    16    8 term         term of that entry
 *    24    4 config_len   <= LOG_SNAPSHOT_CONFIG_SIZE_MAX
 *    28    4 reserved     zero
 *    32    8 data_len     <= LOG_SNAPSHOT_DATA_SIZE_MAX
 *    40    4 body_crc     CRC32C of config followed by data
 *    44    4 header_crc   CRC32C of bytes 0..43
 * Depends on base only. */
#ifndef CHORUS_LOG_FORMAT_H
#define CHORUS_LOG_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOG_FMT_VERSION 2 /* 2: records end with LOG_RECORD_END_MARK */
#define LOG_SEGMENT_MAGIC 0x474C4843u
#define LOG_SEGMENT_HEADER_SIZE 32
#define LOG_RECORD_MAGIC 0x4C52u
#define LOG_RECORD_HEADER_SIZE 32
#define LOG_RECORD_END_MARK 0xE5u
#define LOG_META_MAGIC 0x544D4843u
#define LOG_META_SIZE 40
#define LOG_SNAPSHOT_MAGIC 0x4E534843u
#define LOG_SNAPSHOT_HEADER_SIZE 48

#define LOG_META_NAME "meta"
#define LOG_META_TMP_NAME "meta.tmp"
#define LOG_SNAPSHOT_NAME "snapshot"
#define LOG_SNAPSHOT_TMP_NAME "snapshot.tmp"
#define LOG_SEGMENT_PREFIX "log-"
#define LOG_SEGMENT_NAME_SIZE 24 /* "log-" + 16 hex digits + NUL, rounded up */

struct log_record_header {
    uint8_t type;
    uint32_t length;
    uint64_t term;
    uint64_t index;
    uint32_t payload_crc;
};

struct log_snapshot_header {
    uint64_t index;
    uint64_t term;
    uint32_t config_len;
    uint64_t data_len;
    uint32_t body_crc;
};

void log_fmt_segment_header_encode(uint8_t out[LOG_SEGMENT_HEADER_SIZE], uint64_t first_index);
int log_fmt_segment_header_decode(const uint8_t *in, size_t len, uint64_t *first_index_out);

void log_fmt_record_header_encode(uint8_t out[LOG_RECORD_HEADER_SIZE],
                                  const struct log_record_header *h);
int log_fmt_record_header_decode(const uint8_t *in, size_t len, struct log_record_header *out);

/* Bytes a record with `length` payload bytes takes: header, payload and end byte. */
static inline uint64_t log_fmt_record_size(uint32_t length)
{
    return LOG_RECORD_HEADER_SIZE + (uint64_t)length + 1;
}

/* The metadata file: what a node must not forget besides its entries. */
struct log_meta {
    uint64_t term;
    uint64_t vote;         /* 0 = nobody */
    uint64_t vote_barrier; /* 0, or the index a damaged log must be repaired past */
};

void log_fmt_meta_encode(uint8_t out[LOG_META_SIZE], const struct log_meta *m);
int log_fmt_meta_decode(const uint8_t *in, size_t len, struct log_meta *out);

void log_fmt_snapshot_header_encode(uint8_t out[LOG_SNAPSHOT_HEADER_SIZE],
                                    const struct log_snapshot_header *h);
int log_fmt_snapshot_header_decode(const uint8_t *in, size_t len, struct log_snapshot_header *out);

/* Segment file names: formats "log-%016llx"; parses it back (false when name is not
 * exactly a segment name). */
void log_fmt_segment_name(char out[LOG_SEGMENT_NAME_SIZE], uint64_t first_index);
bool log_fmt_segment_name_parse(const char *name, uint64_t *first_index_out);

#endif
