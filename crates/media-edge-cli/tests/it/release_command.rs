//! `media-edge release …` against the emulator's S3, and what the router then serves.

use crate::support::stdout;

use std::process::{Command, Output};

use media_edge_local::LocalClients;
use release_control::{ReleaseControl, ReleaseError};

fn run(bucket: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_media-edge"))
        .args(["release", "--bucket", bucket, "--channel", "sdk", "--cohorts", "10", "--by", "tester"])
        .args(args)
        .output()
        .unwrap()
}

fn release_dir(version: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("media-edge-release-{}-{version}", std::process::id()));
    std::fs::create_dir_all(dir.join("v1")).unwrap();
    std::fs::write(dir.join("v1/sdk.js"), format!("console.log('{version}')")).unwrap();
    std::fs::write(dir.join("index.html"), "<html></html>").unwrap();
    dir
}

async fn bucket(label: &str) -> (LocalClients, String) {
    assert!(std::env::var("AWS_ENDPOINT_URL").is_ok(), "run with `make test` (needs the local emulator)");
    let clients = LocalClients::from_env().await;
    // The releases bucket of a stack of infra/template.yaml.
    let wiring = media_edge_local::deploy(&clients, &format!("release-{label}")).await.unwrap();
    let bucket = wiring.output("ReleasesBucketName").unwrap();
    (clients, bucket)
}

#[tokio::test]
async fn publish_canary_widen_promote_and_roll_back() {
    let (clients, bucket) = bucket("cli").await;
    let out = stdout(&run(&bucket, &["publish", "1.0.0", release_dir("1.0.0").to_str().unwrap()]));
    assert!(out.contains("published 1.0.0: 2 files") && out.contains("1.0.0 is stable"), "{out}");
    let object = clients.s3.head_object().bucket(&bucket).key("releases/sdk/1.0.0/v1/sdk.js").send().await.unwrap();
    assert_eq!(object.content_type(), Some("text/javascript; charset=utf-8"));
    assert_eq!(object.cache_control(), Some("public, max-age=31536000, immutable"));

    // The same content again is a no-op; other content for a published version is refused.
    let out = stdout(&run(&bucket, &["publish", "1.0.0", release_dir("1.0.0").to_str().unwrap()]));
    assert!(out.contains("already published with these 2 files: nothing to do"), "{out}");
    let again = run(&bucket, &["publish", "1.0.0", release_dir("1.0.0-changed").to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already published with different content"));

    stdout(&run(&bucket, &["publish", "2.0.0", release_dir("2.0.0").to_str().unwrap()]));
    let unpublished = run(&bucket, &["canary", "3.0.0", "--weight", "10"]);
    assert!(String::from_utf8_lossy(&unpublished.stderr).contains("not published"));

    // 5% cannot be expressed with 10 cohorts: shown as the 10% it really is, with a warning.
    let out = stdout(&run(&bucket, &["canary", "2.0.0", "--weight", "5"]));
    assert!(out.contains("1 of 10 cohorts (10% of viewers)"), "{out}");
    assert!(out.contains("warning") && out.contains("5% is served as 10%"), "{out}");

    let out = stdout(&run(&bucket, &["set-weight", "50"]));
    assert!(out.contains("cohorts on canary: [0,1,2,3,4]  on stable: [5,6,7,8,9]"), "{out}");
    assert!(!out.contains("warning"));

    // Rollback withdraws the canary: nothing left to widen or promote by accident.
    let out = stdout(&run(&bucket, &["rollback"]));
    assert!(out.contains("canary  none") && out.contains("rolled back: 2.0.0"), "{out}");
    let promote = run(&bucket, &["promote"]);
    assert!(!promote.status.success());
    assert!(String::from_utf8_lossy(&promote.stderr).contains("no canary to promote (2.0.0 was rolled back)"));
    assert!(!run(&bucket, &["set-weight", "100"]).status.success());
    // Starting it again is a deliberate `canary`.
    let out = stdout(&run(&bucket, &["canary", "2.0.0", "--weight", "100"]));
    assert!(out.contains("10 of 10 cohorts") && !out.contains("rolled back"), "{out}");
    let out = stdout(&run(&bucket, &["promote"]));
    assert!(out.contains("stable  2.0.0") && out.contains("canary  none"), "{out}");

    let out = stdout(&run(&bucket, &["status"]));
    assert!(out.contains("last change") && out.contains("by tester: promote 2.0.0 to stable (was 1.0.0)"), "{out}");
    let control = ReleaseControl {
        s3: clients.s3.clone(),
        bucket: bucket.clone(),
        channel: "sdk".into(),
        cohort_count: 10,
        actor: "t".into(),
        edge: None,
    };
    let history = control.read().await.unwrap().config.unwrap().history;
    let actions: Vec<&str> = history.iter().map(|c| c.action.as_str()).collect();
    assert_eq!(actions.len(), 6, "{actions:?}");
    assert!(actions.iter().any(|a| a.starts_with("rollback: canary 2.0.0 weight 50%")), "{actions:?}");
}

#[tokio::test]
async fn concurrent_operators_cannot_overwrite_each_other() {
    let (clients, bucket) = bucket("race").await;
    stdout(&run(&bucket, &["publish", "1.0.0", release_dir("1.0.0").to_str().unwrap()]));
    stdout(&run(&bucket, &["publish", "2.0.0", release_dir("2.0.0").to_str().unwrap()]));
    stdout(&run(&bucket, &["canary", "2.0.0", "--weight", "10"]));

    let alice = ReleaseControl {
        s3: clients.s3.clone(),
        bucket: bucket.clone(),
        channel: "sdk".into(),
        cohort_count: 10,
        actor: "alice".into(),
        edge: None,
    };
    // Alice reads, then Bob changes the weight, then Alice writes on what she read.
    let stale = alice.read().await.unwrap();
    stdout(&run(&bucket, &["set-weight", "30"]));
    let result = alice.write_for_test(&stale, 60).await;
    assert!(matches!(result, Err(ReleaseError::Conflict)), "{result:?}");
    let out = stdout(&run(&bucket, &["status"]));
    assert!(out.contains("at weight 30%"), "Bob's change survives: {out}");
}

#[tokio::test]
async fn rollback_invalidates_the_channel_when_a_distribution_is_named() {
    use aws_sdk_cloudfront::types::{
        DefaultCacheBehavior, DistributionConfig, Origin, Origins, S3OriginConfig, ViewerProtocolPolicy,
    };
    let (_clients, bucket) = bucket("inval").await;
    stdout(&run(&bucket, &["publish", "1.0.0", release_dir("1.0.0").to_str().unwrap()]));
    stdout(&run(&bucket, &["publish", "2.0.0", release_dir("2.0.0").to_str().unwrap()]));
    stdout(&run(&bucket, &["canary", "2.0.0", "--weight", "50"]));

    let sdk = media_edge_shared::aws::load_sdk_config().await;
    let cloudfront = aws_sdk_cloudfront::Client::new(&sdk);
    let origin = Origin::builder()
        .id("releases")
        .domain_name(format!("{bucket}.s3.amazonaws.com"))
        .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
        .build()
        .unwrap();
    let config = DistributionConfig::builder()
        .caller_reference(bucket.clone())
        .comment("test")
        .enabled(true)
        .origins(Origins::builder().quantity(1).items(origin).build().unwrap())
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("releases")
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .cache_policy_id("658327ea-f89d-4fab-a63d-7e88639e58f6")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let created = cloudfront.create_distribution().distribution_config(config).send().await.unwrap();
    let id = created.distribution().unwrap().id().to_string();

    let out = stdout(&run(&bucket, &["rollback", "--distribution-id", &id]));
    assert!(out.contains("canary  none") && out.contains("invalidation"), "{out}");
    let listed = cloudfront.list_invalidations().distribution_id(&id).send().await.unwrap();
    let count = listed.invalidation_list().map(|l| l.quantity()).unwrap_or(0);
    assert_eq!(count, 1, "one invalidation");
    let first = listed.invalidation_list().unwrap().items()[0].id().to_string();
    let invalidation = cloudfront.get_invalidation().distribution_id(&id).id(first).send().await.unwrap();
    let paths = invalidation.invalidation().unwrap().invalidation_batch().unwrap().paths().unwrap().items().to_vec();
    assert_eq!(paths, ["/sdk", "/sdk/*"], "the bare channel root has its own behaviour and cache entries");
}

fn control(clients: &LocalClients, bucket: &str) -> ReleaseControl {
    ReleaseControl {
        s3: clients.s3.clone(),
        bucket: bucket.into(),
        channel: "sdk".into(),
        cohort_count: 10,
        actor: "t".into(),
        edge: None,
    }
}

async fn keys(clients: &LocalClients, bucket: &str, prefix: &str) -> Vec<String> {
    let listed = clients.s3.list_objects_v2().bucket(bucket).prefix(prefix).send().await.unwrap();
    listed.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect()
}

#[tokio::test]
async fn an_interrupted_publish_is_never_served_and_resumes() {
    let (clients, bucket) = bucket("resume").await;
    stdout(&run(&bucket, &["publish", "1.0.0", release_dir("1.0.0").to_str().unwrap()]));
    // What an interrupted publish of 2.0.0 leaves: its claim and one of its two files.
    let dir = release_dir("resume-2.0.0");
    let record = format!(
        r#"{{"schema":"media-edge.release","channel":"sdk","release":"2.0.0","state":"publishing","digest":"{}","files":[],"by":"crashed","started_at":"2026-12-01T00:00:00Z"}}"#,
        release_control::content_digest_of(&dir).unwrap()
    );
    clients
        .s3
        .put_object()
        .bucket(&bucket)
        .key("versions/sdk/2.0.0.json")
        .body(record.into_bytes().into())
        .send()
        .await
        .unwrap();
    let sha256: String = {
        use sha2::Digest;
        sha2::Sha256::digest(b"<html></html>").iter().map(|b| format!("{b:02x}")).collect()
    };
    clients
        .s3
        .put_object()
        .bucket(&bucket)
        .key("releases/sdk/2.0.0/index.html")
        .body(b"<html></html>".to_vec().into())
        .metadata("sha256", sha256)
        .send()
        .await
        .unwrap();

    // Not servable while incomplete: its missing file would 404 (and be cached).
    let canary = run(&bucket, &["canary", "2.0.0", "--weight", "10"]);
    assert!(String::from_utf8_lossy(&canary.stderr).contains("not completely published"), "{canary:?}");
    // Other content cannot take the claim over silently.
    let other = run(&bucket, &["publish", "2.0.0", release_dir("2.0.0-other").to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&other.stderr).contains("being published with different content"), "{other:?}");

    // Running the same publish again finishes it; the file already there is not sent again.
    let out = stdout(&run(&bucket, &["publish", "2.0.0", dir.to_str().unwrap()]));
    assert!(out.contains("(1 uploaded, 1 already in place) (resumed an interrupted publish)"), "{out}");
    stdout(&run(&bucket, &["canary", "2.0.0", "--weight", "10"]));
    let mut published = keys(&clients, &bucket, "releases/sdk/2.0.0/").await;
    published.sort();
    assert_eq!(published, ["releases/sdk/2.0.0/index.html", "releases/sdk/2.0.0/v1/sdk.js"]);
}

#[tokio::test]
async fn an_abandoned_publish_of_other_content_is_replaced_only_when_asked() {
    let (clients, bucket) = bucket("replace").await;
    stdout(&run(&bucket, &["publish", "1.0.0", release_dir("1.0.0").to_str().unwrap()]));
    let record = r#"{"schema":"media-edge.release","channel":"sdk","release":"2.0.0","state":"publishing","digest":"other","files":[],"by":"someone","started_at":"2026-12-01T00:00:00Z"}"#;
    clients
        .s3
        .put_object()
        .bucket(&bucket)
        .key("versions/sdk/2.0.0.json")
        .body(record.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
    clients
        .s3
        .put_object()
        .bucket(&bucket)
        .key("releases/sdk/2.0.0/stale.js")
        .body(b"old".to_vec().into())
        .send()
        .await
        .unwrap();
    let out =
        stdout(&run(&bucket, &["publish", "2.0.0", release_dir("2.0.0").to_str().unwrap(), "--replace-incomplete"]));
    assert!(out.contains("replaced an abandoned publish") && out.contains("removed 1 files"), "{out}");
    let mut published = keys(&clients, &bucket, "releases/sdk/2.0.0/").await;
    published.sort();
    assert_eq!(published, ["releases/sdk/2.0.0/index.html", "releases/sdk/2.0.0/v1/sdk.js"]);
}

#[tokio::test]
async fn symlinked_files_are_published_and_symlinked_directories_refused() {
    let (clients, bucket) = bucket("links").await;
    let dir = release_dir("links");
    let outside = std::env::temp_dir().join(format!("media-edge-release-outside-{}", std::process::id()));
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("shared.css"), "body{}").unwrap();
    std::os::unix::fs::symlink(outside.join("shared.css"), dir.join("shared.css")).unwrap();
    let out = stdout(&run(&bucket, &["publish", "1.0.0", dir.to_str().unwrap()]));
    assert!(out.contains("3 files"), "the linked file is published, not skipped: {out}");
    assert!(keys(&clients, &bucket, "releases/sdk/1.0.0/shared.css").await.len() == 1);

    std::os::unix::fs::symlink(&outside, dir.join("assets")).unwrap();
    let refused = run(&bucket, &["publish", "1.1.0", dir.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("symbolic link to a directory"), "{refused:?}");
    std::fs::remove_file(dir.join("assets")).unwrap();
    std::os::unix::fs::symlink(outside.join("gone.js"), dir.join("gone.js")).unwrap();
    let broken = run(&bucket, &["publish", "1.1.0", dir.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&broken.stderr).contains("broken symbolic link"), "{broken:?}");
    assert!(keys(&clients, &bucket, "releases/sdk/1.1.0/").await.is_empty(), "refused before any upload");
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&outside).unwrap();
}

#[tokio::test]
async fn two_operators_publishing_one_version_agree_or_one_is_refused() {
    let (clients, bucket) = bucket("twice").await;
    stdout(&run(&bucket, &["publish", "1.0.0", release_dir("1.0.0").to_str().unwrap()]));
    let (a, b) = (control(&clients, &bucket), control(&clients, &bucket));
    let same = release_dir("2.0.0");
    let (ra, rb) = tokio::join!(a.publish("2.0.0", &same, false), b.publish("2.0.0", &same, false));
    assert!(ra.is_ok() && rb.is_ok(), "identical content: both succeed: {ra:?} {rb:?}");
    let other = release_dir("2.0.0-other");
    let third = control(&clients, &bucket).publish("2.0.0", &other, false).await;
    assert!(matches!(third, Err(ReleaseError::Invalid(ref m)) if m.contains("different content")), "{third:?}");
    stdout(&run(&bucket, &["canary", "2.0.0", "--weight", "10"]));
}
