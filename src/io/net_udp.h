/* net_udp: one libuv UDP socket for a node's cluster traffic.
 *
 * Datagrams are handed up as they arrive (borrowed for the callback) with the sender's
 * address; sends use uv_udp_try_send, so a full socket buffer drops the datagram (counted)
 * rather than queueing without bound: the link layer above retransmits. IPv4 only.
 * Depends on base and libuv. */
#ifndef CHORUS_IO_NET_UDP_H
#define CHORUS_IO_NET_UDP_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define NET_UDP_DATAGRAM_BYTES_MAX 65536

typedef void (*net_udp_recv_fn)(void *ctx, const struct sockaddr_in *from, const uint8_t *data,
                                size_t len);

struct net_udp {
    uv_udp_t handle;
    net_udp_recv_fn on_datagram;
    void *ctx;
    uint8_t recv_buf[NET_UDP_DATAGRAM_BYTES_MAX];
    uint64_t datagrams_sent;
    uint64_t datagrams_received;
    uint64_t send_drops; /* try_send refused (socket buffer full, unreachable) */
};

/* Binds host:port and starts receiving. u must stay put until closed. 0 or a libuv error. */
int net_udp_open(struct net_udp *u, uv_loop_t *loop, const char *host, uint16_t port,
                 net_udp_recv_fn on_datagram, void *ctx);
/* Sends one datagram (copied by the kernel) to `to`; drops are counted, never fatal. */
void net_udp_send(struct net_udp *u, const struct sockaddr_in *to, const uint8_t *data, size_t len);
/* Stops receiving and closes the handle (the loop finishes the close). */
void net_udp_close(struct net_udp *u);

#endif
