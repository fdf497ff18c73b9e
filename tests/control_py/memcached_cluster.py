"""A 3-node memcached cluster created with the AWS CLI; pymemcache's
HashClient finds the nodes through Auto Discovery on the configuration
endpoint; 10,000 keys written and read; scale to 5 and back to 2 with
boto3; delete."""
import socket

from pymemcache.client.hash import HashClient

import fc


def discover(host, port):
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(b"config get cluster\r\n")
    out = b""
    while not out.endswith(b"END\r\n"):
        chunk = s.recv(65536)
        assert chunk, out
        out += chunk
    s.close()
    header, rest = out.split(b"\r\n", 1)
    n = int(header.split(b" ")[3])
    version, nodes = rest[:n].decode().split("\n")[:2]
    return int(version), [(e.split("|")[1] or e.split("|")[0], int(e.split("|")[2])) for e in nodes.split(" ") if e]


def roundtrip(nodes, prefix, n=10000):
    c = HashClient(nodes, use_pooling=False)
    for i in range(n):
        assert c.set("%s%d" % (prefix, i), b"v%d" % i), i
    got = c.get_many(["%s%d" % (prefix, i) for i in range(n)])
    assert len(got) == n, len(got)
    for i in range(n):
        assert got["%s%d" % (prefix, i)] == b"v%d" % i
    c.close()


def main():
    ec = fc.client()
    r = fc.aws("create-cache-cluster", "--cache-cluster-id", "web", "--engine", "memcached",
               "--num-cache-nodes", "3", "--cache-node-type", "cache.t4g.small")
    assert r["CacheCluster"]["CacheClusterStatus"] == "creating", r
    c = fc.wait_cluster(ec, "web", nodes=3)
    ep = c["ConfigurationEndpoint"]
    v1, nodes = discover(ep["Address"], ep["Port"])
    assert sorted(p for _, p in nodes) == sorted(n["Endpoint"]["Port"] for n in c["CacheNodes"]), (nodes, c)
    roundtrip(nodes, "a")

    ec.modify_cache_cluster(CacheClusterId="web", NumCacheNodes=5, ApplyImmediately=True)
    c = fc.wait_cluster(ec, "web", nodes=5)
    v2, nodes = discover(ep["Address"], ep["Port"])
    assert v2 > v1 and len(nodes) == 5, (v1, v2, nodes)
    # Every node answers the same configuration.
    for _, p in nodes:
        assert discover("127.0.0.1", p) == (v2, nodes)
    roundtrip(nodes, "b")

    ids = [n["CacheNodeId"] for n in c["CacheNodes"]]
    r = ec.modify_cache_cluster(CacheClusterId="web", NumCacheNodes=2, CacheNodeIdsToRemove=ids[1:4], ApplyImmediately=True)
    assert r["CacheCluster"]["PendingModifiedValues"]["CacheNodeIdsToRemove"] == ids[1:4], r
    c = fc.wait_cluster(ec, "web", nodes=2)
    assert [n["CacheNodeId"] for n in c["CacheNodes"]] == [ids[0], ids[4]], c
    v3, nodes = discover(ep["Address"], ep["Port"])
    assert v3 > v2 and len(nodes) == 2, (v3, nodes)
    roundtrip(nodes, "c")

    # A node killed with -9 is replaced (empty, same endpoint) and rejoins
    # the discovered configuration.
    import os, signal, time
    os.kill(fc.node_pid("web", ids[0]), signal.SIGKILL)
    t = time.time()
    while "Finished recovery for cache nodes %s" % ids[0] not in fc.events(ec, "web"):
        assert time.time() - t < 30, fc.events(ec, "web")
        time.sleep(0.2)
    assert "Recovering cache nodes %s" % ids[0] in fc.events(ec, "web")
    t = time.time()
    while True:
        v4, nodes = discover(ep["Address"], ep["Port"])
        if len(nodes) == 2:
            break
        assert time.time() - t < 10, nodes
        time.sleep(0.2)
    assert v4 > v3
    roundtrip(nodes, "d", 1000)

    ev = fc.events(ec, "web")
    assert "Cache cluster created" in ev and any(m.startswith("Removed cache nodes") for m in ev), ev
    ec.delete_cache_cluster(CacheClusterId="web")
    fc.wait_gone(ec, "web")
    print("ok")


if __name__ == "__main__":
    main()
