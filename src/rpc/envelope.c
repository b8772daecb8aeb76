/* envelope: packing and checked unpacking of RPC envelopes; see envelope.h. */
#include "rpc/envelope.h"

#include <string.h>

#include "base/errors.h"

/* Arena limits: an envelope of RPC_ENVELOPE_BYTES_MAX bytes unpacks into about as many
 * bytes of fields, plus protobuf-c's structs; four times is a generous ceiling. */
#define DECODER_BLOCK_BYTES (16u * 1024)
#define DECODER_ARENA_BYTES_MAX (4u * RPC_ENVELOPE_BYTES_MAX)

void rpc_envelope_decoder_init(struct rpc_envelope_decoder *d)
{
    arena_init(&d->arena, DECODER_BLOCK_BYTES, DECODER_ARENA_BYTES_MAX);
}

void rpc_envelope_decoder_free(struct rpc_envelope_decoder *d) { arena_free(&d->arena); }

static bool name_valid(const char *name)
{
    size_t len = name == NULL ? 0 : strnlen(name, RPC_NAME_BYTES_MAX + 1);
    return len > 0 && len <= RPC_NAME_BYTES_MAX;
}

static bool request_valid(const Chorus__RpcRequest *r)
{
    return r->client_id != 0 && r->call_id != 0 && r->attempt != 0 && name_valid(r->service) &&
           name_valid(r->method) && r->payload.len <= RPC_PAYLOAD_BYTES_MAX;
}

static bool reply_valid(const Chorus__RpcReply *r)
{
    size_t detail_len = r->detail == NULL ? 0 : strnlen(r->detail, RPC_DETAIL_BYTES_MAX + 1);
    bool known = protobuf_c_enum_descriptor_get_value(&chorus__rpc_status__descriptor,
                                                      (int)r->status) != NULL;
    return r->client_id != 0 && r->call_id != 0 && known && detail_len <= RPC_DETAIL_BYTES_MAX &&
           r->payload.len <= RPC_PAYLOAD_BYTES_MAX &&
           (r->status == CHORUS__RPC_STATUS__RPC_OK || r->payload.len == 0);
}

int rpc_envelope_decode(struct rpc_envelope_decoder *d, const void *bytes, size_t len,
                        const Chorus__RpcEnvelope **out)
{
    if (len > RPC_ENVELOPE_BYTES_MAX) {
        return ERR_TOO_LARGE;
    }
    arena_reset(&d->arena);
    Chorus__RpcEnvelope *e = chorus__rpc_envelope__unpack(&d->arena.allocator, len, bytes);
    if (e == NULL) {
        return ERR_MALFORMED;
    }
    if (e->version != RPC_ENVELOPE_VERSION) {
        return ERR_VERSION;
    }
    /* Version 1 has exactly the fields of the IDL: a newer envelope bumps the version.
     * (protobuf-c would also re-emit unknown fields in a form it may not read back.) */
    bool valid = e->base.n_unknown_fields == 0;
    if (e->body_case == CHORUS__RPC_ENVELOPE__BODY_REQUEST) {
        valid = valid && e->request->base.n_unknown_fields == 0 && request_valid(e->request);
    } else if (e->body_case == CHORUS__RPC_ENVELOPE__BODY_REPLY) {
        valid = valid && e->reply->base.n_unknown_fields == 0 && reply_valid(e->reply);
    } else {
        valid = false;
    }
    if (!valid) {
        return ERR_MALFORMED;
    }
    *out = e;
    return 0;
}

int rpc_pack_message(struct buf *out, const ProtobufCMessage *msg, size_t len_max)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    if (len > len_max) {
        return ERR_TOO_LARGE;
    }
    if (len == 0) {
        return out->failed ? ERR_NOMEM : 0; /* an empty message packs to no bytes */
    }
    uint8_t *at = buf_extend(out, len);
    if (at == NULL) {
        return ERR_NOMEM;
    }
    size_t packed = protobuf_c_message_pack(msg, at);
    return packed == len ? 0 : ERR_MALFORMED;
}

int rpc_envelope_encode_request(struct buf *out, const Chorus__RpcRequest *req)
{
    Chorus__RpcEnvelope e = CHORUS__RPC_ENVELOPE__INIT;
    e.version = RPC_ENVELOPE_VERSION;
    e.body_case = CHORUS__RPC_ENVELOPE__BODY_REQUEST;
    e.request = (Chorus__RpcRequest *)req;
    return rpc_pack_message(out, &e.base, RPC_ENVELOPE_BYTES_MAX);
}

int rpc_envelope_encode_reply(struct buf *out, const Chorus__RpcReply *reply)
{
    Chorus__RpcEnvelope e = CHORUS__RPC_ENVELOPE__INIT;
    e.version = RPC_ENVELOPE_VERSION;
    e.body_case = CHORUS__RPC_ENVELOPE__BODY_REPLY;
    e.reply = (Chorus__RpcReply *)reply;
    return rpc_pack_message(out, &e.base, RPC_ENVELOPE_BYTES_MAX);
}

const char *rpc_status_name(int status)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&chorus__rpc_status__descriptor, status);
    return v == NULL ? "RPC_?" : v->name;
}
