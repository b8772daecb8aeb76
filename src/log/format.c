/* Encoders and decoders for the log's on-disk structures; the byte formats are
 * specified in format.h. Pure functions over caller buffers; depends on base only. */
#include "log/format.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/crc32c.h"
#include "base/errors.h"
#include "log/log.h"

/* Checks the common prefix of the fixed-size headers: at least size bytes, a CRC32C of
 * bytes 0..size-5 in the last four, then magic (u32), version (u16) and size (u16). */
static int fixed_header_check(const uint8_t *in, size_t len, uint32_t magic, uint16_t size)
{
    if (len < size) {
        return ERR_TRUNCATED;
    }
    if (le_load_u32(in + size - 4) != crc32c(in, size - 4u)) {
        return ERR_CHECKSUM;
    }
    if (le_load_u32(in) != magic) {
        return ERR_MAGIC;
    }
    if (le_load_u16(in + 4) != LOG_FMT_VERSION || le_load_u16(in + 6) != size) {
        return ERR_VERSION;
    }
    return 0;
}

static void fixed_header_begin(uint8_t *out, uint32_t magic, uint16_t size)
{
    memset(out, 0, size);
    le_store_u32(out, magic);
    le_store_u16(out + 4, LOG_FMT_VERSION);
    le_store_u16(out + 6, size);
}

void log_fmt_segment_header_encode(uint8_t out[LOG_SEGMENT_HEADER_SIZE], uint64_t first_index)
{
    fixed_header_begin(out, LOG_SEGMENT_MAGIC, LOG_SEGMENT_HEADER_SIZE);
    le_store_u64(out + 8, first_index);
    le_store_u32(out + 28, crc32c(out, 28));
}

int log_fmt_segment_header_decode(const uint8_t *in, size_t len, uint64_t *first_index_out)
{
    int rc = fixed_header_check(in, len, LOG_SEGMENT_MAGIC, LOG_SEGMENT_HEADER_SIZE);
    if (rc != 0) {
        return rc;
    }
    *first_index_out = le_load_u64(in + 8);
    return 0;
}

void log_fmt_record_header_encode(uint8_t out[LOG_RECORD_HEADER_SIZE],
                                  const struct log_record_header *h)
{
    le_store_u16(out, LOG_RECORD_MAGIC);
    out[2] = LOG_FMT_VERSION;
    out[3] = h->type;
    le_store_u32(out + 4, h->length);
    le_store_u64(out + 8, h->term);
    le_store_u64(out + 16, h->index);
    le_store_u32(out + 24, h->payload_crc);
    le_store_u32(out + 28, crc32c(out, 28));
}

int log_fmt_record_header_decode(const uint8_t *in, size_t len, struct log_record_header *out)
{
    if (len < LOG_RECORD_HEADER_SIZE) {
        return ERR_TRUNCATED;
    }
    if (le_load_u32(in + 28) != crc32c(in, 28)) {
        return ERR_CHECKSUM;
    }
    if (le_load_u16(in) != LOG_RECORD_MAGIC) {
        return ERR_MAGIC;
    }
    if (in[2] != LOG_FMT_VERSION) {
        return ERR_VERSION;
    }
    out->type = in[3];
    out->length = le_load_u32(in + 4);
    out->term = le_load_u64(in + 8);
    out->index = le_load_u64(in + 16);
    out->payload_crc = le_load_u32(in + 24);
    if (out->length > LOG_ENTRY_SIZE_MAX) {
        return ERR_TOO_LARGE;
    }
    return 0;
}

void log_fmt_meta_encode(uint8_t out[LOG_META_SIZE], const struct log_meta *m)
{
    fixed_header_begin(out, LOG_META_MAGIC, LOG_META_SIZE);
    le_store_u64(out + 8, m->term);
    le_store_u64(out + 16, m->vote);
    le_store_u64(out + 24, m->vote_barrier);
    le_store_u32(out + 36, crc32c(out, 36));
}

int log_fmt_meta_decode(const uint8_t *in, size_t len, struct log_meta *out)
{
    if (len != LOG_META_SIZE) {
        return ERR_MALFORMED;
    }
    int rc = fixed_header_check(in, len, LOG_META_MAGIC, LOG_META_SIZE);
    if (rc != 0) {
        return rc;
    }
    out->term = le_load_u64(in + 8);
    out->vote = le_load_u64(in + 16);
    out->vote_barrier = le_load_u64(in + 24);
    return 0;
}

void log_fmt_snapshot_header_encode(uint8_t out[LOG_SNAPSHOT_HEADER_SIZE],
                                    const struct log_snapshot_header *h)
{
    fixed_header_begin(out, LOG_SNAPSHOT_MAGIC, LOG_SNAPSHOT_HEADER_SIZE);
    le_store_u64(out + 8, h->index);
    le_store_u64(out + 16, h->term);
    le_store_u32(out + 24, h->config_len);
    le_store_u64(out + 32, h->data_len);
    le_store_u32(out + 40, h->body_crc);
    le_store_u32(out + 44, crc32c(out, 44));
}

int log_fmt_snapshot_header_decode(const uint8_t *in, size_t len, struct log_snapshot_header *out)
{
    int rc = fixed_header_check(in, len, LOG_SNAPSHOT_MAGIC, LOG_SNAPSHOT_HEADER_SIZE);
    if (rc != 0) {
        return rc;
    }
    out->index = le_load_u64(in + 8);
    out->term = le_load_u64(in + 16);
    out->config_len = le_load_u32(in + 24);
    out->data_len = le_load_u64(in + 32);
    out->body_crc = le_load_u32(in + 40);
    if (out->config_len > LOG_SNAPSHOT_CONFIG_SIZE_MAX || out->data_len > LOG_SNAPSHOT_DATA_SIZE_MAX) {
        return ERR_TOO_LARGE;
    }
    return 0;
}

void log_fmt_segment_name(char out[LOG_SEGMENT_NAME_SIZE], uint64_t first_index)
{
    snprintf(out, LOG_SEGMENT_NAME_SIZE, LOG_SEGMENT_PREFIX "%016" PRIx64, first_index);
}

bool log_fmt_segment_name_parse(const char *name, uint64_t *first_index_out)
{
    size_t prefix_len = strlen(LOG_SEGMENT_PREFIX);
    if (strncmp(name, LOG_SEGMENT_PREFIX, prefix_len) != 0 || strlen(name) != prefix_len + 16) {
        return false;
    }
    uint64_t v = 0;
    for (const char *p = name + prefix_len; *p != '\0'; p++) {
        int d;
        if (*p >= '0' && *p <= '9') {
            d = *p - '0';
        } else if (*p >= 'a' && *p <= 'f') {
            d = *p - 'a' + 10;
        } else {
            return false;
        }
        v = (v << 4) | (uint64_t)d;
    }
    *first_index_out = v;
    return true;
}
