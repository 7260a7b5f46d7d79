"""Every bucket aborts incomplete multipart uploads: a killed invocation (timeout, crash) or an
interrupted `release publish` leaves parts that are billed until deleted
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpu-abort-incomplete-mpu-lifecycle-config.html)."""
import cfn

TEMPLATE = cfn.rendered()
BUCKETS = cfn.resources_of(TEMPLATE, "AWS::S3::Bucket")


def test_there_are_four_buckets():
    assert set(BUCKETS) == {"OriginalsBucket", "VariantsBucket", "ReleasesBucket", "LogsBucket"}


def test_every_bucket_aborts_incomplete_multipart_uploads_everywhere():
    for name, bucket in BUCKETS.items():
        rules = bucket["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
        aborting = [
            r for r in rules
            if r.get("Status") == "Enabled" and "AbortIncompleteMultipartUpload" in r
            # the whole bucket: no prefix, tag or size filter
            and not any(k in r for k in ("Prefix", "TagFilters", "ObjectSizeGreaterThan", "ObjectSizeLessThan"))
        ]
        assert aborting, f"{name} keeps incomplete multipart uploads"
        days = int(aborting[0]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        assert 1 <= days <= 7, f"{name}: {days} days"
