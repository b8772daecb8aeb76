/* libFuzzer target: arbitrary datagrams into a link, in plain and sealed configurations.
 *
 * Input: one mode byte, then records of (u16 length, bytes). Mode bit 0 seals the
 * channel; bit 1 wraps each record into a well-formed frame addressed to the link (plain:
 * correct header and CRC around the record as payload; sealed: the first 16 bytes are
 * the clear prefix and the rest is sealed with the cluster key), so the fuzzer explores
 * the link body and the state machine rather than the frame checksum; bit 2 skips the
 * handshake. Whatever arrives, the link must not crash, must keep its invariants, and
 * must keep answering its real peer. */
#include <sodium.h>

#include "fuzz_link_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RECORD_SIZE_MAX 2048

static void frame_up(const uint8_t *rec, size_t len, bool sealed, struct buf *out)
{
    struct frame_header h = {0};
    h.flags = sealed ? FRAME_FLAG_SEALED : 0;
    h.kind = FRAME_KIND_LINK;
    h.cluster_id = FUZZ_CLUSTER;
    h.from = FUZZ_PEER_ID;
    h.to = FUZZ_SELF_ID;
    if (!sealed || len < LINK_PREFIX_SIZE) {
        ASSERT(frame_encode(out, &h, rec, len) == 0);
        return;
    }
    size_t body_len = len - LINK_PREFIX_SIZE;
    size_t payload_len = len + LINK_TAG_SIZE;
    uint8_t *p = buf_extend(out, FRAME_HEADER_SIZE + payload_len);
    ASSERT(p != NULL);
    uint8_t *payload = p + FRAME_HEADER_SIZE;
    memcpy(payload, rec, len);
    frame_encode_header(p, &h, payload, payload_len);
    uint8_t nonce[24];
    le_store_u32(nonce, h.from);
    le_store_u32(nonce + 4, h.to);
    memcpy(nonce + 8, rec, 16); /* src_incarnation, counter */
    uint8_t *body = payload + LINK_PREFIX_SIZE;
    crypto_aead_xchacha20poly1305_ietf_encrypt_detached(body, body + body_len, NULL, body,
                                                        body_len, p, 28, NULL, nonce, fuzz_key);
    frame_encode_header(p, &h, payload, payload_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    bool sealed = (data[0] & 1) != 0, wrap = (data[0] & 2) != 0, handshake = (data[0] & 4) == 0;
    struct link *self = fuzz_link(FUZZ_SELF_ID, FUZZ_PEER_ID, FUZZ_SELF_INC, sealed);
    struct link *peer = fuzz_link(FUZZ_PEER_ID, FUZZ_SELF_ID, FUZZ_PEER_INC, sealed);
    struct buf b, frame;
    buf_init(&b, 0);
    buf_init(&frame, 0);
    uint64_t now = 1000 * FUZZ_MS;
    if (handshake) {
        fuzz_handshake(self, peer, &now, &b);
    }
    size_t pos = 1;
    while (pos + 2 <= size) {
        size_t len = MIN((size_t)(le_load_u16(data + pos) % RECORD_SIZE_MAX), size - pos - 2);
        const uint8_t *rec = data + pos + 2;
        pos += 2 + len;
        buf_reset(&frame);
        if (wrap) {
            frame_up(rec, len, sealed, &frame);
        } else if (len != 0) {
            ASSERT(buf_put(&frame, rec, len) == 0);
        }
        link_on_datagram(self, now, frame.data, frame.len);
        link_check_invariants(self);
        now += FUZZ_MS;
        link_tick(self, now);
        fuzz_pump(self, peer, now, &b);
        fuzz_pump(peer, self, now, &b);
    }
    /* Time passes: timers fire and whatever is owed goes out without trouble. */
    for (int i = 0; i < 8; i++) {
        now = MAX(now, MIN(link_next_timeout_ns(self), now + 3000 * FUZZ_MS));
        link_tick(self, now);
        link_tick(peer, now);
        fuzz_pump(self, peer, now, &b);
        fuzz_pump(peer, self, now, &b);
    }
    buf_free(&b);
    buf_free(&frame);
    link_destroy(self);
    link_destroy(peer);
    return 0;
}
