"""boto3 and the AWS CLI sign requests; wrong secrets, unknown keys and
unsigned requests are refused with AWS's error codes."""
import os
import urllib.request
import urllib.error

import botocore.exceptions
from botocore import UNSIGNED
import botocore.config
import boto3

import fc


def code_of(call):
    try:
        call()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("call succeeded")


def main():
    ok = fc.client()
    ok.describe_cache_clusters()
    fc.aws("describe-cache-clusters")
    bad = fc.client(aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"], aws_secret_access_key="x" * 40)
    assert code_of(bad.describe_cache_clusters) == ("SignatureDoesNotMatch", 403)
    unknown = fc.client(aws_access_key_id="AKIAAAAAAAAAAAAAAAAA", aws_secret_access_key="x" * 40)
    assert code_of(unknown.describe_cache_clusters) == ("InvalidClientTokenId", 403)
    unsigned = boto3.client("elasticache", endpoint_url=fc.ENDPOINT, region_name="us-east-1",
                            config=botocore.config.Config(signature_version=UNSIGNED, retries={"max_attempts": 1}))
    assert code_of(unsigned.describe_cache_clusters) == ("MissingAuthenticationToken", 403)
    # A plain GET without signature.
    try:
        urllib.request.urlopen(fc.ENDPOINT + "/?Action=DescribeCacheClusters&Version=2015-02-02")
        raise AssertionError("unsigned GET accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 403 and b"MissingAuthenticationToken" in e.read()
    print("ok")


if __name__ == "__main__":
    main()
