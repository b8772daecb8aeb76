/* admin_seal: sealed Admin RPC frames; the format and its rules are in admin_seal.h. */
#include "server/admin_seal.h"

#include <sodium.h>
#include <string.h>

#include "base/errors.h"

_Static_assert(ADMIN_SEAL_KEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");
_Static_assert(ADMIN_SEAL_NONCE_BYTES == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce");
_Static_assert(ADMIN_SEAL_TAG_BYTES == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag size");

#define ADMIN_SEAL_CONTEXT "chorus admin rpc v1"
#define ADMIN_SEAL_AD_BYTES 28 /* the frame header up to, not including, its CRC */

int admin_seal_init(struct admin_seal *a, const uint8_t *cluster_key)
{
    memset(a, 0, sizeof *a);
    buf_init(&a->scratch, 0);
    if (cluster_key == NULL) {
        return 0;
    }
    if (sodium_init() < 0) {
        return ERR_IO;
    }
    a->sealed = true;
    crypto_generichash(a->key, sizeof a->key, (const uint8_t *)ADMIN_SEAL_CONTEXT,
                       strlen(ADMIN_SEAL_CONTEXT), cluster_key, ADMIN_SEAL_KEY_BYTES);
    return 0;
}

void admin_seal_free(struct admin_seal *a)
{
    sodium_memzero(a->key, sizeof a->key);
    buf_free(&a->scratch);
}

/* The associated data: the header as it will be encoded for a payload of payload_len. */
static void header_ad(const struct frame_header *h, size_t payload_len, uint8_t ad[FRAME_HEADER_SIZE])
{
    frame_encode_header(ad, h, "", 0);
    /* frame_encode_header wrote length 0 and a CRC over nothing: patch the length, the
     * CRC (bytes 28..31) is not part of the associated data. */
    uint32_t n = (uint32_t)payload_len;
    for (int i = 0; i < 4; i++) {
        ad[24 + i] = (uint8_t)(n >> (8 * i));
    }
}

int admin_seal_frame(struct admin_seal *a, struct buf *out, struct frame_header h,
                     const uint8_t *envelope, size_t envelope_len, uint64_t now_ms)
{
    if (!a->sealed) {
        h.flags = 0;
        return frame_encode(out, &h, envelope, envelope_len);
    }
    h.flags = FRAME_FLAG_SEALED;
    size_t plain_len = 8 + envelope_len;
    size_t payload_len = ADMIN_SEAL_NONCE_BYTES + plain_len + ADMIN_SEAL_TAG_BYTES;
    if (payload_len > FRAME_PAYLOAD_SIZE_MAX) {
        return ERR_TOO_LARGE;
    }
    buf_reset(&a->scratch);
    buf_reserve(&a->scratch, payload_len);
    uint8_t nonce[ADMIN_SEAL_NONCE_BYTES];
    randombytes_buf(nonce, sizeof nonce);
    buf_put(&a->scratch, nonce, sizeof nonce);
    buf_put_u64(&a->scratch, now_ms);
    buf_put(&a->scratch, envelope, envelope_len);
    buf_extend(&a->scratch, ADMIN_SEAL_TAG_BYTES);
    if (a->scratch.failed) {
        return ERR_NOMEM;
    }
    uint8_t ad[FRAME_HEADER_SIZE];
    header_ad(&h, payload_len, ad);
    uint8_t *plain = a->scratch.data + ADMIN_SEAL_NONCE_BYTES;
    crypto_aead_xchacha20poly1305_ietf_encrypt_detached(plain, plain + plain_len, NULL, plain,
                                                        plain_len, ad, ADMIN_SEAL_AD_BYTES, NULL,
                                                        nonce, a->key);
    return frame_encode(out, &h, a->scratch.data, payload_len);
}

int admin_seal_open(struct admin_seal *a, const uint8_t *data, size_t len, uint64_t now_ms,
                    bool check_clock, struct frame_header *h, const uint8_t **envelope,
                    size_t *envelope_len)
{
    const uint8_t *payload = NULL;
    long n = frame_decode(data, len, 0, h, &payload);
    if (n < 0) {
        return (int)n;
    }
    if ((size_t)n != len) {
        return ERR_MALFORMED;
    }
    bool sealed = (h->flags & FRAME_FLAG_SEALED) != 0;
    if (sealed != a->sealed) {
        return ERR_AUTH;
    }
    if (!a->sealed) {
        *envelope = payload;
        *envelope_len = h->length;
        return 0;
    }
    if (h->length < ADMIN_SEAL_OVERHEAD_BYTES) {
        return ERR_AUTH;
    }
    size_t plain_len = h->length - ADMIN_SEAL_NONCE_BYTES - ADMIN_SEAL_TAG_BYTES;
    buf_reset(&a->scratch);
    if (buf_extend(&a->scratch, plain_len) == NULL) {
        return ERR_NOMEM;
    }
    uint8_t ad[FRAME_HEADER_SIZE];
    header_ad(h, h->length, ad);
    const uint8_t *cipher = payload + ADMIN_SEAL_NONCE_BYTES;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
            a->scratch.data, NULL, cipher, plain_len, cipher + plain_len, ad, ADMIN_SEAL_AD_BYTES,
            payload, a->key) != 0) {
        return ERR_AUTH;
    }
    struct buf_reader r = buf_reader_make(a->scratch.data, plain_len);
    uint64_t sent_ms = buf_get_u64(&r);
    uint64_t skew = sent_ms > now_ms ? sent_ms - now_ms : now_ms - sent_ms;
    if (check_clock && skew > ADMIN_SEAL_SKEW_MS_MAX) {
        return ERR_AUTH;
    }
    *envelope = a->scratch.data + 8;
    *envelope_len = plain_len - 8;
    return 0;
}
