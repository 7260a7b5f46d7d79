//! One Slack message failing must not repost the others: a transient SNS error the emulator
//! cannot produce, with aws-smithy-mocks.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_types::body::SdkBody;
use media_edge_shared::status::{FailureReport, Outcome, SourceObject, StatusEvent};
use media_edge_shared::FailureClass;
use notifier::{handle_batch, ChatbotPublisher, NotifierConfig};

fn message(id: &str, key: &str, outcome: Outcome) -> SqsMessage {
    let source = SourceObject { bucket: Some("b".into()), key: key.into(), etag: None, version_id: None };
    let mut status = StatusEvent::new("image-processor", outcome, source);
    if outcome == Outcome::Failed {
        status.failure = Some(FailureReport { class: FailureClass::Permanent, reason: "corrupt".into() });
    }
    let mut m = SqsMessage::default();
    m.message_id = Some(id.into());
    m.body = Some(serde_json::to_string(&status).unwrap());
    m
}

fn config() -> NotifierConfig {
    NotifierConfig::from_vars(&|name: &str| {
        (name == "CHATBOT_TOPIC_ARN").then(|| "arn:aws:sns:us-east-1:1:chatbot".into())
    })
    .unwrap()
}

fn sns_error(status: u16, code: &str) -> aws_smithy_runtime_api::http::Response {
    let body = format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{code}</Message></Error></ErrorResponse>"
    );
    aws_smithy_runtime_api::http::Response::new(status.try_into().unwrap(), SdkBody::from(body))
}

#[tokio::test]
async fn only_the_events_of_the_message_that_failed_come_back() {
    let posted = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = posted.clone();
    let digest_ok = mock!(aws_sdk_sns::Client::publish)
        .match_requests(move |r| {
            let ok = r.message().unwrap_or_default().contains("media-edge.digest");
            if ok {
                sink.lock().unwrap().push(r.message().unwrap_or_default().to_string());
            }
            ok
        })
        .then_output(|| PublishOutput::builder().message_id("1").build());
    let failures_throttled = mock!(aws_sdk_sns::Client::publish).then_http_response(|| sns_error(400, "Throttling"));
    let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&digest_ok, &failures_throttled], |c| c
        .retry_config(aws_sdk_sns::config::retry::RetryConfig::disabled()));
    let publisher = ChatbotPublisher::new(sns, "arn:aws:sns:us-east-1:1:chatbot");

    let mut event = SqsEvent::default();
    event.records = vec![
        message("m-ok", "uploads/a.jpg", Outcome::Processed),
        message("m-bad", "uploads/b.jpg", Outcome::Failed),
        message("m-dup", "uploads/a.jpg", Outcome::Duplicate),
    ];
    let response = handle_batch(event, &publisher, &config(), "2026-11-22T03").await;
    let retried: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(retried, ["m-bad"], "the digest was posted: its events are done");
    assert_eq!(posted.lock().unwrap().len(), 1);
    assert_eq!(failures_throttled.num_calls(), 1);
}

#[tokio::test]
async fn permanent_publish_errors_hand_the_events_back() {
    for (status, code) in [(403, "AuthorizationError"), (404, "NotFound"), (400, "KMSDisabled")] {
        let refused = mock!(aws_sdk_sns::Client::publish).then_http_response(move || sns_error(status, code));
        let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&refused]);
        let publisher = ChatbotPublisher::new(sns, "arn:aws:sns:us-east-1:1:chatbot");
        let mut event = SqsEvent::default();
        event.records =
            vec![message("m-1", "uploads/a.jpg", Outcome::Processed), message("m-2", "uploads/b.jpg", Outcome::Failed)];
        let response = handle_batch(event, &publisher, &config(), "2026-11-22T03").await;
        let retried: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(retried, ["m-1", "m-2"], "{code}: nothing acknowledged unreported");
    }
}
