/* envelope: the byte format of one RPC message, and its checked decoder.
 *
 * An envelope is a packed chorus.RpcEnvelope (proto/chorus.proto): a version and exactly
 * one of a request (client id, call id, service and method names, the time budget left,
 * the attempt number, the method's packed input) or a reply (client id, call id, a
 * chorus.RpcStatus, a detail text, the method's packed output). Envelopes travel inside
 * something that already carries a length and a CRC32C or AEAD tag (a link message or a
 * frame), so they carry neither themselves.
 *
 * Validity: the decoder accepts an envelope only when it unpacks, its version is
 * RPC_ENVELOPE_VERSION, it holds a request or a reply, no message in it carries a field
 * the IDL does not define (a new field means a new version), ids are non-zero, names are
 * non-empty and within RPC_NAME_BYTES_MAX, the detail within RPC_DETAIL_BYTES_MAX, the
 * payload within RPC_PAYLOAD_BYTES_MAX and a reply's status is a known RpcStatus.
 * Anything else is an error code the caller counts; nothing is recovered from a bad
 * envelope. Unpacking goes through an arena with a hard limit, so hostile bytes cannot
 * make the decoder allocate without bound. Pure; depends on base and wire. */
#ifndef CHORUS_RPC_ENVELOPE_H
#define CHORUS_RPC_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "proto/chorus.pb-c.h"
#include "wire/arena.h"

#define RPC_ENVELOPE_VERSION 1
#define RPC_NAME_BYTES_MAX 128
#define RPC_DETAIL_BYTES_MAX 512
#define RPC_PAYLOAD_BYTES_MAX (1u << 20)
/* An envelope is its payload plus small fields; anything larger is rejected unread. */
#define RPC_ENVELOPE_BYTES_MAX (RPC_PAYLOAD_BYTES_MAX + 4096u)

/* Owns the arena decoded envelopes live in. One decoder decodes one envelope at a time:
 * the previous result is invalid after the next decode. */
struct rpc_envelope_decoder {
    struct arena arena;
};

void rpc_envelope_decoder_init(struct rpc_envelope_decoder *d);
void rpc_envelope_decoder_free(struct rpc_envelope_decoder *d);

/* Decodes bytes[0..len) (borrowed for the call). Returns 0 and *out (owned by the
 * decoder, valid until its next decode or free), ERR_TOO_LARGE, ERR_MALFORMED or
 * ERR_VERSION. */
int rpc_envelope_decode(struct rpc_envelope_decoder *d, const void *bytes, size_t len,
                        const Chorus__RpcEnvelope **out);

/* Appends the packed envelope holding req (or reply) to out. The caller keeps its
 * message. Returns 0, ERR_TOO_LARGE (over RPC_ENVELOPE_BYTES_MAX) or ERR_NOMEM. */
int rpc_envelope_encode_request(struct buf *out, const Chorus__RpcRequest *req);
int rpc_envelope_encode_reply(struct buf *out, const Chorus__RpcReply *reply);

/* Packs any message into out (appended). 0, ERR_TOO_LARGE or ERR_NOMEM. */
int rpc_pack_message(struct buf *out, const ProtobufCMessage *msg, size_t len_max);

/* The IDL name of a status ("RPC_OK", ...), or "RPC_?" for an unknown value. */
const char *rpc_status_name(int status);

#endif
