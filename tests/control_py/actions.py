"""Every action of the control plane through boto3 (its parser checks the
XML against botocore's model), with values checked, and errors mapped to
botocore's modeled exceptions."""
import fc


def expect(exc, call, **kw):
    try:
        call(**kw)
    except exc:
        return
    raise AssertionError("%s not raised by %s %r" % (exc, call, kw))


def main():
    ec = fc.client()
    E = ec.exceptions

    v = ec.describe_cache_engine_versions()["CacheEngineVersions"]
    assert {x["Engine"] for x in v} == {"memcached", "redis"}, v
    v = ec.describe_cache_engine_versions(Engine="redis")["CacheEngineVersions"]
    assert [x["CacheParameterGroupFamily"] for x in v] == ["redis7"], v

    d = ec.describe_engine_default_parameters(CacheParameterGroupFamily="redis7")["EngineDefaults"]
    names = {p["ParameterName"]: p for p in d["Parameters"]}
    assert names["reserved-memory-percent"]["ParameterValue"] == "25", names
    assert names["maxmemory-policy"]["ChangeType"] == "immediate"

    groups = ec.describe_cache_parameter_groups()["CacheParameterGroups"]
    assert {"default.redis7", "default.memcached1.6"} <= {g["CacheParameterGroupName"] for g in groups}
    g = ec.create_cache_parameter_group(CacheParameterGroupName="mine", CacheParameterGroupFamily="redis7",
                                        Description="mine")["CacheParameterGroup"]
    assert g["ARN"].endswith(":parametergroup:mine"), g
    expect(E.CacheParameterGroupAlreadyExistsFault, ec.create_cache_parameter_group,
           CacheParameterGroupName="mine", CacheParameterGroupFamily="redis7", Description="x")
    expect(E.InvalidParameterValueException, ec.create_cache_parameter_group,
           CacheParameterGroupName="x", CacheParameterGroupFamily="redis2", Description="x")
    r = ec.modify_cache_parameter_group(CacheParameterGroupName="mine", ParameterNameValues=[
        {"ParameterName": "maxmemory-policy", "ParameterValue": "allkeys-lru"},
        {"ParameterName": "databases", "ParameterValue": "32"}])
    assert r["CacheParameterGroupName"] == "mine"
    expect(E.InvalidParameterValueException, ec.modify_cache_parameter_group, CacheParameterGroupName="mine",
           ParameterNameValues=[{"ParameterName": "maxmemory-policy", "ParameterValue": "bogus"}])
    expect(E.InvalidParameterValueException, ec.modify_cache_parameter_group, CacheParameterGroupName="default.redis7",
           ParameterNameValues=[{"ParameterName": "timeout", "ParameterValue": "30"}])
    ps = ec.describe_cache_parameters(CacheParameterGroupName="mine", Source="user")["Parameters"]
    assert {p["ParameterName"]: p["ParameterValue"] for p in ps} == {"maxmemory-policy": "allkeys-lru", "databases": "32"}, ps

    # A redis cluster on the custom group: immediate parameters are set by
    # CONFIG SET, the rest wait for a reboot.
    c = ec.create_cache_cluster(CacheClusterId="r1", Engine="redis", CacheNodeType="cache.t4g.micro",
                                NumCacheNodes=1, CacheParameterGroupName="mine",
                                Tags=[{"Key": "env", "Value": "test"}])["CacheCluster"]
    assert c["CacheClusterStatus"] == "creating" and c["Engine"] == "redis"
    expect(E.CacheClusterAlreadyExistsFault, ec.create_cache_cluster, CacheClusterId="r1", Engine="redis",
           CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    expect(E.InvalidParameterValueException, ec.create_cache_cluster, CacheClusterId="r2", Engine="redis",
           CacheNodeType="cache.t4g.micro", NumCacheNodes=2)
    expect(E.InvalidParameterValueException, ec.create_cache_cluster, CacheClusterId="r2", Engine="redis",
           CacheNodeType="cache.huge", NumCacheNodes=1)
    expect(E.CacheParameterGroupNotFoundFault, ec.create_cache_cluster, CacheClusterId="r2", Engine="redis",
           CacheNodeType="cache.t4g.micro", NumCacheNodes=1, CacheParameterGroupName="nope")
    expect(E.InvalidParameterCombinationException, ec.create_cache_cluster, CacheClusterId="r2", Engine="memcached",
           CacheNodeType="cache.t4g.micro", NumCacheNodes=1, CacheParameterGroupName="mine")
    c = fc.wait_cluster(ec, "r1", nodes=1)
    import redis
    node = c["CacheNodes"][0]["Endpoint"]
    rc = redis.Redis(host=node["Address"], port=node["Port"])
    assert rc.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"
    assert rc.config_get("databases")["databases"] == "32"
    ec.modify_cache_parameter_group(CacheParameterGroupName="mine", ParameterNameValues=[
        {"ParameterName": "maxmemory-policy", "ParameterValue": "volatile-ttl"}])
    assert rc.config_get("maxmemory-policy")["maxmemory-policy"] == "volatile-ttl"
    ec.reset_cache_parameter_group(CacheParameterGroupName="mine", ParameterNameValues=[{"ParameterName": "maxmemory-policy"}])
    assert rc.config_get("maxmemory-policy")["maxmemory-policy"] == "volatile-lru"
    expect(E.InvalidCacheParameterGroupStateFault, ec.delete_cache_parameter_group, CacheParameterGroupName="mine")

    c = ec.describe_cache_clusters(CacheClusterId="r1", ShowCacheNodeInfo=True)["CacheClusters"][0]
    assert c["CacheParameterGroup"]["ParameterApplyStatus"] == "in-sync", c
    # A requires-reboot parameter: pending until the node reboots.
    ec.modify_cache_parameter_group(CacheParameterGroupName="mine", ParameterNameValues=[
        {"ParameterName": "databases", "ParameterValue": "20"}])
    c = ec.describe_cache_clusters(CacheClusterId="r1", ShowCacheNodeInfo=True)["CacheClusters"][0]
    assert c["CacheParameterGroup"]["ParameterApplyStatus"] == "pending-reboot", c
    assert c["CacheParameterGroup"]["CacheNodeIdsToReboot"] == ["0001"], c
    assert c["CacheNodes"][0]["ParameterGroupStatus"] == "pending-reboot", c

    # Reboot.
    r = ec.reboot_cache_cluster(CacheClusterId="r1", CacheNodeIdsToReboot=["0001"])["CacheCluster"]
    assert r["CacheClusterStatus"] == "rebooting cache cluster nodes", r
    expect(E.InvalidCacheClusterStateFault, ec.reboot_cache_cluster, CacheClusterId="r1", CacheNodeIdsToReboot=["0001"])
    fc.wait_cluster(ec, "r1", nodes=1)
    ev = fc.events(ec, "r1")
    assert "Cache node 0001 restarted" in ev, ev
    c = ec.describe_cache_clusters(CacheClusterId="r1", ShowCacheNodeInfo=True)["CacheClusters"][0]
    assert c["CacheParameterGroup"]["ParameterApplyStatus"] == "in-sync", c
    rc = redis.Redis(host=node["Address"], port=node["Port"])
    assert rc.config_get("databases")["databases"] == "20"

    # Tags.
    arn = c["ARN"]
    assert ec.list_tags_for_resource(ResourceName=arn)["TagList"] == [{"Key": "env", "Value": "test"}]
    t = ec.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "env", "Value": "prod"}])["TagList"]
    assert sorted((x["Key"], x["Value"]) for x in t) == [("a", "1"), ("env", "prod")], t
    t = ec.remove_tags_from_resource(ResourceName=arn, TagKeys=["a"])["TagList"]
    assert t == [{"Key": "env", "Value": "prod"}], t
    expect(E.CacheClusterNotFoundFault, ec.list_tags_for_resource, ResourceName=arn.replace(":r1", ":zz"))
    expect(E.InvalidARNFault, ec.list_tags_for_resource, ResourceName="arn:bogus")

    # Pagination over 22 memcached clusters... kept small: 21 one-node clusters.
    for i in range(21):
        ec.create_cache_cluster(CacheClusterId="m%02d" % i, Engine="memcached", CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    p1 = ec.describe_cache_clusters(MaxRecords=20)
    assert len(p1["CacheClusters"]) == 20 and "Marker" in p1, p1.keys()
    p2 = ec.describe_cache_clusters(MaxRecords=20, Marker=p1["Marker"])
    ids = [c["CacheClusterId"] for c in p1["CacheClusters"] + p2["CacheClusters"]]
    assert len(ids) == 22 and len(set(ids)) == 22 and "Marker" not in p2, ids
    pages = list(ec.get_paginator("describe_cache_clusters").paginate(PaginationConfig={"PageSize": 20}))
    assert sum(len(p["CacheClusters"]) for p in pages) == 22
    expect(E.InvalidParameterValueException, ec.describe_cache_clusters, MaxRecords=5)
    for i in range(21):
        fc.wait_cluster(ec, "m%02d" % i)
        ec.delete_cache_cluster(CacheClusterId="m%02d" % i)
    expect(E.CacheClusterNotFoundFault, ec.delete_cache_cluster, CacheClusterId="nope")
    expect(E.CacheClusterNotFoundFault, ec.modify_cache_cluster, CacheClusterId="nope", NumCacheNodes=2)

    ev = ec.describe_events(SourceType="cache-cluster", MaxRecords=20)
    assert len(ev["Events"]) == 20 and "Marker" in ev
    ev = ec.describe_events(SourceType="cache-parameter-group")["Events"]
    assert any(e["SourceIdentifier"] == "mine" for e in ev), ev

    ec.delete_cache_cluster(CacheClusterId="r1")
    fc.wait_gone(ec, "r1")
    for i in range(21):
        fc.wait_gone(ec, "m%02d" % i)
    ec.delete_cache_parameter_group(CacheParameterGroupName="mine")
    expect(E.CacheParameterGroupNotFoundFault, ec.describe_cache_parameters, CacheParameterGroupName="mine")
    expect(E.InvalidCacheParameterGroupStateFault, ec.delete_cache_parameter_group, CacheParameterGroupName="default.redis7")
    print("ok")


if __name__ == "__main__":
    main()
