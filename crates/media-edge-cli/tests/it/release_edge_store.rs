//! Release changes copied to the CloudFront KeyValueStore the edge function routes by. The
//! channel config lives in the emulator's S3; the KeyValueStore API is not in the emulator, so its
//! answers (ETags, conflicts, throttling, refusals) come from aws-smithy-mocks. Not run against AWS.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_cloudfrontkeyvaluestore::config::retry::RetryConfig;
use aws_sdk_cloudfrontkeyvaluestore::operation::describe_key_value_store::DescribeKeyValueStoreOutput;
use aws_sdk_cloudfrontkeyvaluestore::operation::get_key::{GetKeyError, GetKeyOutput};
use aws_sdk_cloudfrontkeyvaluestore::operation::put_key::{PutKeyError, PutKeyOutput};
use aws_sdk_cloudfrontkeyvaluestore::types::error::{
    ConflictException, ResourceNotFoundException, ValidationException,
};
use aws_sdk_cloudfrontkeyvaluestore::Client as KvsClient;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::body::SdkBody;
use edge_router::channel::EdgeEntry;
use media_edge_local::LocalClients;
use release_control::{EdgeStore, ReleaseControl, ReleaseError};

const ARN: &str = "arn:aws:cloudfront::123456789012:key-value-store/0f3f4b8c-9d1e-4a55-8f2e-1c2d3e4f5a6b";

fn describe_rule(etags: &'static [&'static str]) -> Rule {
    let next = Arc::new(Mutex::new(0usize));
    mock!(KvsClient::describe_key_value_store).then_compute_output(move |_| {
        let mut n = next.lock().unwrap();
        let etag = etags[(*n).min(etags.len() - 1)];
        *n += 1;
        DescribeKeyValueStoreOutput::builder()
            .item_count(1)
            .total_size_in_bytes(100)
            .kvs_arn(ARN)
            .created(aws_smithy_types::DateTime::from_secs(0))
            .e_tag(etag)
            .build()
            .unwrap()
    })
}

/// Records every accepted write as (If-Match, key, value).
fn put_rule(written: Arc<Mutex<Vec<(String, String, String)>>>) -> Rule {
    mock!(KvsClient::put_key).then_compute_output(move |r| {
        written.lock().unwrap().push((
            r.if_match().unwrap_or_default().into(),
            r.key().unwrap_or_default().into(),
            r.value().unwrap_or_default().into(),
        ));
        PutKeyOutput::builder().item_count(1).total_size_in_bytes(100).e_tag("next").build().unwrap()
    })
}

fn kvs(rules: &[&Rule]) -> KvsClient {
    mock_client!(aws_sdk_cloudfrontkeyvaluestore, RuleMode::MatchAny, rules, |c| c
        .retry_config(RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(1))))
}

async fn published(label: &str, edge: Option<EdgeStore>) -> (LocalClients, ReleaseControl) {
    assert!(std::env::var("AWS_ENDPOINT_URL").is_ok(), "run with `make test` (needs the local emulator)");
    let clients = LocalClients::from_env().await;
    // The releases bucket of a stack of infra/template.yaml.
    let wiring = media_edge_local::deploy(&clients, &format!("kvs-{label}")).await.unwrap();
    let bucket = wiring.output("ReleasesBucketName").unwrap();
    let control = ReleaseControl {
        s3: clients.s3.clone(),
        bucket,
        channel: "sdk".into(),
        cohort_count: 100,
        actor: "t".into(),
        edge,
    };
    for version in ["1.0.0", "2.0.0"] {
        let dir = std::env::temp_dir().join(format!("media-edge-kvs-{}-{label}-{version}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("sdk.js"), format!("/* {version} */")).unwrap();
        control.publish(version, &dir, false).await.unwrap();
    }
    (clients, control)
}

#[tokio::test]
async fn every_change_is_copied_to_the_store_under_the_etag_the_store_had() {
    use media_edge_local::kvs_model::KvsModel;
    // A store whose ETag moves with every write and refuses a stale one: each change must read
    // the current ETag, or the store refuses it.
    let store = KvsModel::new(ARN);
    let edge = EdgeStore { client: store.client.clone(), arn: ARN.into() };
    let (_clients, control) = published("copied", Some(edge)).await;
    let mut seen = vec![(store.etag(), store.value("sdk"))];
    for change in 0..4 {
        match change {
            0 => control.canary("2.0.0", 1).await.map(drop),
            1 => control.set_weight(25).await.map(drop),
            2 => control.rollback().await.map(drop),
            _ => control.canary("2.0.0", 5).await.map(drop),
        }
        .unwrap();
        seen.push((store.etag(), store.value("sdk")));
    }
    let values: Vec<Option<&str>> = seen.iter().map(|(_, v)| v.as_deref()).collect();
    assert_eq!(
        values,
        [
            Some(r#"{"stable":"1.0.0","weight":0}"#),
            Some(r#"{"stable":"1.0.0","canary":"2.0.0","weight":1}"#),
            Some(r#"{"stable":"1.0.0","canary":"2.0.0","weight":25}"#),
            Some(r#"{"stable":"1.0.0","weight":0}"#),
            Some(r#"{"stable":"1.0.0","canary":"2.0.0","weight":5}"#),
        ]
    );
    let etags: std::collections::HashSet<&str> = seen.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(etags.len(), 5, "each write moved the ETag: {seen:?}");
    assert_eq!((store.writes(), store.stale_writes()), (5, 0));
}

#[tokio::test]
async fn a_writer_that_read_an_older_store_retries_and_writes_the_newest_config() {
    // The store changes between this writer's read and its write (another writer, simulated by
    // the mock's conflict on E1): the write with the old ETag is refused, and the retry writes
    // with the store's new ETag. (Which config the retry writes is the S3 config read after the
    // new ETag; S3 is not changed between the attempts here.)
    let written = Arc::new(Mutex::new(Vec::new()));
    let conflict = mock!(KvsClient::put_key)
        .match_requests(|r| r.if_match() == Some("E1"))
        .then_error(|| PutKeyError::ConflictException(ConflictException::builder().message("ETag mismatch").build()));
    let (describe, put) = (describe_rule(&["E1", "E2"]), put_rule(written.clone()));
    let edge = EdgeStore { client: kvs(&[&describe, &conflict, &put]), arn: ARN.into() };
    let (clients, mut control) = published("race", None).await;
    // Bob (origin mode, no store) moves the canary; Alice then syncs the store.
    control.canary("2.0.0", 40).await.unwrap();
    control.edge = Some(edge);
    let entry = control.sync_edge().await.unwrap().unwrap();
    assert_eq!(entry, EdgeEntry { stable: "1.0.0".into(), canary: Some("2.0.0".into()), weight: 40 });
    let written = written.lock().unwrap().clone();
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(written[0].0, "E2", "the retry used the store's new ETag");
    assert_eq!(conflict.num_calls(), 1);
    drop(clients);
}

#[tokio::test]
async fn throttling_is_retried_then_reported_and_status_shows_the_store_is_behind() {
    let throttled = mock!(KvsClient::put_key).then_http_response(|| {
        let mut response = aws_smithy_runtime_api::http::Response::new(
            400u16.try_into().unwrap(),
            SdkBody::from(r#"{"message":"Rate exceeded"}"#),
        );
        response.headers_mut().insert("x-amzn-errortype", "ThrottlingException");
        response
    });
    let stored = mock!(KvsClient::get_key).then_output(|| {
        GetKeyOutput::builder()
            .key("sdk")
            .value(r#"{"stable":"1.0.0","weight":0}"#)
            .item_count(1)
            .total_size_in_bytes(30)
            .build()
            .unwrap()
    });
    let describe = describe_rule(&["E1"]);
    let (_clients, mut control) = published("throttled", None).await;
    control.edge = Some(EdgeStore { client: kvs(&[&describe, &throttled, &stored]), arn: ARN.into() });

    let result = control.canary("2.0.0", 10).await;
    let message = match result {
        Err(ReleaseError::EdgeNotUpdated(why)) => why,
        other => panic!("expected EdgeNotUpdated, got {other:?}"),
    };
    assert!(message.contains("ThrottlingException") || message.contains("Rate exceeded"), "{message}");
    assert_eq!(throttled.num_calls(), 3, "the SDK retried the throttled write");
    let error = ReleaseError::EdgeNotUpdated(message).to_string();
    assert!(error.contains("media-edge release sync"), "{error}");

    // S3 holds the canary, the store does not: status says so.
    let status = control.edge_status().await.unwrap().unwrap();
    assert!(!status.in_sync());
    assert_eq!(status.expected.unwrap().canary.as_deref(), Some("2.0.0"));
}

#[tokio::test]
async fn a_refused_entry_and_a_missing_key_are_reported() {
    let refused = mock!(KvsClient::put_key).then_error(|| {
        PutKeyError::ValidationException(ValidationException::builder().message("Value too large").build())
    });
    let missing = mock!(KvsClient::get_key).then_error(|| {
        GetKeyError::ResourceNotFoundException(ResourceNotFoundException::builder().message("no key").build())
    });
    let describe = describe_rule(&["E1"]);
    let (_clients, mut control) = published("refused", None).await;
    control.edge = Some(EdgeStore { client: kvs(&[&describe, &refused, &missing]), arn: ARN.into() });
    match control.sync_edge().await {
        Err(ReleaseError::EdgeNotUpdated(why)) => {
            assert!(why.contains("refused the entry") && why.contains("Value too large"), "{why}")
        }
        other => panic!("expected EdgeNotUpdated, got {other:?}"),
    }
    assert_eq!(refused.num_calls(), 1, "a refusal is not retried");
    let status = control.edge_status().await.unwrap().unwrap();
    assert_eq!(status.stored, None);
    assert!(!status.in_sync());
}

#[tokio::test]
async fn the_cli_without_a_store_arn_uses_the_store_the_controller_recorded_and_makes_no_useless_invalidation() {
    use media_edge_local::kvs_model::KvsModel;
    // The deployed controller routes this channel at the edge and has recorded its store.
    let store = KvsModel::new(ARN);
    let (_clients, control) =
        published("recorded", Some(EdgeStore { client: store.client.clone(), arn: ARN.into() })).await;
    control.canary("2.0.0", 20).await.unwrap();
    let current = control.read().await.unwrap();
    control.record_edge_store(current).await.unwrap();

    // An operator rolls back with neither --store-arn nor RELEASE_STORE_ARN. The emulator has no
    // KeyValueStore, so the copy fails: what matters is that the CLI tried the recorded store,
    // said so, and did not promise viewers a rollback they do not get.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_media-edge"))
        .args(["release", "--bucket", &control.bucket, "--channel", "sdk", "--by", "tester"])
        .args(["rollback", "--distribution-id", "E2EXAMPLE"])
        .env_remove("RELEASE_STORE_ARN")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "{stdout}");
    assert!(stderr.contains(&format!("using the store the release controller recorded for sdk: {ARN}")), "{stderr}");
    assert!(stderr.contains("the edge store is not"), "{stderr}");
    assert!(!stdout.contains("viewers get stable") && !stdout.contains("invalidation"), "{stdout}");
    // S3 has the rollback (the source of truth); the controller copies it when the store answers.
    let config = control.read().await.unwrap().config.unwrap();
    assert_eq!((config.canary, config.weight), (None, 0));
}

#[tokio::test]
async fn the_model_store_refuses_a_write_with_a_stale_etag() {
    use media_edge_local::kvs_model::KvsModel;
    let store = KvsModel::new(ARN);
    let edge = EdgeStore { client: store.client.clone(), arn: ARN.into() };
    let etag = edge.etag().await.unwrap();
    let entry = EdgeEntry { stable: "1.0.0".into(), canary: None, weight: 0 };
    edge.put("sdk", &entry, &etag).await.unwrap();
    assert_ne!(store.etag(), etag, "every write moves the ETag");
    assert!(matches!(edge.put("sdk", &entry, &etag).await, Err(release_control::EdgeStoreError::Conflict)));
    assert_eq!((store.writes(), store.stale_writes()), (1, 1));
}
