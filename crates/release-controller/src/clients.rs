//! What a run talks to.

/// The AWS clients a run uses (built once per sandbox in `main`).
#[derive(Clone, Debug)]
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub sns: aws_sdk_sns::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub cloudfront: aws_sdk_cloudfront::Client,
    pub kvs: aws_sdk_cloudfrontkeyvaluestore::Client,
    /// Site migrations' weighted records (`media-edge migrate`).
    pub route53: aws_sdk_route53::Client,
}
