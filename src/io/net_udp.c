/* net_udp: the libuv UDP glue; see net_udp.h. */
#include "io/net_udp.h"

#include <string.h>

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    struct net_udp *u = h->data;
    b->base = (char *)u->recv_buf;
    b->len = sizeof u->recv_buf;
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *b, const struct sockaddr *addr,
                    unsigned flags)
{
    struct net_udp *u = h->data;
    if (nread <= 0 || addr == NULL || addr->sa_family != AF_INET || (flags & UV_UDP_PARTIAL)) {
        return; /* nothing, an error, or a truncated datagram: the link layer retransmits */
    }
    u->datagrams_received++;
    u->on_datagram(u->ctx, (const struct sockaddr_in *)addr, (const uint8_t *)b->base, (size_t)nread);
}

int net_udp_open(struct net_udp *u, uv_loop_t *loop, const char *host, uint16_t port,
                 net_udp_recv_fn on_datagram, void *ctx)
{
    memset(&u->handle, 0, sizeof u->handle);
    u->on_datagram = on_datagram;
    u->ctx = ctx;
    struct sockaddr_in addr;
    int rc = uv_ip4_addr(host, port, &addr);
    if (rc == 0) {
        rc = uv_udp_init(loop, &u->handle);
    }
    if (rc != 0) {
        return rc;
    }
    u->handle.data = u;
    rc = uv_udp_bind(&u->handle, (const struct sockaddr *)&addr, 0);
    if (rc == 0) {
        rc = uv_udp_recv_start(&u->handle, on_alloc, on_recv);
    }
    return rc;
}

void net_udp_send(struct net_udp *u, const struct sockaddr_in *to, const uint8_t *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int rc = uv_udp_try_send(&u->handle, &b, 1, (const struct sockaddr *)to);
    if (rc < 0) {
        u->send_drops++;
    } else {
        u->datagrams_sent++;
    }
}

void net_udp_close(struct net_udp *u)
{
    if (!uv_is_closing((uv_handle_t *)&u->handle)) {
        uv_udp_recv_stop(&u->handle);
        uv_close((uv_handle_t *)&u->handle, NULL);
    }
}
