"""pymemcache HashClient driven by ElastiCache-style Auto Discovery.

Usage: discovery.py PORT1 PORT2 PORT3

Acts as the control plane (`config set cluster` on every node) and as a
cluster-aware client: a small discovery loop polls `config get cluster` on
the configuration endpoint (node 1), and when the version goes up it adds
and removes servers in a pymemcache HashClient. Checks that keys spread over
the current nodes, that an added node receives keys, and that a removed node
receives no more.
"""
import socket
import sys

from pymemcache.client.base import Client
from pymemcache.client.hash import HashClient


def raw(port, data):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(data)
    out = b""
    while not (out.endswith(b"END\r\n") or out.endswith(b"OK\r\n") or out.startswith(b"CLIENT_ERROR")):
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    return out


def push_config(ports, members):
    nodes = " ".join("localhost|127.0.0.1|%d" % p for p in members).encode()
    for p in ports:
        r = raw(p, b"config set cluster 0 %d\r\n%s\r\n" % (len(nodes), nodes))
        assert r == b"OK\r\n", r


def discover(port):
    r = raw(port, b"config get cluster\r\n")
    header, rest = r.split(b"\r\n", 1)
    parts = header.split(b" ")
    assert parts[:3] == [b"CONFIG", b"cluster", b"0"], r
    n = int(parts[3])
    body = rest[:n].decode()
    assert rest[n:] == b"\r\nEND\r\n", r
    version_line, nodes_line = body.split("\n")[:2]
    nodes = []
    for entry in nodes_line.split(" "):
        host, ip, port_s = entry.split("|")
        nodes.append((ip or host, int(port_s)))
    return int(version_line), nodes


class DiscoveringClient:
    def __init__(self, config_port):
        self.config_port = config_port
        self.version = -1
        self.nodes = []
        self.client = HashClient([], use_pooling=False)
        self.refresh()

    def refresh(self):
        version, nodes = discover(self.config_port)
        if version == self.version:
            return False
        for n in nodes:
            if n not in self.nodes:
                self.client.add_server(*n)
        if any(n not in nodes for n in self.nodes):
            # pymemcache's remove_server is meant for dead servers (4.0
            # raises KeyError for a healthy one): rebuild the ring instead,
            # as the ElastiCache cluster clients do.
            self.client = HashClient(nodes, use_pooling=False)
        self.version, self.nodes = version, nodes
        return True


def items(port):
    c = Client(("127.0.0.1", port))
    st = c.stats()
    c.close()
    return int(st[b"curr_items"])


def main():
    ports = [int(p) for p in sys.argv[1:4]]
    for p in ports:
        assert raw(p, b"flush_all\r\n") == b"OK\r\n"
    push_config(ports, ports[:2])
    dc = DiscoveringClient(ports[0])
    assert len(dc.nodes) == 2, dc.nodes
    for i in range(300):
        dc.client.set("a%d" % i, b"v%d" % i)
    for i in range(300):
        assert dc.client.get("a%d" % i) == b"v%d" % i
    assert items(ports[0]) > 0 and items(ports[1]) > 0, "keys not spread"
    assert items(ports[2]) == 0
    v1 = dc.version

    # Scale out: node 3 joins.
    push_config(ports, ports)
    assert dc.refresh() and dc.version == v1 + 1 and len(dc.nodes) == 3
    for i in range(300):
        dc.client.set("b%d" % i, b"w%d" % i)
    for i in range(300):
        assert dc.client.get("b%d" % i) == b"w%d" % i
    assert items(ports[2]) > 0, "added node got no keys"

    # Scale in: node 2 leaves.
    before = items(ports[1])
    push_config(ports, [ports[0], ports[2]])
    assert dc.refresh() and dc.version == v1 + 2 and len(dc.nodes) == 2
    for i in range(300):
        dc.client.set("c%d" % i, b"x%d" % i)
    for i in range(300):
        assert dc.client.get("c%d" % i) == b"x%d" % i
    assert items(ports[1]) == before, "removed node still receives keys"
    assert not dc.refresh()
    print("ok")


if __name__ == "__main__":
    main()
