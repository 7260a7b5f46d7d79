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


def test_superseded_variants_expire_by_the_processors_tag():
    import cfn as _cfn

    template = _cfn.rendered()
    rules = template["Resources"]["VariantsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    (rule,) = [r for r in rules if r["Id"] == "expire-superseded-variants"]
    assert rule["TagFilters"] == [{"Key": "media-edge-superseded", "Value": "true"}]
    assert rule["ExpirationInDays"] == {"Ref": "SupersededVariantsDays"}
    source = (_cfn.ROOT / "crates/image-processor/src/store/s3.rs").read_text()
    assert 'pub const SUPERSEDED_TAG: &str = "media-edge-superseded";' in source
    role = template["Resources"]["ImageProcessorRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    (marks,) = [s for s in _cfn.statements(role) if s.get("Sid") == "MarkSupersededVariants"]
    assert marks["Action"] == "s3:PutObjectTagging"
