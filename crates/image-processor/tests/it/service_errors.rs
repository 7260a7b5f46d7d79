//! Error paths the emulator cannot produce (throttling, 503, access denied, KMS, a 403 for a
//! missing key), with aws-smithy-mocks.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_sdk_sqs::operation::get_queue_url::GetQueueUrlOutput;
use aws_sdk_sqs::operation::send_message::SendMessageOutput;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_types::body::SdkBody;
use image_processor::lambda::config::ProcessorConfig;
use image_processor::make::render::RenderSettings;
use image_processor::store::keys::OutputLayout;
use image_processor::{handle_batch, Processor};
use media_edge_shared::aws::StatusPublisher;
use media_edge_shared::status::{Outcome, StatusEvent};
use media_edge_shared::FailureClass;

fn config() -> ProcessorConfig {
    ProcessorConfig {
        originals_bucket: "originals".into(),
        variants_bucket: "variants".into(),
        layout: OutputLayout { input_prefix: "uploads/".into(), output_prefix: String::new() },
        status_topic_arn: "arn:aws:sns:us-east-1:123456789012:status".into(),
        render: RenderSettings::default(),
        work_root: std::env::temp_dir(),
    }
}

/// An SQS client that must not be called (no rules: any call fails the test's expectations).
fn no_sqs() -> aws_sdk_sqs::Client {
    mock_client!(aws_sdk_sqs, [])
}

fn one_upload() -> SqsEvent {
    let mut message = SqsMessage::default();
    message.message_id = Some("m-1".into());
    message.event_source_arn = Some("arn:aws:sqs:us-east-1:123456789012:jobs".into());
    message.body = Some(
        r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"originals"},"object":{"key":"uploads/a.jpg","size":10}}}]}"#
            .into(),
    );
    let mut event = SqsEvent::default();
    event.records.push(message);
    event
}

fn s3_error(status: u16, code: &str) -> aws_smithy_runtime_api::http::Response {
    let body = format!("<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>{code} from mock</Message></Error>");
    aws_smithy_runtime_api::http::Response::new(status.try_into().unwrap(), SdkBody::from(body))
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_without_a_status() {
    for (status, code) in [(503, "SlowDown"), (500, "InternalError"), (429, "TooManyRequests")] {
        let head = mock!(aws_sdk_s3::Client::head_object).then_http_response(move || s3_error(status, code));
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head], |c| c
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled()));
        let publish = mock!(aws_sdk_sns::Client::publish).then_output(|| PublishOutput::builder().build());
        let sns = mock_client!(aws_sdk_sns, [&publish]);
        let processor = Processor::new(s3, no_sqs(), StatusPublisher::new(sns, "arn:status"), config());

        let response = handle_batch(one_upload(), &processor, None).await;
        let retried: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(retried, ["m-1"], "{code} is transient");
        assert_eq!(publish.num_calls(), 0, "{code}: nothing reported for a retried message");
    }
}

/// A publisher that records every message it is given.
fn recording_sns() -> (aws_sdk_sns::Client, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let published = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = published.clone();
    let publish = mock!(aws_sdk_sns::Client::publish)
        .match_requests(move |req| {
            sink.lock().unwrap().push(req.message().unwrap_or_default().to_string());
            true
        })
        .then_output(|| PublishOutput::builder().build());
    (mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&publish]), published)
}

fn listing(keys: &[&str]) -> ListObjectsV2Output {
    let objects = keys.iter().map(|k| aws_sdk_s3::types::Object::builder().key(*k).build()).collect();
    ListObjectsV2Output::builder().set_contents(Some(objects)).key_count(keys.len() as i32).build()
}

/// A 403 without a body, as S3 answers a HEAD it denies.
fn bare(status: u16) -> aws_smithy_runtime_api::http::Response {
    aws_smithy_runtime_api::http::Response::new(status.try_into().unwrap(), SdkBody::empty())
}

#[tokio::test]
async fn our_environments_faults_are_retried_not_reported_as_the_uploads() {
    // An IAM, bucket-policy, KMS or SCP mistake, a missing bucket, bad or expired credentials:
    // no upload is at fault, so none is marked failed; SQS retries, then dead-letters (alarmed).
    let cases: [(u16, &str); 9] = [
        (403, "AccessDenied"),
        (403, ""),
        // What S3 really sends for a HEAD: no body, so no code. An expired token or the wrong
        // Region answer 400: neither is the upload's fault.
        (400, ""),
        (404, "NoSuchBucket"),
        (400, "KMS.DisabledException"),
        (403, "KMS.KeyUnavailableException"),
        (403, "InvalidAccessKeyId"),
        (403, "SignatureDoesNotMatch"),
        (400, "ExpiredToken"),
    ];
    for (status, code) in cases {
        let head = mock!(aws_sdk_s3::Client::head_object).then_http_response(move || {
            if code.is_empty() {
                bare(status)
            } else {
                s3_error(status, code)
            }
        });
        // Listing (to tell a deleted upload from a denied one) is denied too.
        let list = mock!(aws_sdk_s3::Client::list_objects_v2).then_http_response(|| s3_error(403, "AccessDenied"));
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &list], |c| c
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled()));
        let (sns, published) = recording_sns();
        let processor = Processor::new(s3, no_sqs(), StatusPublisher::new(sns, "arn:status"), config());

        let response = handle_batch(one_upload(), &processor, None).await;
        let retried: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(retried, ["m-1"], "{status} {code:?} is our environment's fault: retried");
        assert!(published.lock().unwrap().is_empty(), "{status} {code:?}: no upload reported failed");
    }
}

#[tokio::test]
async fn a_deleted_upload_is_gone_whether_s3_answers_404_or_403() {
    // Without s3:ListBucket S3 answers 403 for a key that does not exist: the listing (prefix =
    // the key) tells a deleted upload (reported, not retried) from a denied one (retried).
    for (listed, gone) in
        [(vec![], true), (vec!["uploads/a.jpg/older", "uploads/a.jpgx"], true), (vec!["uploads/a.jpg"], false)]
    {
        let head = mock!(aws_sdk_s3::Client::head_object).then_http_response(|| bare(403));
        let keys = listed.clone();
        let list = mock!(aws_sdk_s3::Client::list_objects_v2)
            .match_requests(|r| r.prefix() == Some("uploads/a.jpg") && r.max_keys().is_some_and(|n| n <= 10))
            .then_output(move || listing(&keys));
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &list]);
        let (sns, published) = recording_sns();
        let processor = Processor::new(s3, no_sqs(), StatusPublisher::new(sns, "arn:status"), config());

        let response = handle_batch(one_upload(), &processor, None).await;
        assert_eq!(list.num_calls(), 1, "listed once: {listed:?}");
        let messages = published.lock().unwrap().clone();
        if gone {
            assert!(response.batch_item_failures.is_empty(), "{listed:?}");
            assert_eq!(messages.len(), 1);
            let status = StatusEvent::from_json(&messages[0]).unwrap();
            assert_eq!(status.outcome, Outcome::Failed);
            let failure = status.failure.unwrap();
            assert_eq!(failure.class, FailureClass::Permanent);
            assert!(failure.reason.contains("no longer exists"), "reported as deleted: {}", failure.reason);
        } else {
            assert_eq!(response.batch_item_failures.len(), 1, "the original exists: access is our fault");
            assert!(messages.is_empty());
        }
    }
}

#[tokio::test]
async fn a_download_denied_for_a_deleted_upload_is_gone() {
    // The HEAD saw it; deleted before the download, which S3 answers with 403 (no s3:ListBucket).
    let head = mock!(aws_sdk_s3::Client::head_object)
        .then_output(|| HeadObjectOutput::builder().e_tag("\"abc\"").content_length(5).build());
    let original = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| r.key() == Some("uploads/a.jpg"))
        .then_http_response(|| s3_error(403, "AccessDenied"));
    // The manifest and the claim do not exist yet.
    let absent = mock!(aws_sdk_s3::Client::get_object).then_http_response(|| s3_error(404, "NoSuchKey"));
    let claim =
        mock!(aws_sdk_s3::Client::put_object).then_output(|| PutObjectOutput::builder().e_tag("\"c1\"").build());
    let release = mock!(aws_sdk_s3::Client::delete_object)
        .match_requests(|r| r.if_match() == Some("\"c1\""))
        .then_output(|| DeleteObjectOutput::builder().build());
    let list = mock!(aws_sdk_s3::Client::list_objects_v2).then_output(|| listing(&[]));
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &original, &absent, &claim, &release, &list]);
    let (sns, published) = recording_sns();
    let processor = Processor::new(s3, no_sqs(), StatusPublisher::new(sns, "arn:status"), config());

    let response = handle_batch(one_upload(), &processor, None).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let messages = published.lock().unwrap().clone();
    let status = StatusEvent::from_json(&messages[0]).unwrap();
    let failure = status.failure.unwrap();
    assert_eq!(failure.class, FailureClass::Permanent);
    assert!(failure.reason.contains("no longer exists"), "{}", failure.reason);
    assert_eq!((original.num_calls(), release.num_calls()), (1, 1), "the claim is released, conditionally");
}

#[tokio::test]
async fn a_status_that_cannot_be_published_is_retried() {
    // The object exists but is not an image: a permanent failure whose report fails to publish.
    let head = mock!(aws_sdk_s3::Client::head_object)
        .then_output(|| HeadObjectOutput::builder().e_tag("\"abc\"").content_length(5).build());
    let get = mock!(aws_sdk_s3::Client::get_object).then_http_response(|| s3_error(404, "NoSuchKey"));
    // The processing claim: taken, then released.
    let claim = mock!(aws_sdk_s3::Client::put_object).then_output(|| PutObjectOutput::builder().build());
    let release = mock!(aws_sdk_s3::Client::delete_object).then_output(|| DeleteObjectOutput::builder().build());
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &get, &claim, &release]);
    let publish = mock!(aws_sdk_sns::Client::publish).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            500.try_into().unwrap(),
            SdkBody::from("<ErrorResponse><Error><Code>InternalError</Code></Error></ErrorResponse>"),
        )
    });
    let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&publish], |c| c
        .retry_config(aws_sdk_sns::config::retry::RetryConfig::disabled()));
    let processor = Processor::new(s3, no_sqs(), StatusPublisher::new(sns, "arn:status"), config());

    let response = handle_batch(one_upload(), &processor, None).await;
    assert_eq!(response.batch_item_failures.len(), 1, "the report is not lost: the message comes back");
    assert!(publish.num_calls() >= 1);
    assert_eq!((claim.num_calls(), release.num_calls()), (1, 1), "the claim is released whatever the outcome");
}

#[tokio::test]
async fn messages_left_when_time_runs_out_are_sent_again_untried() {
    // No S3 or SNS call may happen: the rules would be called, and they are not.
    let head = mock!(aws_sdk_s3::Client::head_object).then_http_response(|| s3_error(500, "InternalError"));
    let s3 = mock_client!(aws_sdk_s3, [&head]);
    let publish = mock!(aws_sdk_sns::Client::publish).then_output(|| PublishOutput::builder().build());
    let sns = mock_client!(aws_sdk_sns, [&publish]);
    let lookup = mock!(aws_sdk_sqs::Client::get_queue_url)
        .match_requests(|r| r.queue_name() == Some("jobs") && r.queue_owner_aws_account_id() == Some("123456789012"))
        .then_output(|| GetQueueUrlOutput::builder().queue_url("https://sqs.example/123456789012/jobs").build());
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = sent.clone();
    let send = mock!(aws_sdk_sqs::Client::send_message)
        .match_requests(move |r| {
            assert_eq!(r.queue_url(), Some("https://sqs.example/123456789012/jobs"));
            sink.lock().unwrap().push(r.message_body().unwrap_or_default().to_string());
            true
        })
        .then_output(|| SendMessageOutput::builder().message_id("new").build());
    let sqs = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&lookup, &send]);
    let processor = Processor::new(s3, sqs, StatusPublisher::new(sns, "arn:status"), config());

    let mut batch = one_upload();
    let mut second = batch.records[0].clone();
    second.message_id = Some("m-2".into());
    batch.records.push(second);
    let response = handle_batch(batch.clone(), &processor, Some(std::time::Instant::now())).await;
    assert!(response.batch_item_failures.is_empty(), "sent again, so acknowledged: {response:?}");
    let bodies = sent.lock().unwrap().clone();
    assert_eq!(bodies, vec![batch.records[0].body.clone().unwrap(), batch.records[1].body.clone().unwrap()]);
    assert_eq!(lookup.num_calls(), 1, "the queue URL is looked up once");
    assert_eq!(head.num_calls() + publish.num_calls(), 0, "nothing was attempted");
}

#[tokio::test]
async fn messages_that_cannot_be_sent_again_are_handed_back() {
    let s3 = mock_client!(aws_sdk_s3, []);
    let sns = mock_client!(aws_sdk_sns, []);
    let lookup = mock!(aws_sdk_sqs::Client::get_queue_url)
        .then_output(|| GetQueueUrlOutput::builder().queue_url("https://sqs.example/123456789012/jobs").build());
    let send = mock!(aws_sdk_sqs::Client::send_message).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(500.try_into().unwrap(), SdkBody::from("{}"))
    });
    let sqs = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&lookup, &send], |c| c
        .retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled()));
    let processor = Processor::new(s3, sqs, StatusPublisher::new(sns, "arn:status"), config());
    let response = handle_batch(one_upload(), &processor, Some(std::time::Instant::now())).await;
    let retried: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(retried, ["m-1"], "never acknowledged without a copy on the queue");
}
