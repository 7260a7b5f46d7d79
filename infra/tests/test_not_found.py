"""404 rather than 403 for a missing object: S3 answers GetObject/HeadObject on a missing key with
404 only to a caller that also has s3:ListBucket on the bucket, otherwise 403 Access Denied
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html and API_HeadObject.html,
"Permissions"). For CloudFront with OAC the caller is the distribution, so the bucket policy grants
it (AWS knowledge center: https://repost.aws/knowledge-center/s3-rest-api-cloudfront-error-403)."""
import cfn

TEMPLATE = cfn.rendered()
TRANSFORMED = cfn.transformed()
DISTRIBUTION_ARN = {
    "Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${Distribution}"
}


def role_statements(function):
    return cfn.role_permissions(TRANSFORMED, cfn.function_role(TRANSFORMED, function))[0]


def test_processor_lists_the_originals_input_prefix_only():
    # Without it, HeadObject on an upload deleted before processing answers 403 and the job is
    # reported "Forbidden" instead of taking the "object no longer exists" path. That S3 checks
    # such a conditional grant with the requested key as s3:prefix is not in AWS's documentation;
    # Ceph's maintainers state it as AWS's behaviour (ceph/ceph#68577, "to match aws behavior").
    grants = [
        (resource, condition) for resource, condition in cfn.allowed(role_statements("ImageProcessorFunction"), "s3:ListBucket")
        if resource == {"Fn::GetAtt": ["OriginalsBucket", "Arn"]}
    ]
    assert grants == [
        ({"Fn::GetAtt": ["OriginalsBucket", "Arn"]}, {"StringLike": {"s3:prefix": {"Fn::Sub": "${InputPrefix}*"}}})
    ]


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
