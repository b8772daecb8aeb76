/* libFuzzer target: the receiver's reorder buffer and reassembly. The input is a list of
 * fragment descriptions that the target encodes as well-formed DATA datagrams on the
 * live channel, so every one reaches reassembly: sequence numbers anywhere around the
 * window, fragments that agree or disagree with their message, duplicates, gaps.
 *
 * Record: u8 seq_delta (from the receiver's next expected sequence number; with its top
 * bit set the record is coalesced into the previous record's datagram), u16 msg_len, u16
 * frag_offset, u8 frag_len, then frag_len bytes of data (as many as remain).
 * The receiver must keep its invariants, deliver only messages within the size limit,
 * and hold no more out-of-order bytes than its bound. */
#include "fuzz_link_common.h"
#include "link/link_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void make_fragment(struct link_datagram *d, const uint8_t *rec, const uint8_t *bytes,
                          size_t avail, uint64_t rcv_nxt, uint64_t counter)
{
    memset(d, 0, sizeof *d);
    d->from = FUZZ_PEER_ID;
    d->to = FUZZ_SELF_ID;
    d->src_incarnation = FUZZ_PEER_INC;
    d->dst_incarnation = FUZZ_SELF_INC;
    d->counter = counter;
    d->type = LINK_DGRAM_DATA;
    d->window_fragments = 32;
    d->ack_cum = 1;
    d->frags_count = 1;
    struct link_frag *f = &d->frags[0];
    f->seq = rcv_nxt + rec[0] % 40;
    f->msg_len = le_load_u16(rec + 1) % 16385;
    f->offset = f->msg_len == 0 ? 0 : le_load_u16(rec + 3) % f->msg_len;
    uint32_t len = MIN((uint32_t)rec[5], f->msg_len - f->offset);
    len = MIN(len, (uint32_t)avail);
    if (len == 0 && f->msg_len != 0) {
        len = 1;
        bytes = rec; /* any byte will do */
    }
    f->len = len;
    f->data = bytes;
}

/* Appends the record's fragment to d as one more coalesced record, when it fits. */
static void coalesce(struct link_datagram *d, const struct link_datagram *next)
{
    size_t used = 0;
    for (uint32_t i = 0; i < d->frags_count; i++) {
        used += LINK_DATA_HEADER_SIZE + d->frags[i].len;
    }
    if (d->frags_count < LINK_DATAGRAM_FRAGMENTS_MAX &&
        used + LINK_DATA_HEADER_SIZE + next->frags[0].len <= 1024) {
        d->frags[d->frags_count++] = next->frags[0];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct link *self = fuzz_link(FUZZ_SELF_ID, FUZZ_PEER_ID, FUZZ_SELF_INC, false);
    struct link *peer = fuzz_link(FUZZ_PEER_ID, FUZZ_SELF_ID, FUZZ_PEER_INC, false);
    struct buf b;
    buf_init(&b, 0);
    uint64_t now = 1000 * FUZZ_MS;
    fuzz_handshake(self, peer, &now, &b);
    struct link_codec codec = self->codec;
    uint64_t counter = 1000;
    size_t pos = 0;
    while (pos + 6 <= size) {
        const uint8_t *rec = data + pos;
        size_t avail = size - pos - 6;
        static struct link_datagram d, next;
        make_fragment(&d, rec, rec + 6, avail, self->rcv_nxt, counter++);
        pos += 6 + MIN((size_t)rec[5], avail);
        /* A record whose seq_delta has the top bit set rides in the previous record's
         * datagram, as a coalescing sender would put it. */
        while (pos + 6 <= size && (data[pos] & 0x80) != 0) {
            const uint8_t *more = data + pos;
            size_t more_avail = size - pos - 6;
            make_fragment(&next, more, more + 6, more_avail, self->rcv_nxt, counter);
            pos += 6 + MIN((size_t)more[5], more_avail);
            coalesce(&d, &next);
        }
        buf_reset(&b);
        ASSERT(link_datagram_encode(&codec, &d, &b) == 0);
        enum link_drop why = link_on_datagram(self, now, b.data, b.len);
        ASSERT(why == LINK_DROP_NONE || why == LINK_DROP_OUT_OF_WINDOW ||
               why == LINK_DROP_REASSEMBLY_FULL);
        link_check_invariants(self);
        ASSERT(self->reorder_bytes <= self->cfg.reassembly_bytes_max);
        struct link_delivery m;
        while (link_next_delivery(self, &m)) {
            ASSERT(m.len <= self->cfg.message_size_max);
            link_delivery_free(&m);
        }
        now += FUZZ_MS;
    }
    buf_free(&b);
    link_destroy(self);
    link_destroy(peer);
    return 0;
}
