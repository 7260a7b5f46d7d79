//! The scheduled digest window against the emulator: a promotion spike of 10,000 uploads in an
//! hour is a handful of Slack messages, every status is counted exactly once, and what could not
//! be posted comes back for the next window.

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_sdk_sns::types::PublishBatchRequestEntry;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_types::body::SdkBody;
use media_edge_local::{drain, LocalClients, Wiring};
use media_edge_shared::status::Outcome;
use notifier::chatbot::CustomNotification;
use notifier::{handle_batch, run_window, ChatbotPublisher, NotifierConfig, WindowConfig, WindowReport};

use crate::chatbot::{chatbot_messages, event, setup};

/// The window as deployed (its queue from the function's environment), reading at most `max_messages`.
fn window_config(wiring: &Wiring, max_messages: usize) -> WindowConfig {
    let environment = wiring.function_environment("NotifierFunction").unwrap();
    let deployed = WindowConfig::from_vars(&|name: &str| environment.get(name).cloned()).unwrap();
    assert_eq!(deployed.queue_url, wiring.notifier_queue_url);
    WindowConfig { max_messages, ..deployed }
}

/// Publishes status events to the status topic as the processor does (ten per request).
async fn publish_statuses(clients: &LocalClients, wiring: &Wiring, events: &[(String, Outcome)]) {
    for chunk in events.chunks(10) {
        let entries: Vec<PublishBatchRequestEntry> = chunk
            .iter()
            .enumerate()
            .map(|(i, (key, outcome))| {
                let body = serde_json::to_string(&event(key, *outcome)).unwrap();
                PublishBatchRequestEntry::builder().id(i.to_string()).message(body).build().unwrap()
            })
            .collect();
        let out = clients
            .sns
            .publish_batch()
            .topic_arn(&wiring.status_topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await
            .unwrap();
        assert!(out.failed().is_empty(), "{:?}", out.failed());
    }
}

/// Waits (up to 20 s) until the queue holds `n` messages: the test's premise is that everything
/// published is waiting when the window starts (under load the emulator's fan-out can lag its
/// PublishBatch). Returns what it last counted, for the assertions' messages: a window that reads
/// fewer than were published then says whether the missing ones ever reached the queue.
async fn wait_until_waiting(clients: &LocalClients, wiring: &Wiring, n: usize) -> QueueCounts {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let counts = queue_counts(clients, wiring).await;
        if counts.visible >= n || Instant::now() > deadline {
            return counts;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Debug)]
#[allow(dead_code)] // read through Debug, in assertion messages
struct QueueCounts {
    visible: usize,
    in_flight: usize,
}

async fn queue_counts(clients: &LocalClients, wiring: &Wiring) -> QueueCounts {
    use aws_sdk_sqs::types::QueueAttributeName as Name;
    let attributes = clients
        .sqs
        .get_queue_attributes()
        .queue_url(&wiring.notifier_queue_url)
        .attribute_names(Name::ApproximateNumberOfMessages)
        .attribute_names(Name::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let count =
        |name: &Name| attributes.attributes().and_then(|a| a.get(name)).and_then(|v| v.parse().ok()).unwrap_or(0);
    QueueCounts {
        visible: count(&Name::ApproximateNumberOfMessages),
        in_flight: count(&Name::ApproximateNumberOfMessagesNotVisible),
    }
}

async fn window(
    clients: &LocalClients,
    config: &WindowConfig,
    publisher: &ChatbotPublisher,
    notifier: &NotifierConfig,
) -> WindowReport {
    let read_until = Instant::now() + Duration::from_secs(120);
    run_window(&clients.sqs, config, publisher, notifier, "2026-11-22T03", read_until).await.unwrap()
}

/// The leading count of a summary such as "833 originals processed".
fn count(n: &CustomNotification) -> usize {
    n.metadata.summary.split(' ').next().and_then(|c| c.parse().ok()).unwrap()
}

/// Upload `n`'s status: one in 97 failed, one in 50 a repeated delivery, the rest processed.
fn outcome_of(n: usize) -> Outcome {
    match n {
        n if n % 97 == 0 => Outcome::Failed,
        n if n % 50 == 1 => Outcome::Duplicate,
        _ => Outcome::Processed,
    }
}

/// Counts the messages one window posted: exactly one digest, at most one failure list, nothing
/// else. Returns (messages, originals processed, originals failed) as the messages report them.
async fn posted_in_window(
    clients: &LocalClients,
    wiring: &Wiring,
    max_listed: usize,
    label: &str,
) -> (usize, usize, usize) {
    let messages = chatbot_messages(clients, wiring).await;
    let of =
        |kind: &str| messages.iter().filter(|(_, n)| n.metadata.event_type == kind).map(|(_, n)| n).collect::<Vec<_>>();
    let (digests, failures) = (of("media-edge.digest"), of("media-edge.failure"));
    assert_eq!(digests.len(), 1, "{label}: one digest, {messages:#?}");
    assert!(failures.len() <= 1, "{label}: at most one failure list");
    assert_eq!(messages.len(), digests.len() + failures.len(), "{label}: nothing else");
    for n in failures.iter().filter(|n| count(n) > max_listed) {
        assert!(n.content.description.contains(" more"), "{label}: a long list is capped: {}", n.content.description);
    }
    (messages.len(), count(digests[0]), failures.iter().map(|n| count(n)).sum())
}

#[tokio::test]
async fn each_window_reports_everything_waiting_in_one_digest() {
    let (clients, wiring, publisher, notifier) = setup("window").await;
    let config = window_config(&wiring, 5_000);
    let (mut upload, mut processed, mut failed) = (0, 0, 0);
    for (i, uploads) in [150usize, 400, 50].into_iter().enumerate() {
        let events: Vec<(String, Outcome)> =
            (upload..upload + uploads).map(|n| (format!("uploads/promo/{n:05}.jpg"), outcome_of(n))).collect();
        upload += uploads;
        processed += events.iter().filter(|(_, o)| *o == Outcome::Processed).count();
        failed += events.iter().filter(|(_, o)| *o == Outcome::Failed).count();
        publish_statuses(&clients, &wiring, &events).await;
        let before = wait_until_waiting(&clients, &wiring, uploads).await;

        let report = window(&clients, &config, &publisher, &notifier).await;
        let after = queue_counts(&clients, &wiring).await;
        assert_eq!(
            (report.received, report.acknowledged, report.returned, report.more_waiting),
            (uploads, uploads, 0, false),
            "window {i}: {report:?}; the queue held {before:?} before the window, {after:?} after"
        );
        let (_, reported_processed, reported_failed) =
            posted_in_window(&clients, &wiring, notifier.digest.max_listed, &format!("window {i}")).await;
        assert_eq!((reported_processed, reported_failed), (processed, failed), "window {i}");
        (processed, failed) = (0, 0);
    }
    assert!(drain(&clients.sqs, &wiring.notifier_queue_url, Duration::ZERO).await.unwrap().is_empty());
}

/// The figure the issue asks for. The emulator's SQS slows down with every message waiting in a
/// queue (each send recounts the queue), so thousands waiting per window would take minutes here:
/// the windows' batches go straight to `handle_batch`, which is what `run_window` hands them to
/// (the test above runs that part through the emulator's queue), and are posted for real.
#[tokio::test]
async fn ten_thousand_uploads_in_an_hour_are_at_most_two_messages_per_window() {
    let (clients, wiring, publisher, notifier) = setup("spike").await;
    // Uploads per 5-minute window over one hour: a promotion starts, peaks, fades.
    let per_window = [200, 300, 500, 1500, 2500, 1800, 1000, 800, 600, 400, 250, 150];
    assert_eq!(per_window.iter().sum::<usize>(), 10_000);

    let mut upload = 0usize;
    let (mut slack_messages, mut per_batch_messages) = (0usize, 0usize);
    let (mut processed, mut failed, mut duplicates) = (0usize, 0usize, 0usize);
    for (i, uploads) in per_window.iter().enumerate() {
        let outcomes: Vec<Outcome> = (upload..upload + uploads).map(outcome_of).collect();
        let mut batch = SqsEvent::default();
        batch.records = (upload..upload + uploads)
            .map(|n| {
                let status =
                    serde_json::to_string(&event(&format!("uploads/promo/{n:05}.jpg"), outcome_of(n))).unwrap();
                let mut m = SqsMessage::default();
                m.message_id = Some(format!("m-{n}"));
                m.body = Some(serde_json::json!({"Type": "Notification", "Message": status}).to_string());
                m
            })
            .collect();
        upload += uploads;
        let in_window = |o: Outcome| outcomes.iter().filter(|x| **x == o).count();
        let (p, f) = (in_window(Outcome::Processed), in_window(Outcome::Failed));
        (processed, failed, duplicates) = (processed + p, failed + f, duplicates + in_window(Outcome::Duplicate));
        // One digest per SQS batch of 10, plus a failure list when the batch had a failure.
        per_batch_messages += outcomes.chunks(10).map(|b| 1 + usize::from(b.contains(&Outcome::Failed))).sum::<usize>();

        let response = handle_batch(batch, &publisher, &notifier, "2026-11-22T03").await;
        assert!(response.batch_item_failures.is_empty(), "window {i}");
        let (messages, reported_processed, reported_failed) =
            posted_in_window(&clients, &wiring, notifier.digest.max_listed, &format!("window {i}")).await;
        assert_eq!((reported_processed, reported_failed), (p, f), "window {i}: every status counted once");
        slack_messages += messages;
    }
    assert!(duplicates > 0 && failed > 0);
    assert!(slack_messages <= 2 * per_window.len(), "{slack_messages} messages");
    println!(
        "10,000 uploads in an hour ({processed} processed, {failed} failed, {duplicates} repeated deliveries), \
         12 windows of 5 minutes: {slack_messages} Slack messages; one digest per SQS batch of 10 would have \
         posted {per_batch_messages}"
    );
}

#[tokio::test]
async fn a_window_reads_at_most_its_share_and_leaves_the_rest_for_the_next() {
    let (clients, wiring, publisher, notifier) = setup("window-cap").await;
    let events: Vec<(String, Outcome)> = (0..60).map(|n| (format!("uploads/{n}.jpg"), Outcome::Processed)).collect();
    publish_statuses(&clients, &wiring, &events).await;
    let config = window_config(&wiring, 25);

    let first = window(&clients, &config, &publisher, &notifier).await;
    assert_eq!((first.received, first.acknowledged, first.more_waiting), (25, 25, true), "{first:?}");
    let second = window(&clients, &config, &publisher, &notifier).await;
    assert_eq!((second.received, second.more_waiting), (25, true), "{second:?}");
    let third = window(&clients, &config, &publisher, &notifier).await;
    assert_eq!((third.received, third.more_waiting), (10, false), "{third:?}");
    let empty = window(&clients, &config, &publisher, &notifier).await;
    assert_eq!(empty, WindowReport::default(), "an empty window posts nothing");

    let counts: Vec<usize> = chatbot_messages(&clients, &wiring).await.iter().map(|(_, n)| count(n)).collect();
    assert_eq!(counts, [25, 25, 10]);
}

fn sns_error(status: u16, code: &str) -> aws_smithy_runtime_api::http::Response {
    let body = format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{code}</Message></Error></ErrorResponse>"
    );
    aws_smithy_runtime_api::http::Response::new(status.try_into().unwrap(), SdkBody::from(body))
}

#[tokio::test]
async fn what_could_not_be_posted_is_reported_in_the_next_window() {
    let (clients, wiring, publisher, notifier) = setup("window-retry").await;
    let events = vec![
        ("uploads/a.jpg".to_string(), Outcome::Processed),
        ("uploads/b.jpg".to_string(), Outcome::Processed),
        ("uploads/bad.jpg".to_string(), Outcome::Failed),
    ];
    publish_statuses(&clients, &wiring, &events).await;
    let config = window_config(&wiring, 100);

    // SNS takes the digest and throttles the failure list (an error the emulator cannot produce).
    let digest_ok = mock!(aws_sdk_sns::Client::publish)
        .match_requests(|r| r.message().unwrap_or_default().contains("media-edge.digest"))
        .then_output(|| PublishOutput::builder().message_id("1").build());
    let throttled = mock!(aws_sdk_sns::Client::publish).then_http_response(|| sns_error(400, "Throttling"));
    let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&digest_ok, &throttled], |c| c
        .retry_config(aws_sdk_sns::config::retry::RetryConfig::disabled()));
    let flaky = ChatbotPublisher::new(sns, wiring.chatbot_topic_arn.clone());

    let first = window(&clients, &config, &flaky, &notifier).await;
    assert_eq!((first.received, first.acknowledged, first.returned), (3, 2, 1), "{first:?}");
    assert_eq!((digest_ok.num_calls(), throttled.num_calls()), (1, 1));

    let second = window(&clients, &config, &publisher, &notifier).await;
    assert_eq!((second.received, second.acknowledged, second.returned), (1, 1, 0), "{second:?}");
    let messages = chatbot_messages(&clients, &wiring).await;
    assert_eq!(messages.len(), 1, "only the failure list, not the digest again: {messages:#?}");
    assert_eq!(messages[0].1.metadata.event_type, "media-edge.failure");
    assert!(messages[0].1.content.description.contains("uploads/bad.jpg"));
}
