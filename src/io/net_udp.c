/* net_udp: the libuv UDP glue, receiving with recvmmsg and sending with try_send first;
 * see net_udp.h. */
#include "io/net_udp.h"

#include <stdlib.h>
#include <string.h>

#define RECV_BUF_BYTES ((size_t)NET_UDP_RECV_BATCH_MAX * NET_UDP_DATAGRAM_BYTES_MAX)

/* A datagram that had to wait: the request and a copy of the bytes, freed when sent. */
struct send_request {
    uv_udp_send_t req;
    struct net_udp *udp;
    size_t len;
    uint8_t data[];
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    struct net_udp *u = h->data;
    b->base = (char *)u->recv_buf;
    b->len = RECV_BUF_BYTES;
}

static void end_batch(struct net_udp *u)
{
    if (u->batch_datagrams > 0) {
        u->recv_batches++;
        if (u->batch_datagrams > u->recv_batch_datagrams_max) {
            u->recv_batch_datagrams_max = u->batch_datagrams;
        }
    }
    u->batch_datagrams = 0;
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *b, const struct sockaddr *addr,
                    unsigned flags)
{
    struct net_udp *u = h->data;
    if (flags & UV_UDP_MMSG_FREE) {
        end_batch(u); /* the buffer is ours and reused: nothing to free */
        return;
    }
    if (nread <= 0 || addr == NULL || addr->sa_family != AF_INET || (flags & UV_UDP_PARTIAL)) {
        return; /* nothing, an error, or a truncated datagram: the link layer retransmits */
    }
    u->batch_datagrams++;
    if (!(flags & UV_UDP_MMSG_CHUNK)) {
        end_batch(u); /* a single recvmsg: a batch of one */
    }
    if (u->loss_ppm > 0 && prng_chance(&u->fault_rng, u->loss_ppm)) {
        u->injected_drops++;
        return;
    }
    u->datagrams_received++;
    u->on_datagram(u->ctx, (const struct sockaddr_in *)addr, (const uint8_t *)b->base, (size_t)nread);
}

int net_udp_open(struct net_udp *u, uv_loop_t *loop, const char *host, uint16_t port,
                 net_udp_recv_fn on_datagram, void *ctx)
{
    memset(u, 0, sizeof *u);
    u->on_datagram = on_datagram;
    u->ctx = ctx;
    struct sockaddr_in addr;
    int rc = uv_ip4_addr(host, port, &addr);
    if (rc != 0) {
        return rc;
    }
    u->recv_buf = malloc(RECV_BUF_BYTES);
    if (u->recv_buf == NULL) {
        return UV_ENOMEM;
    }
    rc = uv_udp_init_ex(loop, &u->handle, AF_INET | UV_UDP_RECVMMSG);
    if (rc != 0) {
        free(u->recv_buf);
        u->recv_buf = NULL;
        return rc;
    }
    u->handle.data = u;
    rc = uv_udp_bind(&u->handle, (const struct sockaddr *)&addr, 0);
    if (rc == 0) {
        rc = uv_udp_recv_start(&u->handle, on_alloc, on_recv);
    }
    return rc;
}

uint16_t net_udp_port(const struct net_udp *u)
{
    struct sockaddr_in addr;
    int len = sizeof addr;
    if (uv_udp_getsockname(&u->handle, (struct sockaddr *)&addr, &len) != 0) {
        return 0;
    }
    return ntohs(addr.sin_port);
}

bool net_udp_batched_receive(const struct net_udp *u)
{
    return uv_udp_using_recvmmsg(&u->handle) == 1;
}

static void on_sent(uv_udp_send_t *req, int status)
{
    struct send_request *s = (struct send_request *)req;
    struct net_udp *u = s->udp;
    u->send_queued--;
    if (status < 0) {
        u->send_drops++; /* includes UV_ECANCELED when the handle closes */
    } else {
        u->datagrams_sent++;
    }
    free(s);
}

static void send_queued(struct net_udp *u, const struct sockaddr_in *to, const uint8_t *data,
                        size_t len)
{
    struct send_request *s = NULL;
    if (u->send_queued < NET_UDP_SEND_QUEUE_MAX) {
        s = malloc(sizeof *s + len);
    }
    if (s == NULL) {
        u->send_drops++;
        return;
    }
    s->udp = u;
    s->len = len;
    memcpy(s->data, data, len);
    uv_buf_t b = uv_buf_init((char *)s->data, (unsigned)len);
    if (uv_udp_send(&s->req, &u->handle, &b, 1, (const struct sockaddr *)to, on_sent) != 0) {
        u->send_drops++;
        free(s);
        return;
    }
    u->send_queued++;
    u->sends_queued++;
}

void net_udp_send(struct net_udp *u, const struct sockaddr_in *to, const uint8_t *data, size_t len)
{
    bool blocked = u->would_block_ppm > 0 && prng_chance(&u->fault_rng, u->would_block_ppm);
    if (u->send_queued == 0 && !blocked) {
        uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
        int rc = uv_udp_try_send(&u->handle, &b, 1, (const struct sockaddr *)to);
        if (rc >= 0) {
            u->datagrams_sent++;
            return;
        }
        if (rc != UV_EAGAIN && rc != UV_ENOBUFS) {
            u->send_drops++; /* unreachable, refused, too large: not worth a queue */
            return;
        }
    }
    send_queued(u, to, data, len);
}

void net_udp_inject_faults(struct net_udp *u, uint32_t loss_ppm, uint32_t would_block_ppm,
                           uint64_t seed)
{
    u->loss_ppm = loss_ppm;
    u->would_block_ppm = would_block_ppm;
    prng_seed(&u->fault_rng, seed);
}

static void on_closed(uv_handle_t *h)
{
    struct net_udp *u = h->data;
    free(u->recv_buf);
    u->recv_buf = NULL;
}

void net_udp_close(struct net_udp *u)
{
    if (u->recv_buf != NULL && !uv_is_closing((uv_handle_t *)&u->handle)) {
        uv_udp_recv_stop(&u->handle);
        uv_close((uv_handle_t *)&u->handle, on_closed);
    }
}
