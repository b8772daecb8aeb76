"""Membership changes in a running cluster under a writer (src/server/members.c, docs/server.md
"Membership"): a fourth node started empty with `--join yes` is added as a learner, catches
up from a snapshot (the leader compacted its log long before), and is promoted; then an
original member is removed, a follower in one test and the leader in the other (it hands
leadership over first). The cluster keeps acknowledging writes throughout, and every
acknowledged write is readable on every remaining member. Driven with chorus-cli and with
the CHORUS commands."""
import re
import threading
import time
import urllib.request

import pytest
import redis

from conftest import Cluster, Node, retry
from test_cli import rows, run_cli

SNAPSHOT_ENTRIES = "50"


class Writer(threading.Thread):
    """Writes unique keys round-robin through the given nodes, recording every
    acknowledged write and the time of each acknowledgement."""

    def __init__(self, nodes):
        super().__init__(daemon=True)
        self.nodes = list(nodes)
        self.acked = {}
        self.ack_times = []
        self.stop_flag = threading.Event()

    def run(self):
        clients = {}
        i = 0
        while not self.stop_flag.is_set():
            node = self.nodes[i % len(self.nodes)]
            i += 1
            if node.proc is None:
                continue
            key, value = "w%d" % i, "v%d" % i
            try:
                c = clients.setdefault(node.id, node.client(socket_timeout=3))
                if c.set(key, value) is True:
                    self.acked[key] = value.encode()
                    self.ack_times.append(time.time())
            except (redis.RedisError, OSError):
                clients.pop(node.id, None)
                time.sleep(0.02)

    def acks_since(self, t):
        return sum(1 for x in self.ack_times if x >= t)

    def finish(self):
        self.stop_flag.set()
        self.join(timeout=10)
        assert not self.is_alive()


def info(node, section="membership"):
    return node.client().info(section)


def wait_for(predicate, what, timeout_s=20):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            if predicate():
                return
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def start_joiner(cluster, node_id):
    n = Node(cluster, node_id)
    n.peers = cluster.peers + ",%d@127.0.0.1:%d" % (node_id, n.cluster_port)
    n.extra_args += ["--join", "yes"]
    cluster.nodes.append(n)
    n.start()
    return n


def members(node):
    """CHORUS MEMBERS as {id: (address, role, match)}."""
    out = {}
    for line in retry(lambda: node.client().execute_command("CHORUS", "MEMBERS")):
        mid, address, role, match = line.decode().split()
        out[int(mid)] = (address, role, int(match))
    return out


def check_every_acked_write(writer, nodes):
    """Every acknowledged write on every node, read from its own applied state."""
    leader_commit = max(n.status()["commit_index"] for n in nodes)
    wait_for(lambda: all(n.status()["apply_index"] >= leader_commit for n in nodes),
             "the remaining members to apply index %d" % leader_commit)
    keys = sorted(writer.acked)
    for n in nodes:
        c = n.client()
        c.execute_command("READONLY")  # one connection: the pool reuses it below
        got = []
        for i in range(0, len(keys), 100):
            got += c.mget(keys[i:i + 100])
        missing = [k for k, v in zip(keys, got) if v != writer.acked[k]]
        assert not missing, "node %d lacks %d acknowledged writes, e.g. %s" % (
            n.id, len(missing), missing[:3])


@pytest.fixture
def compacting_cluster(tmp_path):
    c = Cluster(tmp_path, 3, extra_args=("--snapshot-entries", SNAPSHOT_ENTRIES))
    c.start()
    try:
        yield c
    finally:
        c.stop()


def add_fourth_node(c, writer):
    leader = c.leader()
    wait_for(lambda: len(writer.acked) >= 300, "300 writes before the join")
    assert int(info(leader, "snapshots")["chorus_snapshot_index"]) > 0  # compacted
    n4 = start_joiner(c, 4)
    time.sleep(1.0)  # a spare with an empty log must not form a cluster of its own
    assert n4.status()["leader"] in (0, leader.id) and n4.status()["role"] != "leader"
    t0 = time.time()
    code, out, err = run_cli("--peers", c.peers, "add", "4", "127.0.0.1:%d" % n4.cluster_port,
                             timeout_s=60)
    assert code == 0, out + err
    assert "add-learner: OK" in out and "promote: OK" in out
    wait_for(lambda: members(c.leader())[4][1] == "voter", "node 4 to be a voter")
    assert int(info(n4, "snapshots")["chorus_snapshots_installed"]) >= 1
    assert members(c.leader())[4][0] == "127.0.0.1:%d" % n4.cluster_port
    code, out, err = run_cli("--peers", c.peers, "status")  # --peers does not name node 4
    assert code == 0, out + err
    table = rows(out)
    assert sorted(table) == [1, 2, 3, 4] and table[4][1] == "127.0.0.1:%d" % n4.cluster_port
    assert writer.acks_since(t0) > 0
    return n4


def test_a_joining_node_catches_up_from_a_snapshot_and_a_follower_is_removed(compacting_cluster):
    c = compacting_cluster
    leader = c.leader()
    writer = Writer(c.nodes[:3])
    writer.start()
    try:
        n4 = add_fourth_node(c, writer)
        writer.nodes.append(n4)
        wait_for(lambda: len(writer.acked) >= 600, "writes through four members")
        leader = c.leader()
        gone = next(n for n in c.nodes[:3] if n is not leader)
        t1 = time.time()
        code, out, err = run_cli("--peers", c.peers, "remove", str(gone.id), timeout_s=60)
        assert code == 0, out + err
        wait_for(lambda: gone.id not in members(c.leader(exclude=gone)),
                 "node %d to leave" % gone.id)
        wait_for(lambda: info(gone)["chorus_member"] == "removed", "the removed node to know")
        with pytest.raises(redis.ResponseError, match="removed from the cluster"):
            gone.client().set("after", "removal")
        assert gone.status()["member"] == "removed"
        assert n4.status()["member"] in ("voter", "leader")
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % gone.admin_port,
                                    timeout=2) as r:
            assert re.search(r"^chorus_member_removed 1$", r.read().decode(), re.M)
        time.sleep(0.5)
        assert writer.acks_since(t1) > 0
    finally:
        writer.finish()
    remaining = [n for n in c.nodes if n is not gone]
    assert sorted(members(c.leader(exclude=gone))) == sorted(n.id for n in remaining)
    check_every_acked_write(writer, remaining)
    gaps = [b - a for a, b in zip(writer.ack_times, writer.ack_times[1:])]
    assert max(gaps) < 5.0, "the cluster stopped acknowledging for %.1f s" % max(gaps)


def test_removing_the_leader_hands_leadership_over_first(compacting_cluster):
    c = compacting_cluster
    writer = Writer(c.nodes[:3])
    writer.start()
    try:
        n4 = add_fourth_node(c, writer)
        writer.nodes.append(n4)
        old = c.leader()
        t1 = time.time()
        # CHORUS REMOVE of the leader on the leader: it hands over and asks for a retry.
        with pytest.raises(redis.ResponseError, match="handing leadership"):
            old.client().execute_command("CHORUS", "REMOVE", old.id)
        new = c.leader(exclude=old)
        assert new is not old
        # The retry, sent to the old leader, is forwarded to the new one.
        index = retry(lambda: old.client().execute_command("CHORUS", "REMOVE", old.id))
        assert index > 0
        wait_for(lambda: old.id not in members(new), "the old leader to leave")
        wait_for(lambda: info(old)["chorus_member"] == "removed", "the old leader to know")
        assert c.leader(exclude=old) is new
        time.sleep(0.5)
        assert writer.acks_since(t1) > 0
    finally:
        writer.finish()
    remaining = [n for n in c.nodes if n is not old]
    check_every_acked_write(writer, remaining)
    code, out, err = run_cli("--peers", ",".join("%d@127.0.0.1:%d" % (n.id, n.cluster_port)
                                                 for n in remaining), "status")
    assert code == 0, out + err


def snapshot_at_least(node, index):
    """Asks node for a snapshot (BUSY, or nothing new, are fine) and tells whether its
    latest snapshot covers index."""
    try:
        node.client().execute_command("CHORUS", "SNAPSHOT")
    except redis.ResponseError:
        pass
    return int(info(node, "snapshots")["chorus_snapshot_index"]) >= index


@pytest.mark.parametrize("compacted", [False, True], ids=["in_the_log", "in_the_snapshot"])
def test_members_added_at_run_time_are_reached_again_after_a_full_restart(tmp_path, compacted):
    """Addresses live in the configuration, which config entries carry and snapshots keep
    once those are compacted away: after node 4 joins and the leader is removed with
    chorus-cli (which follows the hand-over), kill -9 of every node and a restart with the
    same flags (the original --peers, which still names the removed node and not the new
    one) brings back a cluster that elects a leader and replicates to node 4."""
    c = Cluster(tmp_path, 3, extra_args=("--snapshot-entries", "20") if compacted else ())
    c.start()
    try:
        leader = c.leader()
        assert retry(lambda: leader.client().set("before", "1")) is True
        n4 = start_joiner(c, 4)
        code, out, err = run_cli("--peers", c.peers, "add", "4",
                                 "127.0.0.1:%d" % n4.cluster_port, timeout_s=60)
        assert code == 0, out + err
        gone = c.leader()  # chorus-cli follows the hand-over redirect to the new leader
        code, out, err = run_cli("--peers", c.peers, "remove", str(gone.id), timeout_s=60)
        assert code == 0, out + err
        assert "remove: OK (node %d" % gone.id not in out
        wait_for(lambda: gone.id not in members(c.leader(exclude=gone)), "the removal")
        if compacted:  # every config entry goes behind a snapshot on every member
            leader = c.leader(exclude=gone)
            for i in range(60):
                assert retry(lambda: leader.client().set("fill%d" % i, "x")) is True
            commit = leader.status()["commit_index"]
            wait_for(lambda: all(n.status()["apply_index"] >= commit
                                 for n in c.nodes if n is not gone), "members to apply")
            for n in c.nodes:
                if n is not gone:
                    wait_for(lambda: snapshot_at_least(n, commit), "node %d's snapshot" % n.id)
        gone.kill()
        for n in c.nodes:
            n.kill()
        for n in c.nodes:
            if n is not gone:
                n.start()
        leader = c.leader(exclude=gone)
        assert retry(lambda: leader.client().set("after", "2")) is True
        assert sorted(members(leader)) == [n.id for n in c.nodes if n is not gone]
        commit = leader.status()["commit_index"]
        wait_for(lambda: n4.status()["apply_index"] >= commit, "node 4 to apply the new write")
        c4 = n4.client()
        c4.execute_command("READONLY")
        assert c4.mget("before", "after") == [b"1", b"2"]
    finally:
        c.stop()


def test_membership_commands_refuse_bad_requests_clearly(cluster):
    leader = cluster.leader()
    follower = next(n for n in cluster.nodes if n is not leader)
    cases = [(("ADDLEARNER", "4", "localhost:1"), "invalid address"),
             (("ADDLEARNER", "2", "127.0.0.1:9"), "already a member"),
             (("ADDLEARNER", "x", "127.0.0.1:9"), "invalid node id"),
             (("PROMOTE", "7"), "does not fit the configuration"),
             (("REMOVE", "7"), "does not fit the configuration"),
             (("PROMOTE",), "wrong number of arguments")]
    for node in (leader, follower):  # a follower forwards and relays the leader's answer
        for args, text in cases:
            with pytest.raises(redis.ResponseError, match=text):
                retry(lambda: node.client().execute_command("CHORUS", *args))
    listed = members(follower)  # forwarded: the leader's view, with match indexes
    assert sorted(listed) == [1, 2, 3]
    assert listed[leader.id][1] == "leader"
    # The leader's own match index is what it synced, which may lag by the
    # leader-sync-delay-ms of its deferred sync.
    deadline = time.time() + 5
    while not all(m[2] > 0 for m in listed.values()) and time.time() < deadline:
        time.sleep(0.02)
        listed = members(follower)
    assert all(m[2] > 0 for m in listed.values()), listed
    assert info(follower)["chorus_member"] == "voter"
