"""A redis replication group (one shard, primary only): redis-py writes
through the primary endpoint; kill -9 of the node → replaced, with events,
behind the same endpoint; other topologies refused."""
import os
import signal
import time

import redis

import fc


def main():
    ec = fc.client()
    try:
        ec.create_replication_group(ReplicationGroupId="bad", ReplicationGroupDescription="x",
                                    NumCacheClusters=3, CacheNodeType="cache.t4g.micro")
        raise AssertionError("replicas accepted")
    except ec.exceptions.InvalidParameterCombinationException as e:
        assert "not supported yet" in str(e), e
    g = ec.create_replication_group(ReplicationGroupId="sess", ReplicationGroupDescription="sessions",
                                    Engine="redis", CacheNodeType="cache.t4g.micro",
                                    Tags=[{"Key": "team", "Value": "web"}])["ReplicationGroup"]
    assert g["Status"] == "creating" and g["MemberClusters"] == ["sess-001"], g
    g = fc.wait_group(ec, "sess")
    ep = g["NodeGroups"][0]["PrimaryEndpoint"]
    assert g["NodeGroups"][0]["NodeGroupMembers"][0]["CurrentRole"] == "primary", g
    r = redis.Redis(host=ep["Address"], port=ep["Port"])
    for i in range(1000):
        r.set("k%d" % i, "v%d" % i)
    assert r.dbsize() == 1000
    assert r.get("k7") == b"v7"
    # maxmemory follows the node type minus reserved-memory-percent (25).
    assert int(r.config_get("maxmemory")["maxmemory"]) == int(0.5 * 1024**3 * 0.75)
    arn = g["ARN"]
    tags = ec.list_tags_for_resource(ResourceName=arn)["TagList"]
    assert tags == [{"Key": "team", "Value": "web"}], tags

    # Snapshot, restore into a new group, compare every key.
    s = ec.create_snapshot(ReplicationGroupId="sess", SnapshotName="snap1")["Snapshot"]
    assert s["SnapshotStatus"] == "creating" and s["CacheClusterId"] == "sess-001", s
    t = time.time()
    while ec.describe_snapshots(SnapshotName="snap1")["Snapshots"][0]["SnapshotStatus"] != "available":
        assert time.time() - t < 30
        time.sleep(0.2)
    fc.wait_group(ec, "sess")
    assert [x["SnapshotName"] for x in ec.describe_snapshots(ReplicationGroupId="sess")["Snapshots"]] == ["snap1"]
    try:
        ec.create_snapshot(CacheClusterId="sess-001", SnapshotName="snap1")
        raise AssertionError("duplicate snapshot accepted")
    except ec.exceptions.SnapshotAlreadyExistsFault:
        pass
    ec.create_replication_group(ReplicationGroupId="copy", ReplicationGroupDescription="restored",
                                CacheNodeType="cache.t4g.micro", SnapshotName="snap1")
    g2 = fc.wait_group(ec, "copy")
    ep2 = g2["NodeGroups"][0]["PrimaryEndpoint"]
    assert ep2["Port"] != ep["Port"]
    r2 = redis.Redis(host=ep2["Address"], port=ep2["Port"])
    assert r2.dbsize() == 1000, r2.dbsize()
    for i in range(1000):
        assert r2.get("k%d" % i) == b"v%d" % i, i
    export = os.path.join(fc.DATA_DIR, "export")
    os.makedirs(export)
    ec.copy_snapshot(SourceSnapshotName="snap1", TargetSnapshotName="snap1-export", TargetBucket=export)
    assert os.path.getsize(os.path.join(export, "snap1-export.rdb")) > 0
    # Seeding a new cluster from an uploaded RDB file (SnapshotArns).
    ec.create_cache_cluster(CacheClusterId="seeded", Engine="redis", CacheNodeType="cache.t4g.micro",
                            NumCacheNodes=1, SnapshotArns=[os.path.join(export, "snap1-export.rdb")])
    node = fc.wait_cluster(ec, "seeded", nodes=1)["CacheNodes"][0]["Endpoint"]
    assert redis.Redis(host=node["Address"], port=node["Port"]).dbsize() == 1000
    ec.delete_cache_cluster(CacheClusterId="seeded")
    c = ec.copy_snapshot(SourceSnapshotName="snap1", TargetSnapshotName="snap2")["Snapshot"]
    assert c["SnapshotStatus"] == "available", c
    ec.delete_snapshot(SnapshotName="snap2")
    ec.delete_replication_group(ReplicationGroupId="copy")

    pid = fc.node_pid("sess-001", "0001")
    os.kill(pid, signal.SIGKILL)
    t = time.time()
    while True:
        ev = fc.events(ec, "sess-001")
        if "Finished recovery for cache nodes 0001" in ev:
            break
        assert time.time() - t < 30, ev
        time.sleep(0.2)
    assert "Recovering cache nodes 0001" in ev, ev
    assert fc.node_pid("sess-001", "0001") != pid
    # Same endpoint, new node.
    r = redis.Redis(host=ep["Address"], port=ep["Port"])
    t = time.time()
    while True:
        try:
            r.set("after", "1")
            break
        except redis.exceptions.ConnectionError:
            assert time.time() - t < 10
            time.sleep(0.2)
    assert r.get("after") == b"1"
    # The replacement started from the node's latest snapshot.
    assert r.get("k7") == b"v7"

    ec.delete_replication_group(ReplicationGroupId="sess")
    t = time.time()
    while True:
        try:
            ec.describe_replication_groups(ReplicationGroupId="sess")
        except ec.exceptions.ReplicationGroupNotFoundFault:
            break
        assert time.time() - t < 30
        time.sleep(0.2)
    print("ok")


if __name__ == "__main__":
    main()
