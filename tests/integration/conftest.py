"""Fixtures for integration tests: real chorus-server processes on 127.0.0.1 with free
ports and temporary data directories. Every process is stopped by PID in a finalizer."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest
import redis

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER = os.environ.get("CHORUS_SERVER", os.path.join(ROOT, "build", "chorus-server"))


_handed_out = set()


def free_port(kind):
    """A port the kernel says is free, never one this session already handed out."""
    while True:
        s = socket.socket(socket.AF_INET, kind)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _handed_out:
            _handed_out.add(port)
            return port


class Node:
    def __init__(self, cluster, node_id):
        self.cluster = cluster
        self.id = node_id
        self.port = free_port(socket.SOCK_STREAM)
        self.cluster_port = free_port(socket.SOCK_DGRAM)
        self.admin_port = free_port(socket.SOCK_STREAM)
        self.dir = os.path.join(cluster.tmp, "n%d" % node_id)
        self.proc = None
        self.extra_args = list(cluster.extra_args)  # more "--flag value" pairs for this node
        self.peers = None  # --peers for this node when not the cluster's (a joining node)

    def start(self):
        args = [SERVER, "--id", str(self.id), "--dir", self.dir, "--port", str(self.port),
                "--cluster-port", str(self.cluster_port), "--admin-port", str(self.admin_port),
                "--peers", self.peers or self.cluster.peers, "--election-timeout-ms", "300",
                "--heartbeat-ms", "50", "--request-timeout-ms", "3000"] + self.extra_args
        log = open(os.path.join(self.cluster.tmp, "n%d.log" % self.id), "ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=log)
        log.close()

    def kill(self, sig=signal.SIGKILL):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait(timeout=10)
        self.proc = None

    def client(self, **kw):
        kw.setdefault("socket_timeout", 5)
        return redis.Redis(host="127.0.0.1", port=self.port, **kw)

    def status(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/status" % self.admin_port, timeout=2) as r:
            return json.loads(r.read())


class Cluster:
    def __init__(self, tmp, size, extra_args=()):
        self.tmp = str(tmp)
        self.extra_args = extra_args
        self.nodes = []
        ids = range(1, size + 1)
        self.nodes = [Node(self, i) for i in ids]
        self.peers = ",".join("%d@127.0.0.1:%d" % (n.id, n.cluster_port) for n in self.nodes)

    def start(self):
        for n in self.nodes:
            n.start()

    def stop(self):
        for n in self.nodes:
            n.kill()

    def leader(self, timeout_s=10, exclude=None):
        """The node every live node agrees leads, waiting up to timeout_s."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            seen = set()
            for n in self.nodes:
                if n.proc is None or n is exclude:
                    continue
                try:
                    st = n.status()
                except OSError:
                    seen.add(None)
                    continue
                seen.add(st["leader"] if st["leader"] != 0 else None)
            if len(seen) == 1 and None not in seen:
                lid = seen.pop()
                node = self.nodes[lid - 1]
                if node.proc is not None and node is not exclude:
                    return node
            time.sleep(0.05)
        raise AssertionError("no leader agreed within %.1f s" % timeout_s)


def retry(fn, timeout_s=10):
    """Runs fn until it stops raising a retryable Redis error (TRYAGAIN, connection)."""
    deadline = time.time() + timeout_s
    while True:
        try:
            return fn()
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as e:
            if isinstance(e, redis.ResponseError) and "TRYAGAIN" not in str(e):
                raise
            if time.time() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, 3)
    c.start()
    yield c
    c.stop()
