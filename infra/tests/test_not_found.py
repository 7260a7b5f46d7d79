"""404 rather than 403 for a missing object: S3 answers GetObject/HeadObject on a missing key with
404 only to a caller that also has s3:ListBucket on the bucket, otherwise 403 Access Denied
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html and API_HeadObject.html,
"Permissions"). For CloudFront with OAC the caller is the distribution, so the bucket policy grants
it (AWS knowledge center: https://repost.aws/knowledge-center/s3-rest-api-cloudfront-error-403)."""
import fnmatch

import cfn

TEMPLATE = cfn.rendered()
TRANSFORMED = cfn.transformed()
DISTRIBUTION_ARN = {
    "Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${Distribution}"
}


def role_statements(function):
    return cfn.role_permissions(TRANSFORMED, cfn.function_role(TRANSFORMED, function))[0]


def test_processor_lists_the_originals_input_prefix_only():
    # AWS documents the 404 for a caller that "has the s3:ListBucket permission on the bucket";
    # whether a grant with an s3:prefix condition counts is not in its documentation (Ceph's
    # maintainers state that S3 matches the requested key as s3:prefix: ceph/ceph#68577, "to match
    # aws behavior"). So the processor does not rely on it: on a 403 it lists the key itself
    # (ListObjectsV2 with Prefix = the key), which this grant must allow for every key it processes.
    grants = [
        (resource, condition) for resource, condition in cfn.allowed(role_statements("ImageProcessorFunction"), "s3:ListBucket")
        if resource == {"Fn::GetAtt": ["OriginalsBucket", "Arn"]}
    ]
    assert grants == [
        ({"Fn::GetAtt": ["OriginalsBucket", "Arn"]}, {"StringLike": {"s3:prefix": {"Fn::Sub": "${InputPrefix}*"}}})
    ]
    (_, condition), = grants
    params = cfn.parameters(TEMPLATE)
    pattern = cfn.evaluate(condition["StringLike"]["s3:prefix"], params)
    for key in ("photo.jpg", "a/b/C++ logo.png", "samples/logo+alpha.png"):
        listed_prefix = params["InputPrefix"] + key  # the processor lists Prefix = the key
        assert fnmatch.fnmatchcase(listed_prefix, pattern), (listed_prefix, pattern)
    assert not fnmatch.fnmatchcase("other/photo.jpg", pattern)


def test_no_role_relies_on_a_prefix_conditioned_listing_for_its_404():
    # The template contradicted itself here once (the processor's prefix-conditioned grant said it
    # gave 404s, the release controller's comment said it could not). Settled: a role whose code
    # needs the 404 of a missing key gets s3:ListBucket without a condition; the one conditioned
    # grant (the processor's) belongs to code that tells a deleted upload by listing on a 403.
    conditioned = set()
    for function in cfn.resources_of(TEMPLATE, "AWS::Serverless::Function"):
        for resource, condition in cfn.allowed(role_statements(function), "s3:ListBucket"):
            if condition:
                conditioned.add(function)
    assert conditioned == {"ImageProcessorFunction"}
    source = (cfn.ROOT / "crates/image-processor/src/store/s3.rs").read_text()
    assert ".list_objects_v2()" in source and ".prefix(self.key)" in source
    for function, bucket in (("ReleaseControllerFunction", "ReleasesBucket"), ("EdgeRouterFunction", "ReleasesBucket")):
        assert cfn.allowed(role_statements(function), "s3:ListBucket") == [
            ({"Fn::GetAtt": [bucket, "Arn"]}, None)], function


def test_cloudfront_may_list_the_variants_bucket_through_oac():
    policy = TEMPLATE["Resources"]["VariantsBucketPolicy"]["Properties"]["PolicyDocument"]
    cloudfront = [
        s for s in cfn.statements(policy)
        if s["Effect"] == "Allow" and s.get("Principal") == {"Service": "cloudfront.amazonaws.com"}
    ]
    granted = {}
    for s in cloudfront:
        assert s["Condition"] == {"StringEquals": {"AWS:SourceArn": DISTRIBUTION_ARN}}, s
        for action in cfn.as_list(s["Action"]):
            granted.setdefault(action, []).extend(cfn.as_list(s["Resource"]))
    assert granted == {
        "s3:GetObject": [{"Fn::Sub": "${VariantsBucket.Arn}/*"}],
        "s3:ListBucket": [{"Fn::GetAtt": ["VariantsBucket", "Arn"]}],
    }


def test_router_reads_only_release_files_and_channel_configs_and_may_list():
    statements = role_statements("EdgeRouterFunction")
    s3_actions = {
        a for s in statements if s.get("Effect") == "Allow" for a in cfn.as_list(s["Action"]) if a.lower().startswith("s3:")
    }
    assert s3_actions == {"s3:GetObject", "s3:ListBucket"}
    get = [r for resource, _ in cfn.allowed(statements, "s3:GetObject") for r in cfn.as_list(resource)]
    assert sorted(map(str, get)) == sorted(map(str, [
        {"Fn::Sub": "${ReleasesBucket.Arn}/releases/*"},
        {"Fn::Sub": "${ReleasesBucket.Arn}/channels/*"},
    ]))
    assert cfn.allowed(statements, "s3:ListBucket") == [({"Fn::GetAtt": ["ReleasesBucket", "Arn"]}, None)]
