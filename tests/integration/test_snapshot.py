"""Snapshots on real processes: a follower stopped while the leader compacts its log past
what the follower has catches up by InstallSnapshot after restart, serves the same data,
and later restarts from its own copy of the snapshot."""
import os
import signal
import time
import urllib.request

import redis
from conftest import Cluster, retry


def info(node):
    return node.client().info()


def wait_for(predicate, what, timeout_s=15):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            if predicate():
                return
        except (OSError, redis.ConnectionError, redis.TimeoutError):
            pass  # the node is still starting
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def local_values(node, keys):
    c = node.client()
    c.execute_command("READONLY")
    return [c.get(k) for k in keys]


def test_follower_behind_the_leaders_compaction_catches_up_by_snapshot(tmp_path):
    c = Cluster(tmp_path, 3, extra_args=("--snapshot-entries", "1000000"))  # only when asked
    c.start()
    try:
        leader = c.leader()
        lc = leader.client()
        retry(lambda: lc.set("before", "0"))
        follower = next(n for n in c.nodes if n is not leader)
        wait_for(lambda: local_values(follower, ["before"]) == [b"0"], "the follower to apply")
        follower.kill(signal.SIGKILL)
        keys = ["k%d" % i for i in range(300)]
        for i, k in enumerate(keys):
            retry(lambda k=k, i=i: lc.set(k, "v%d" % i))
        index = retry(lambda: lc.execute_command("CHORUS", "SNAPSHOT"))
        assert index >= 300
        wait_for(lambda: info(leader)["chorus_first_index"] == index + 1,
                 "the leader to compact its log behind the snapshot")
        assert info(leader)["chorus_snapshots_taken"] == 1
        for i in range(300, 320):  # a tail after the snapshot, sent as entries
            keys.append("k%d" % i)
            retry(lambda i=i: lc.set("k%d" % i, "v%d" % i))
        expected = [b"v%d" % i for i in range(320)]

        follower.start()
        wait_for(lambda: info(follower)["chorus_snapshots_installed"] >= 1,
                 "the follower to install the leader's snapshot")
        wait_for(lambda: local_values(follower, keys) == expected,
                 "the follower to serve the same data")
        st = info(follower)
        assert st["chorus_snapshot_index"] >= index
        assert st["chorus_snapshots_taken"] == 0  # it got the snapshot, it did not make one
        assert local_values(follower, ["before"]) == [b"0"]
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % follower.admin_port,
                                    timeout=2) as r:
            assert "chorus_snapshots_installed_total 1\n" in r.read().decode()

        # The installed snapshot is durable: a restart recovers from it plus the log tail.
        follower.kill(signal.SIGKILL)
        follower.start()
        wait_for(lambda: local_values(follower, keys) == expected,
                 "the restarted follower to serve the same data")
        assert info(follower)["chorus_snapshot_index"] >= index
        retry(lambda: lc.set("after", "1"))
        wait_for(lambda: local_values(follower, ["after"]) == [b"1"],
                 "the follower to keep replicating after the snapshot")
    finally:
        c.stop()


def test_chorus_snapshot_refuses_when_nothing_is_new_and_survives_restart(cluster):
    leader = cluster.leader()
    lc = leader.client()
    retry(lambda: lc.set("a", "1"))
    index = retry(lambda: lc.execute_command("CHORUS", "SNAPSHOT"))
    wait_for(lambda: info(leader)["chorus_snapshot_index"] == index, "the snapshot to be saved")
    try:
        lc.execute_command("CHORUS", "SNAPSHOT")
        raise AssertionError("a second snapshot with nothing new was accepted")
    except Exception as e:  # redis.ResponseError
        assert "nothing applied" in str(e)
    for n in cluster.nodes:
        n.kill(signal.SIGKILL)
    cluster.start()
    leader = cluster.leader()
    assert retry(lambda: leader.client().get("a")) == b"1"


def test_a_follower_with_a_damaged_snapshot_file_fetches_it_again(tmp_path):
    """A flipped byte in a stopped follower's snapshot file: the node drops the snapshot and
    its log (keeping term and vote), refuses to vote until repaired, and the same leader
    sends the snapshot again (no leadership change needed)."""
    c = Cluster(tmp_path, 3, extra_args=("--snapshot-entries", "1000000"))  # only when asked
    c.start()
    try:
        leader = c.leader()
        lc = leader.client()
        keys = ["d%d" % i for i in range(200)]
        for i, k in enumerate(keys):
            retry(lambda k=k, i=i: lc.set(k, "v%d" % i))
        expected = [b"v%d" % i for i in range(200)]
        follower = next(n for n in c.nodes if n is not leader)
        wait_for(lambda: local_values(follower, keys) == expected, "the follower to apply")
        for n in c.nodes:  # every node snapshots and compacts
            retry(lambda n=n: n.client().execute_command("CHORUS", "SNAPSHOT"))
        path = os.path.join(follower.dir, "snapshot")
        wait_for(lambda: info(follower)["chorus_snapshots_taken"] >= 1 and os.path.exists(path),
                 "the follower's snapshot to be saved")
        follower.kill(signal.SIGKILL)
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.seek(size - 10)
            byte = f.read(1)
            f.seek(size - 10)
            f.write(bytes([byte[0] ^ 0x01]))
        follower.start()
        wait_for(lambda: follower.status()["vote_barrier"] > 0, "the follower to come up barred")
        # The leader that saw this follower acknowledge its log learns from its rejections
        # (flagged log_lost) that it lost them, and sends the snapshot again itself.
        wait_for(lambda: local_values(follower, keys) == expected,
                 "the follower to get the snapshot again")
        assert c.leader() is leader
        st = info(follower)
        assert st["chorus_snapshots_installed"] >= 1
        wait_for(lambda: follower.status()["vote_barrier"] == 0, "the vote barrier to lift")
        with open(os.path.join(c.tmp, "n%d.log" % follower.id), "rb") as f:
            text = f.read().decode(errors="replace")
        assert "snapshot file failed its checks" in text and "repaired" in text
        retry(lambda: lc.set("after", "1"))
        wait_for(lambda: local_values(follower, ["after"]) == [b"1"],
                 "the follower to keep replicating")
    finally:
        c.stop()
