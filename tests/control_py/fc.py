"""Shared helpers for the control-plane tests: a boto3 ElastiCache client
pointed at the ferrocache control plane (FC_ENDPOINT, credentials from the
environment), waiting for statuses, and the AWS CLI."""
import glob
import json
import os
import subprocess
import sys
import time

import boto3
import botocore.config

ENDPOINT = os.environ["FC_ENDPOINT"]
DATA_DIR = os.environ["FC_DATA_DIR"]


def client(**kw):
    cfg = botocore.config.Config(retries={"max_attempts": 1})
    return boto3.client("elasticache", endpoint_url=ENDPOINT, region_name="us-east-1", config=cfg, **kw)


def wait_cluster(ec, cid, status="available", nodes=None, timeout=60):
    t = time.time()
    while True:
        try:
            c = ec.describe_cache_clusters(CacheClusterId=cid, ShowCacheNodeInfo=True)["CacheClusters"][0]
        except ec.exceptions.CacheClusterNotFoundFault:
            if status is None:
                return None
            raise
        if c["CacheClusterStatus"] == status and (
            nodes is None
            or (len(c.get("CacheNodes", [])) == nodes and all(n["CacheNodeStatus"] == "available" for n in c["CacheNodes"]))
        ):
            return c
        if time.time() - t > timeout:
            raise AssertionError("timeout waiting for %s %s: %r" % (cid, status, c))
        time.sleep(0.2)


def wait_gone(ec, cid, timeout=60):
    t = time.time()
    while time.time() - t < timeout:
        try:
            ec.describe_cache_clusters(CacheClusterId=cid)
        except ec.exceptions.CacheClusterNotFoundFault:
            return
        time.sleep(0.2)
    raise AssertionError("cluster %s not deleted" % cid)


def wait_group(ec, gid, status="available", timeout=60):
    t = time.time()
    while True:
        g = ec.describe_replication_groups(ReplicationGroupId=gid)["ReplicationGroups"][0]
        if g["Status"] == status:
            return g
        if time.time() - t > timeout:
            raise AssertionError("timeout waiting for group %s: %r" % (gid, g))
        time.sleep(0.2)


def node_pid(cluster_id, node_id):
    [d] = glob.glob(os.path.join(DATA_DIR, "nodes", "%s-%s-*" % (cluster_id, node_id)))
    with open(os.path.join(d, "pid")) as f:
        return int(f.read())


def aws(*args):
    """Runs the AWS CLI against the control plane; returns parsed JSON."""
    cli = os.environ.get("FC_AWS_CLI", "aws")
    out = subprocess.run(
        [cli, "--endpoint-url", ENDPOINT, "--output", "json", "elasticache"] + list(args),
        capture_output=True, text=True, timeout=60,
    )
    if out.returncode != 0:
        raise AssertionError("aws %s failed: %s %s" % (" ".join(args), out.stdout, out.stderr))
    return json.loads(out.stdout) if out.stdout.strip() else {}


def events(ec, source):
    return [e["Message"] for e in ec.describe_events(SourceIdentifier=source, Duration=60)["Events"]]
