/* net_udp: one libuv UDP socket for a node's cluster traffic, with batched I/O.
 *
 * Receiving uses recvmmsg through libuv (uv_udp_init_ex with UV_UDP_RECVMMSG): each
 * wake-up hands libuv one buffer of NET_UDP_RECV_BATCH_MAX slots of 64 KiB (libuv's
 * slot size), it reads up to that many datagrams with one system call and calls back
 * once per datagram with UV_UDP_MMSG_CHUNK set, then once more with UV_UDP_MMSG_FREE
 * (nread 0) to say the buffer is free again. The buffer is owned here and reused, so
 * the FREE callback only ends the batch's bookkeeping. Datagrams are handed up as they
 * come (borrowed for the callback) with the sender's address.
 *
 * Sending: net_udp_send first tries uv_udp_try_send (no copy, no request); only when
 * the socket would block, or earlier sends are still queued (to keep the order), the
 * datagram is copied into a uv_udp_send request. At most NET_UDP_SEND_QUEUE_MAX requests
 * wait; past that a datagram is dropped and counted rather than queued without bound:
 * the link layer above retransmits. libuv writes its queue when the socket is writable
 * again (with sendmmsg on Linux, many datagrams per system call).
 *
 * Fault injection for tests (net_udp_inject_faults, drawn from a seeded PRNG): drop a
 * share of received datagrams (counted), and treat a share of sends as if the socket
 * would block, so they take the queued path (loopback sockets never block otherwise).
 * IPv4 only. Depends on base and libuv. */
#ifndef CHORUS_IO_NET_UDP_H
#define CHORUS_IO_NET_UDP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/prng.h"

#define NET_UDP_DATAGRAM_BYTES_MAX 65536 /* also libuv's recvmmsg slot size */
#define NET_UDP_RECV_BATCH_MAX 16        /* datagrams per recvmmsg */
#define NET_UDP_SEND_QUEUE_MAX 1024      /* queued uv_udp_send requests */

typedef void (*net_udp_recv_fn)(void *ctx, const struct sockaddr_in *from, const uint8_t *data,
                                size_t len);

struct net_udp {
    uv_udp_t handle;
    net_udp_recv_fn on_datagram;
    void *ctx;
    uint8_t *recv_buf;            /* owned: NET_UDP_RECV_BATCH_MAX slots, freed on close */
    uint32_t send_queued;         /* uv_udp_send requests in flight */
    uint32_t batch_datagrams;     /* datagrams in the recvmmsg batch being delivered */
    uint32_t loss_ppm;            /* injected receive loss, 0 in production */
    uint32_t would_block_ppm;     /* injected "would block" on send, 0 in production */
    struct prng fault_rng;
    uint64_t datagrams_sent;
    uint64_t datagrams_received;
    uint64_t recv_batches;        /* recvmmsg calls that returned datagrams */
    uint64_t recv_batch_datagrams_max;
    uint64_t sends_queued;        /* datagrams that went through a uv_udp_send request */
    uint64_t send_drops;          /* refused, failed, or over NET_UDP_SEND_QUEUE_MAX */
    uint64_t injected_drops;
};

/* Binds host:port (port 0: any free port) and starts receiving. u must stay put until
 * the loop has finished closing it. 0 or a libuv error. */
int net_udp_open(struct net_udp *u, uv_loop_t *loop, const char *host, uint16_t port,
                 net_udp_recv_fn on_datagram, void *ctx);
/* The bound port (host order), or 0 when unknown. */
uint16_t net_udp_port(const struct net_udp *u);
/* True when libuv reads this socket with recvmmsg. */
bool net_udp_batched_receive(const struct net_udp *u);
/* Sends one datagram to `to` (data is copied when it has to wait); drops are counted,
 * never fatal. */
void net_udp_send(struct net_udp *u, const struct sockaddr_in *to, const uint8_t *data, size_t len);
/* Drops loss_ppm / 1,000,000 of received datagrams and queues would_block_ppm / 1,000,000
 * of sends as if the socket would block, drawn from seed (tests). */
void net_udp_inject_faults(struct net_udp *u, uint32_t loss_ppm, uint32_t would_block_ppm,
                           uint64_t seed);
/* Stops receiving and closes the handle; the receive buffer and queued sends are freed
 * as the loop finishes the close. */
void net_udp_close(struct net_udp *u);

#endif
