"""Exactly-once writes through client sessions (docs/server.md "Client sessions").

Several clients INCR their own counter, through the leader and through followers, while
the leader is killed with SIGKILL or hands over with CHORUS TRANSFER. Every INCR that got
a reply was applied exactly once: the final counter equals the replies, widened only by
the writes whose outcome the client could not learn (an "outcome unknown" error, or a
dropped connection to the killed node)."""
import signal
import threading
import time
import urllib.request

import redis

from conftest import retry

CLIENTS_PER_NODE = 2


class Counter(threading.Thread):
    def __init__(self, cluster, key, node):
        super().__init__(daemon=True)
        self.cluster = cluster
        self.key = key
        self.node = node
        self.acked = 0
        self.unknown = 0      # "-TIMEOUT outcome unknown" replies
        self.dropped = 0      # INCRs in flight when the connection broke (outcome unknown)
        self.refused = 0      # TRYAGAIN: not applied
        self.stop = threading.Event()

    def run(self):
        c = self.node.client(socket_timeout=10)
        while not self.stop.is_set():
            try:
                c.incr(self.key)
                self.acked += 1
            except redis.ResponseError as e:
                if "outcome unknown" in str(e):
                    self.unknown += 1
                elif "TRYAGAIN" in str(e):
                    self.refused += 1
                    time.sleep(0.01)
                else:
                    raise
            except (redis.ConnectionError, redis.TimeoutError):
                self.dropped += 1
                live = [n for n in self.cluster.nodes if n.proc is not None]
                self.node = live[(live.index(self.node) + 1) % len(live)
                                 if self.node in live else 0]
                c = self.node.client(socket_timeout=10)
                time.sleep(0.05)


def run_clients(cluster, disrupt, settle_s=2.5):
    leader = cluster.leader()
    retry(lambda: leader.client().set("warm", "1"))
    clients = []
    for n in cluster.nodes:
        for k in range(CLIENTS_PER_NODE):
            clients.append(Counter(cluster, "ctr:%d:%d" % (n.id, k), n))
    for t in clients:
        t.start()
    time.sleep(1.0)
    disrupt(leader)
    time.sleep(settle_s)
    for t in clients:
        t.stop.set()
    for t in clients:
        t.join(timeout=15)
        assert not t.is_alive()
    new_leader = cluster.leader(exclude=leader if leader.proc is None else None)
    r = new_leader.client()
    totals = {"acked": 0, "unknown": 0, "dropped": 0, "refused": 0}
    for t in clients:
        value = int(retry(lambda: r.get(t.key)) or 0)
        for k in totals:
            totals[k] += getattr(t, k)
        print("%s via node %d: value %d acked %d unknown %d dropped %d refused %d" %
              (t.key, t.node.id, value, t.acked, t.unknown, t.dropped, t.refused))
        assert t.acked > 0
        # Never applied twice, no acknowledged write lost.
        assert t.acked <= value <= t.acked + t.unknown + t.dropped, t.key
    print("totals:", totals)
    return totals


def test_sessions_exactly_once_when_the_leader_is_killed(cluster):
    totals = run_clients(cluster, lambda leader: leader.kill(signal.SIGKILL))
    # Writes through followers are re-submitted to the new leader; only the connections
    # to the killed node may leave outcomes unknown.
    assert totals["unknown"] <= 1, totals


def test_sessions_exactly_once_across_a_transfer(cluster):
    def transfer(leader):
        target = next(n for n in cluster.nodes if n is not leader)
        assert leader.client().execute_command("CHORUS", "TRANSFER", str(target.id)) == b"OK"

    totals = run_clients(cluster, transfer, settle_s=1.5)
    assert totals["unknown"] == 0 and totals["dropped"] == 0, totals


def test_session_keeps_pipelined_writes_in_order_and_runs_transactions(cluster):
    leader = cluster.leader()
    follower = next(n for n in cluster.nodes if n is not leader)
    for node in (leader, follower):
        c = node.client()
        p = c.pipeline(transaction=False)
        for _ in range(50):
            p.incr("pipe:%d" % node.id)
        # The connection's first writes wait for its session and keep their order.
        assert retry(p.execute) == list(range(1, 51))
        assert retry(lambda: c.get("pipe:%d" % node.id)) == b"50"
    c = leader.client()
    p = c.pipeline(transaction=True)  # EXEC first: sessionless while the session registers
    p.incr("tx")
    p.incr("tx")
    assert retry(p.execute) == [1, 2]
    p = c.pipeline(transaction=True)  # then on the session, with one seq
    p.incr("tx")
    p.incr("tx")
    assert retry(p.execute) == [3, 4]
    m = leader.client().execute_command("INFO")  # the server still answers
    assert m
    metrics = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % leader.admin_port,
                                     timeout=2).read().decode()
    assert "chorus_sessions_registered_total" in metrics


class Pusher(threading.Thread):
    """Pipelines batches of RPUSH of increasing numbers to its own list through a follower."""

    def __init__(self, node, key):
        super().__init__(daemon=True)
        self.node = node
        self.key = key
        self.acked = []
        self.unknown = 0
        self.stop = threading.Event()

    def run(self):
        c = self.node.client(socket_timeout=10)
        n = 0
        while not self.stop.is_set():
            p = c.pipeline(transaction=False)
            batch = list(range(n, n + 8))
            n += 8
            for v in batch:
                p.rpush(self.key, v)
            for v, r in zip(batch, p.execute(raise_on_error=False)):
                if isinstance(r, int):
                    self.acked.append(v)
                elif "outcome unknown" in str(r):
                    self.unknown += 1
                else:
                    assert "TRYAGAIN" in str(r), r


def test_pipelined_writes_through_followers_apply_once_and_in_order(cluster):
    leader = cluster.leader()
    followers = [n for n in cluster.nodes if n is not leader]
    pushers = [Pusher(f, "list:%d:%d" % (f.id, k)) for f in followers for k in range(2)]
    for t in pushers:
        t.start()
    time.sleep(1.0)
    leader.kill(signal.SIGKILL)
    time.sleep(2.0)
    for t in pushers:
        t.stop.set()
    for t in pushers:
        t.join(timeout=15)
        assert not t.is_alive()
    r = cluster.leader(exclude=leader).client()
    for t in pushers:
        got = [int(v) for v in retry(lambda: r.lrange(t.key, 0, -1))]
        print("%s: %d acked, %d unknown, %d in the list" % (t.key, len(t.acked), t.unknown,
                                                           len(got)))
        assert len(got) == len(set(got)), "applied twice"
        assert got == sorted(got), "pipelined writes out of order"
        assert set(t.acked) <= set(got), "acknowledged write lost"
        assert len(got) <= len(t.acked) + t.unknown
        assert t.unknown == 0
