/* Frame header encode/decode and checksum; the byte format is in frame.h. */
#include "wire/frame.h"

#include "base/crc32c.h"
#include "base/errors.h"

static void put_header_fields(uint8_t *p, const struct frame_header *h, uint32_t length)
{
    le_store_u32(p + 0, FRAME_MAGIC);
    p[4] = h->version != 0 ? h->version : FRAME_VERSION;
    p[5] = h->flags;
    le_store_u16(p + 6, h->kind);
    le_store_u64(p + 8, h->cluster_id);
    le_store_u32(p + 16, h->from);
    le_store_u32(p + 20, h->to);
    le_store_u32(p + 24, length);
}

void frame_encode_header(uint8_t out[FRAME_HEADER_SIZE], const struct frame_header *h,
                         const void *payload, size_t payload_len)
{
    put_header_fields(out, h, (uint32_t)payload_len);
    uint32_t crc = crc32c(out, 28);
    crc = crc32c_extend(crc, payload, payload_len);
    le_store_u32(out + 28, crc);
}

int frame_encode(struct buf *out, const struct frame_header *h, const void *payload,
                 size_t payload_len)
{
    if (payload_len > FRAME_PAYLOAD_SIZE_MAX) {
        return ERR_TOO_LARGE;
    }
    uint8_t *p = buf_extend(out, FRAME_HEADER_SIZE + payload_len);
    if (p == NULL) {
        return ERR_NOMEM;
    }
    if (payload_len != 0) {
        memcpy(p + FRAME_HEADER_SIZE, payload, payload_len);
    }
    frame_encode_header(p, h, p + FRAME_HEADER_SIZE, payload_len);
    return 0;
}

uint16_t frame_peek_kind(const void *data, size_t len)
{
    const uint8_t *p = data;
    if (len < FRAME_HEADER_SIZE || le_load_u32(p) != FRAME_MAGIC) {
        return 0;
    }
    return le_load_u16(p + 6);
}

long frame_decode(const void *data, size_t len, uint64_t expect_cluster_id,
                  struct frame_header *h, const uint8_t **payload)
{
    const uint8_t *p = data;
    if (len < FRAME_HEADER_SIZE) {
        return ERR_TRUNCATED;
    }
    if (le_load_u32(p) != FRAME_MAGIC) {
        return ERR_MAGIC;
    }
    if (p[4] != FRAME_VERSION) {
        return ERR_VERSION;
    }
    if ((p[5] & ~FRAME_FLAGS_KNOWN) != 0) {
        return ERR_MALFORMED;
    }
    uint32_t length = le_load_u32(p + 24);
    if (length > FRAME_PAYLOAD_SIZE_MAX) {
        return ERR_TOO_LARGE;
    }
    if (length > len - FRAME_HEADER_SIZE) {
        return ERR_TRUNCATED;
    }
    uint32_t crc = crc32c(p, 28);
    crc = crc32c_extend(crc, p + FRAME_HEADER_SIZE, length);
    if (crc != le_load_u32(p + 28)) {
        return ERR_CHECKSUM;
    }
    h->version = p[4];
    h->flags = p[5];
    h->kind = le_load_u16(p + 6);
    h->cluster_id = le_load_u64(p + 8);
    h->from = le_load_u32(p + 16);
    h->to = le_load_u32(p + 20);
    h->length = length;
    if (expect_cluster_id != 0 && h->cluster_id != expect_cluster_id) {
        return ERR_AUTH;
    }
    *payload = p + FRAME_HEADER_SIZE;
    return (long)(FRAME_HEADER_SIZE + length);
}
