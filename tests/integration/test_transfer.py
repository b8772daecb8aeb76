"""Leadership transfer and lease reads in real chorus-server processes: CHORUS TRANSFER
moves the leader, SIGTERM on a leader hands over before exiting, and lease-mode reads
return the latest writes."""
import re
import signal
import subprocess
import threading
import time
import urllib.request

import pytest
import redis

from conftest import SERVER, Cluster, retry
from test_cluster import writer


def lease_reads(node):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % node.admin_port, timeout=2) as r:
        return int(re.search(rb"^chorus_lease_reads_total (\d+)$", r.read(), re.M).group(1))


def wait_for_leader(cluster, node, timeout_s=5):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if cluster.leader(timeout_s=timeout_s) is node:
            return time.time()
        time.sleep(0.02)
    raise AssertionError("node %d did not become leader" % node.id)


def test_transfer_moves_leadership_and_writes_keep_working(cluster):
    old = cluster.leader()
    target = next(n for n in cluster.nodes if n is not old)
    c = old.client()
    for i in range(20):
        retry(lambda: c.set("t%d" % i, "v%d" % i))
    assert old.client().execute_command("CHORUS", "TRANSFER", target.id) == b"OK"
    wait_for_leader(cluster, target)
    assert old.client().execute_command("CHORUS", "LEADER") == target.id
    t = target.client()
    for i in range(20, 40):
        retry(lambda: t.set("t%d" % i, "v%d" % i))
    assert lease_reads(target) == 0  # read-mode readindex is the default
    for n in cluster.nodes:  # writes before and after the hand-over, read through any node
        assert [retry(lambda: n.client().get("t%d" % i)) for i in (0, 19, 39)] == [b"v0", b"v19", b"v39"]


def test_transfer_refuses_bad_targets_with_clear_errors(cluster):
    leader = cluster.leader()
    follower = next(n for n in cluster.nodes if n is not leader)
    cases = [(leader, str(leader.id), "already leads"), (leader, "9", "no node 9"),
             (leader, "x1", "invalid node id"), (follower, str(leader.id), "already leads")]
    for node, arg, text in cases:
        with pytest.raises(redis.ResponseError, match=text):
            node.client().execute_command("CHORUS", "TRANSFER", arg)
    with pytest.raises(redis.ResponseError, match="wrong number"):
        leader.client().execute_command("CHORUS", "TRANSFER")
    assert cluster.leader() is leader


def test_sigterm_on_the_leader_hands_over_quickly_and_loses_no_acknowledged_write(cluster):
    old = cluster.leader()
    followers = [n for n in cluster.nodes if n is not old]
    stop = threading.Event()
    acked, errors = [], []
    threads = [threading.Thread(target=writer, args=(n, "s%d-%d" % (n.id, k), stop, acked, errors))
               for n in followers for k in range(2)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    before = len(acked)
    signalled_at = time.time()
    old.proc.send_signal(signal.SIGTERM)
    code = old.proc.wait(timeout=5)
    exited_in = time.time() - signalled_at
    old.proc = None
    new = cluster.leader(timeout_s=5, exclude=old)
    leaderless_for = time.time() - signalled_at
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join(timeout=10)
    assert code == 0
    assert exited_in < 2.5, "the leader took %.2f s to hand over and exit" % exited_in
    # A transfer, not an election timeout (300-600 ms) after a crash, picks the new leader.
    assert leaderless_for < 1.0, "no leader for %.2f s after SIGTERM" % leaderless_for
    assert len(acked) > before, "no write was acknowledged after the hand-over"
    assert all("TRYAGAIN" in e or "TIMEOUT" in e for e in errors), errors[:5]
    c = new.client()
    missing = [k for k in acked if retry(lambda: c.get(k)) is None]
    assert not missing, "%d acknowledged writes lost, e.g. %s" % (len(missing), missing[:5])


@pytest.fixture
def lease_cluster(tmp_path):
    c = Cluster(tmp_path, 3, extra_args=["--read-mode", "lease", "--clock-drift-bound-ms", "30"])
    c.start()
    yield c
    c.stop()


def test_lease_mode_reads_return_the_latest_writes(lease_cluster):
    leader = lease_cluster.leader()
    follower = next(n for n in lease_cluster.nodes if n is not leader)
    writes, reads = leader.client(), follower.client()  # the follower forwards its reads
    for i in range(200):
        retry(lambda: writes.set("k", str(i)))
        assert writes.get("k") == str(i).encode()
        assert retry(lambda: reads.get("k")) == str(i).encode()
    assert lease_reads(leader) >= 100, "reads did not use the lease"
    # After a transfer the old leader's lease is gone: it reads the new leader's writes.
    target = follower
    assert leader.client().execute_command("CHORUS", "TRANSFER", target.id) == b"OK"
    wait_for_leader(lease_cluster, target)
    retry(lambda: target.client().set("k", "after"))
    assert retry(lambda: leader.client().get("k")) == b"after"


def test_lease_configuration_is_checked(tmp_path):
    base = [SERVER, "--id", "1", "--dir", str(tmp_path), "--port", "1", "--cluster-port", "2",
            "--peers", "1@127.0.0.1:2"]
    out = subprocess.run(base + ["--read-mode", "sometimes"], capture_output=True, timeout=10, text=True)
    assert out.returncode == 2 and "--read-mode" in out.stderr
    out = subprocess.run(base + ["--read-mode", "lease", "--clock-drift-bound-ms", "300"],
                         capture_output=True, timeout=10, text=True)
    assert out.returncode == 2 and "clock-drift-bound-ms" in out.stderr
