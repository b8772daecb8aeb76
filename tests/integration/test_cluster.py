"""A three-node chorus-server cluster used through real Redis clients."""
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest
import redis

from conftest import SERVER, retry


def test_three_nodes_elect_a_leader_and_serve_on_every_node(cluster):
    cluster.leader()
    for n in cluster.nodes:
        c = n.client()
        k = "k%d" % n.id
        assert retry(lambda: c.set(k, "v%d" % n.id)) is True
        assert c.incr("counter") >= 1
        assert c.rpush("list", "a%d" % n.id) >= 1
    assert cluster.nodes[0].client().get("counter") == b"3"
    for n in cluster.nodes:
        c = n.client()
        for m in cluster.nodes:
            assert c.get("k%d" % m.id) == ("v%d" % m.id).encode()
        assert c.lrange("list", 0, -1) == [b"a1", b"a2", b"a3"]
        assert c.get("counter") == b"3"


def test_data_survives_kill_9_of_every_node_and_restart(cluster):
    cluster.leader()
    c = cluster.nodes[1].client()
    for i in range(50):
        assert retry(lambda: c.set("key%d" % i, "value%d" % i))
    retry(lambda: c.hset("h", mapping={"f1": "x", "f2": "y"}))
    for n in cluster.nodes:
        n.kill(signal.SIGKILL)
    cluster.start()
    cluster.leader()
    for n in cluster.nodes:
        c = n.client()
        assert retry(lambda: c.get("key49")) == b"value49"
        assert c.mget(["key0", "key25"]) == [b"value0", b"value25"]
        assert c.hgetall("h") == {b"f1": b"x", b"f2": b"y"}
        assert c.dbsize() == 51


def writer(node, prefix, stop, acked, errors):
    c = node.client()
    i = 0
    while not stop.is_set():
        key = "%s-%d" % (prefix, i)
        try:
            c.set(key, str(i))
            acked.append(key)
            i += 1
        except (redis.ConnectionError, redis.TimeoutError):
            time.sleep(0.05)
        except redis.ResponseError as e:
            errors.append(str(e))
            time.sleep(0.02)


def test_kill_9_of_the_leader_under_writes_loses_no_acknowledged_write(cluster):
    old = cluster.leader()
    followers = [n for n in cluster.nodes if n is not old]
    stop = threading.Event()
    acked, errors = [], []
    threads = [threading.Thread(target=writer, args=(n, "w%d" % n.id, stop, acked, errors))
               for n in followers for _ in range(2)]
    for i, t in enumerate(threads):
        t._args = (t._args[0], "%s-%d" % (t._args[1], i)) + t._args[2:]
        t.start()
    time.sleep(1.0)
    before = len(acked)
    old.kill(signal.SIGKILL)
    killed_at = time.time()
    new = cluster.leader(timeout_s=10, exclude=old)
    took = time.time() - killed_at
    time.sleep(2.0)
    stop.set()
    for t in threads:
        t.join(timeout=10)
    assert new is not old
    assert took < 5.0, "a new leader took %.1f s" % took
    assert len(acked) > before, "no write was acknowledged after the leader died"
    assert all("TRYAGAIN" in e or "TIMEOUT" in e for e in errors), errors[:5]
    for n in cluster.nodes:
        n.kill(signal.SIGKILL)
    cluster.start()
    cluster.leader()
    c = cluster.nodes[0].client()
    retry(lambda: c.get("x"))
    missing = [k for k in acked if c.get(k) is None]
    assert not missing, "%d acknowledged writes lost, e.g. %s" % (len(missing), missing[:5])


def test_garbage_closes_only_that_connection(cluster):
    cluster.leader()
    good = cluster.nodes[0].client()
    retry(lambda: good.set("g", "1"))
    s = socket.create_connection(("127.0.0.1", cluster.nodes[0].port), timeout=5)
    s.sendall(b"*2\r\n$3\r\nGET\r\n$-7\r\n")
    reply = s.recv(4096)
    assert reply.startswith(b"-ERR Protocol error")
    assert s.recv(4096) == b""  # closed by the server
    s.close()
    half = socket.create_connection(("127.0.0.1", cluster.nodes[0].port), timeout=5)
    half.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nx")  # half a command, then gone
    half.close()
    assert good.get("g") == b"1"
    assert good.ping() is True


def test_redis_cli_and_redis_benchmark_run_unmodified(cluster):
    leader = cluster.leader()
    node = cluster.nodes[0]
    retry(lambda: node.client().set("warm", "1"))
    out = subprocess.run(["redis-cli", "-p", str(node.port), "PING"], capture_output=True,
                         timeout=10, text=True)
    assert out.stdout.strip() == "PONG"
    out = subprocess.run(["redis-cli", "-p", str(node.port), "SET", "cli", "yes"],
                         capture_output=True, timeout=10, text=True)
    assert out.stdout.strip() == "OK"
    out = subprocess.run(["redis-benchmark", "-p", str(leader.port), "-t", "set,get", "-n", "2000",
                          "-q"], capture_output=True, timeout=60, text=True)
    assert out.returncode == 0
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % leader.admin_port, timeout=2) as r:
        metrics = r.read().decode()
    count = re.search(r"^chorus_commit_latency_seconds_count (\d+)$", metrics, re.M)
    assert count and int(count.group(1)) >= 2000, metrics
    assert re.search(r"^chorus_fsync_total [1-9]", metrics, re.M), metrics
    # The leader's acks ride on its appends; bare acks are counted (docs/link.md).
    assert re.search(r"^chorus_link_acks_piggybacked_total [1-9]", metrics, re.M), metrics
    assert re.search(r"^chorus_link_acks_sent_total \d+$", metrics, re.M), metrics
    for test in ("SET", "GET"):
        assert re.search(test + r": [0-9.]+ requests per second", out.stdout), out.stdout + out.stderr


def test_transactions_and_hello_3_on_the_leader(cluster):
    leader = cluster.leader()
    c = leader.client()
    retry(lambda: c.set("t", "0"))
    p = c.pipeline(transaction=True)
    p.incr("t").incr("t").get("t")
    assert p.execute() == [1, 2, b"2"]
    s = socket.create_connection(("127.0.0.1", leader.port), timeout=5)
    s.sendall(b"HELLO 3\r\nHGETALL nothing\r\n")
    time.sleep(0.3)
    data = s.recv(65536)
    assert data.startswith(b"%7\r\n")
    assert data.endswith(b"%0\r\n")
    s.close()


def test_bad_configuration_is_refused_naming_the_flag(tmp_path):
    out = subprocess.run([SERVER, "--id", "1", "--dir", str(tmp_path), "--port", "1",
                          "--cluster-port", "2", "--peers", "1@127.0.0.1:2", "--fsync", "maybe"],
                         capture_output=True, timeout=10, text=True)
    assert out.returncode == 2
    assert "--fsync" in out.stderr


def test_sigterm_stops_every_node_cleanly_and_keeps_the_data(cluster):
    cluster.leader()
    c = cluster.nodes[2].client()
    retry(lambda: c.set("graceful", "yes"))
    pending = cluster.nodes[0].client()
    pending.ping()  # an open connection must not keep the node alive
    codes = []
    for n in cluster.nodes:
        os.kill(n.proc.pid, signal.SIGTERM)
        codes.append(n.proc.wait(timeout=10))
        n.proc = None
    assert codes == [0, 0, 0]
    cluster.start()
    cluster.leader()
    assert retry(lambda: cluster.nodes[0].client().get("graceful")) == b"yes"


def test_five_nodes_elect_a_leader_and_writes_are_readable_everywhere(tmp_path):
    from conftest import Cluster
    c5 = Cluster(tmp_path, 5)
    c5.start()
    try:
        c5.leader()
        for n in c5.nodes:
            assert retry(lambda: n.client().set("five%d" % n.id, str(n.id)))
        for n in c5.nodes:
            c = n.client()
            assert [c.get("five%d" % m.id) for m in c5.nodes] == [b"1", b"2", b"3", b"4", b"5"]
    finally:
        c5.stop()


def test_garbage_on_the_cluster_port_leaves_the_node_serving(cluster):
    cluster.leader()
    target = cluster.nodes[0]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    junk = [b"", b"\x00" * 10, b"chorus" * 100, os.urandom(1400), os.urandom(60000)]
    for i in range(300):
        u.sendto(junk[i % len(junk)] or b"x", ("127.0.0.1", target.cluster_port))
    u.close()
    c = target.client()
    assert retry(lambda: c.set("after-junk", "1"))
    assert c.get("after-junk") == b"1"
    assert target.proc.poll() is None


def test_a_paused_leader_steps_down_and_serves_no_stale_read(cluster):
    old = cluster.leader()
    retry(lambda: old.client().set("p", "before"))
    os.kill(old.proc.pid, signal.SIGSTOP)
    try:
        new = cluster.leader(timeout_s=10, exclude=old)
        assert retry(lambda: new.client().set("p", "after"))
    finally:
        os.kill(old.proc.pid, signal.SIGCONT)
    c = old.client()
    assert retry(lambda: c.get("p")) == b"after"
    assert old.status()["role"] != "leader"


def test_readonly_connection_reads_locally_without_a_quorum(cluster):
    cluster.leader()
    survivor = cluster.nodes[0]
    c = survivor.client()
    retry(lambda: c.set("stale", "v1"))
    deadline = time.time() + 5
    local = survivor.client()
    assert local.execute_command("READONLY") in (True, b"OK")
    while local.get("stale") != b"v1" and time.time() < deadline:
        time.sleep(0.05)
    for n in cluster.nodes[1:]:
        n.kill(signal.SIGKILL)
    time.sleep(1.0)  # past the election timeout: no leader without a quorum
    assert local.get("stale") == b"v1"
    linearizable = survivor.client(socket_timeout=10)
    with pytest.raises(redis.ResponseError) as e:
        linearizable.get("stale")
    assert "TRYAGAIN" in str(e.value) or "TIMEOUT" in str(e.value)


def status_when_up(node, timeout_s=10):
    """node's /status once its admin port answers."""
    deadline = time.time() + timeout_s
    while True:
        try:
            return node.status()
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.05)


def flip_byte_in_first_segment(node):
    """Damages one record in the middle of a stopped node's first log segment."""
    segments = sorted(f for f in os.listdir(node.dir) if f.startswith("log-"))
    path = os.path.join(node.dir, segments[0])
    with open(path, "rb") as f:
        data_end = len(f.read().rstrip(b"\0"))  # zero-filled room follows the records
    with open(path, "r+b") as f:
        f.seek(data_end // 2)
        byte = f.read(1)
        f.seek(data_end // 2)
        f.write(bytes([byte[0] ^ 0x40]))


def fill_and_wait_for(cluster, leader, victim, count):
    c = leader.client()
    for i in range(count):
        assert retry(lambda i=i: c.set("d%d" % i, "v" * 50))
    last = leader.status()["last_index"]
    deadline = time.time() + 10
    while victim.status()["last_index"] < last and time.time() < deadline:
        time.sleep(0.05)


def wait_until_repaired(cluster, victim, timeout_s):
    """Waits for the victim's vote barrier to lift and checks its log said it was barred
    and then repaired."""
    deadline = time.time() + timeout_s
    while victim.status()["vote_barrier"] != 0 and time.time() < deadline:
        time.sleep(0.05)
    assert victim.status()["vote_barrier"] == 0
    with open(os.path.join(cluster.tmp, "n%d.log" % victim.id), "rb") as f:
        text = f.read().decode(errors="replace")
    assert "will not vote" in text and "repaired" in text


def test_the_same_leader_repairs_a_follower_whose_log_was_damaged(cluster):
    """The leader saw the follower acknowledge its whole log; after the damage the
    follower's rejections say it lost entries, and the leader resends them at once
    instead of taking the rejections for stale ones (no leadership change needed)."""
    leader = cluster.leader()
    victim = next(n for n in cluster.nodes if n is not leader)
    fill_and_wait_for(cluster, leader, victim, 200)
    victim.kill(signal.SIGKILL)
    flip_byte_in_first_segment(victim)
    victim.start()
    status_when_up(victim)  # the barrier may already be lifted: the repair is that quick
    wait_until_repaired(cluster, victim, 10)
    assert cluster.leader() is leader and leader.status()["term"] == victim.status()["term"]
    v = victim.client()
    v.execute_command("READONLY")
    assert all(v.get("d%d" % i) == b"v" * 50 for i in range(200))


def test_a_follower_with_a_damaged_log_refuses_to_vote_until_repaired(cluster):
    """A flipped byte in the middle of a follower's log: it restarts, reports the damage,
    keeps a vote barrier (also across a second restart) and is repaired by the leader."""
    leader = cluster.leader()
    victim = next(n for n in cluster.nodes if n is not leader)
    # Wait until the victim holds everything, then stop it and damage one record.
    fill_and_wait_for(cluster, leader, victim, 200)
    victim.kill(signal.SIGKILL)
    flip_byte_in_first_segment(victim)
    # Keep the leader from repairing it at once: stop the leader, so the victim restarts
    # with only one healthy peer, which cannot win without the victim's vote.
    leader.kill(signal.SIGKILL)
    victim.start()
    assert status_when_up(victim)["vote_barrier"] > 0
    time.sleep(1.5)  # several election timeouts: no leader may emerge from the two
    assert victim.status()["role"] != "leader"
    other = next(n for n in cluster.nodes if n is not leader and n is not victim)
    assert other.status()["role"] != "leader"
    victim.kill(signal.SIGKILL)  # the barrier survives a restart of a now clean log
    victim.start()
    assert status_when_up(victim)["vote_barrier"] > 0
    leader.start()  # the old leader's whole log repairs the victim
    cluster.leader()
    wait_until_repaired(cluster, victim, 15)
    v = victim.client()
    v.execute_command("READONLY")
    deadline = time.time() + 10
    while v.get("d199") is None and time.time() < deadline:
        time.sleep(0.05)
    assert all(v.get("d%d" % i) == b"v" * 50 for i in range(200))


def test_info_returns_the_sections_asked_for(cluster):
    cluster.leader()
    c = cluster.nodes[0].client(decode_responses=True)
    c.set_response_callback("INFO", lambda r, **kw: r)  # the text, not redis-py's dict
    raw = c.execute_command("INFO", "replication")
    assert raw.startswith("# Replication\r\n") and "chorus_commit_index:" in raw
    assert "redis_version" not in raw and "# Keyspace" not in raw
    both = c.execute_command("INFO", "server", "KEYSPACE")
    assert "redis_version:" in both and "db0:" in both and "# Replication" not in both
    assert "# Replication" in c.execute_command("INFO") and "# Clients" in c.execute_command("INFO", "all")
    assert c.execute_command("INFO", "nosuchsection") == ""
