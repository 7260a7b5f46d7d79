//! Which files end up marked for expiry when renders of one original overlap, and whose the
//! processing claim is: the flow against the emulator, with a sink that pauses at one point so
//! another render (or delivery) runs in between, deterministically.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use image_processor::deadline::{Deadline, DEADLINE_MARGIN};
use image_processor::flow::{self, Job};
use image_processor::make::render::RenderSettings;
use image_processor::store::manifest::Manifest;
use image_processor::store::s3::{S3Sink, S3Source, SUPERSEDED_TAG};
use image_processor::store::sides::{Sink, StoredOutput};
use media_edge_shared::status::{Outcome, StatusEvent};
use media_edge_shared::Failure;
use tokio::sync::oneshot;

use crate::support::{fixture, Harness};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pause {
    /// After the first variant is stored.
    AfterFirstStore,
    /// At the conditional write of the manifest (after its tag was read).
    ManifestWrite,
    /// When marking a version's files, before any is marked.
    Marking,
}

/// The variants bucket, pausing once at `at`: it says so on `reached` and waits for `go`.
struct Paused<'a> {
    inner: S3Sink<'a>,
    at: Pause,
    reached: Mutex<Option<oneshot::Sender<()>>>,
    go: Mutex<Option<oneshot::Receiver<()>>>,
}

impl<'a> Paused<'a> {
    fn new(inner: S3Sink<'a>, at: Pause) -> (Self, oneshot::Receiver<()>, oneshot::Sender<()>) {
        let (reached_tx, reached_rx) = oneshot::channel();
        let (go_tx, go_rx) = oneshot::channel();
        (Paused { inner, at, reached: Mutex::new(Some(reached_tx)), go: Mutex::new(Some(go_rx)) }, reached_rx, go_tx)
    }

    async fn pause(&self, here: Pause) {
        if here != self.at {
            return;
        }
        let Some(reached) = self.reached.lock().unwrap().take() else { return };
        let go = self.go.lock().unwrap().take().expect("go");
        reached.send(()).unwrap();
        go.await.unwrap();
    }
}

impl Sink for Paused<'_> {
    async fn read_manifest(&self, key: &str) -> Result<Option<Manifest>, Failure> {
        self.inner.read_manifest(key).await
    }
    async fn store(&self, output: StoredOutput) -> Result<(), Failure> {
        self.inner.store(output).await?;
        self.pause(Pause::AfterFirstStore).await;
        Ok(())
    }
    async fn tag(&self, key: &str) -> Result<Option<String>, Failure> {
        self.inner.tag(key).await
    }
    async fn store_if(&self, output: StoredOutput, expected: Option<String>) -> Result<Option<String>, Failure> {
        if output.key.ends_with("/manifest.json") {
            self.pause(Pause::ManifestWrite).await;
        }
        self.inner.store_if(output, expected).await
    }
    async fn read(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, Failure> {
        self.inner.read(key).await
    }
    async fn remove_if(&self, key: &str, expected: &str) -> Result<bool, Failure> {
        self.inner.remove_if(key, expected).await
    }
    async fn has_files(&self, prefix: &str) -> Result<bool, Failure> {
        self.inner.has_files(prefix).await
    }
    async fn mark_superseded(&self, prefix: &str) -> Result<usize, Failure> {
        self.pause(Pause::Marking).await;
        self.inner.mark_superseded(prefix).await
    }
    async fn unmark_superseded(&self, prefix: &str) -> Result<usize, Failure> {
        self.inner.unmark_superseded(prefix).await
    }
}

const KEY: &str = "uploads/C++ logo+1.jpg";

impl Harness {
    fn sink(&self) -> S3Sink<'_> {
        S3Sink { s3: &self.clients.s3, bucket: &self.wiring.names.variants_bucket }
    }

    fn source(&self) -> S3Source<'_> {
        S3Source { s3: &self.clients.s3, bucket: &self.wiring.names.originals_bucket, key: KEY }
    }

    /// Runs the flow for `KEY` as the Lambda would, with `settings`, to the end.
    async fn process_with(
        &self,
        sink: &impl Sink,
        settings: &RenderSettings,
        deadline: Option<Deadline>,
    ) -> StatusEvent {
        let config = &self.processor.config;
        let job = Job { settings, layout: &config.layout, work_root: &config.work_root, deadline, asked_effort: None };
        flow::process(&self.source(), sink, job).await.expect("processed")
    }

    async fn is_marked(&self, key: &str) -> bool {
        let tags = self.clients.s3.get_object_tagging().bucket(&self.wiring.names.variants_bucket).key(key).send();
        let tags = tags.await.unwrap();
        tags.tag_set().iter().any(|t| t.key() == SUPERSEDED_TAG && t.value() == "true")
    }

    /// Every file of one version (listed, not taken from a manifest).
    async fn version_files(&self, version: &str) -> Vec<String> {
        let prefix = self.processor.config.layout.version_prefix(KEY, version);
        let listed = self.clients.s3.list_objects_v2().bucket(&self.wiring.names.variants_bucket).prefix(prefix);
        let listed = listed.send().await.unwrap();
        let files: Vec<String> = listed.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect();
        assert!(!files.is_empty(), "version {version} has files");
        files
    }

    async fn marked_files(&self, version: &str) -> (usize, usize) {
        let files = self.version_files(version).await;
        let mut marked = 0;
        for file in &files {
            marked += usize::from(self.is_marked(file).await);
        }
        (marked, files.len())
    }
}

fn other_settings() -> RenderSettings {
    let mut settings = RenderSettings::default();
    settings.encode.jpeg_quality = 70;
    settings
}

#[tokio::test]
async fn the_loser_of_a_manifest_write_conflict_between_two_renders_is_marked() {
    // Two renders of one upload under different settings (a deploy changing them while a message
    // is retried): the second to write the manifest replaces the first's, found by the If-Match
    // conflict; the version it replaced is the one marked, not the one it read before rendering.
    let h = Harness::new("conflict").await;
    h.discard_test_event().await;
    h.upload(KEY, fixture("gray.jpg")).await;
    let (paused, reached, go) = Paused::new(h.sink(), Pause::ManifestWrite);
    let defaults = RenderSettings::default();
    let (first, other) = tokio::join!(h.process_with(&paused, &defaults, None), async {
        reached.await.unwrap();
        // The other render writes the manifest between the first's read of its tag and its write.
        let other = h.process_with(&h.sink(), &other_settings(), None).await;
        go.send(()).unwrap();
        other
    });
    assert_eq!((first.outcome, other.outcome), (Outcome::Processed, Outcome::Processed));
    let manifest = h.manifest(KEY).await;
    let (named, replaced) =
        (manifest.source_version.clone(), other.variants[0].key.split('/').nth(1).unwrap().to_string());
    assert_ne!(named, replaced);
    assert_eq!(first.manifest_key.as_deref(), Some(h.processor.config.layout.manifest_key(KEY).as_str()));
    let (marked, files) = h.marked_files(&replaced).await;
    assert_eq!(marked, files, "every file of the replaced render is marked for expiry");
    assert_eq!(h.marked_files(&named).await.0, 0, "the named render's files are not");
    assert!(h.assert_page_urls_resolve(&manifest).await > 0);
}

#[tokio::test]
async fn a_superseded_renders_own_files_are_marked() {
    let h = Harness::new("superseded-own").await;
    h.discard_test_event().await;
    h.upload(KEY, fixture("gray.jpg")).await;
    let (paused, reached, go) = Paused::new(h.sink(), Pause::ManifestWrite);
    let defaults = RenderSettings::default();
    let (old, new) = tokio::join!(h.process_with(&paused, &defaults, None), async {
        reached.await.unwrap();
        // A newer upload arrives and is processed while the older one's manifest is being written.
        h.upload(KEY, fixture("progressive.jpg")).await;
        let new = h.process_with(&h.sink(), &defaults, None).await;
        go.send(()).unwrap();
        new
    });
    assert_eq!((old.outcome, new.outcome), (Outcome::Superseded, Outcome::Processed));
    let version_of = |status: &StatusEvent| status.variants[0].key.split('/').nth(1).unwrap().to_string();
    let (marked, files) = h.marked_files(&version_of(&old)).await;
    assert_eq!(marked, files, "the superseded render's files are marked: no manifest names them");
    assert_eq!(h.marked_files(&version_of(&new)).await.0, 0);
    assert_eq!(h.manifest(KEY).await.source_version, version_of(&new));
}

#[tokio::test]
async fn marking_never_leaves_files_that_the_manifest_names_marked() {
    // v1 is named; v2 replaces it and marks v1's files. Meanwhile v1's bytes are uploaded again:
    // the same version is rendered again, written and named. Marking must not leave those live
    // files to expire.
    let h = Harness::new("mark-race").await;
    h.discard_test_event().await;
    let defaults = RenderSettings::default();
    h.upload(KEY, fixture("gray.jpg")).await;
    let v1 = h.process_with(&h.sink(), &defaults, None).await;
    h.upload(KEY, fixture("progressive.jpg")).await;
    let (paused, reached, go) = Paused::new(h.sink(), Pause::Marking);
    let (v2, again) = tokio::join!(h.process_with(&paused, &defaults, None), async {
        reached.await.unwrap();
        // v2's manifest is written and v1 is about to be marked: v1's bytes come back.
        h.upload(KEY, fixture("gray.jpg")).await;
        let again = h.process_with(&h.sink(), &defaults, None).await;
        go.send(()).unwrap();
        again
    });
    assert_eq!((v1.outcome, v2.outcome, again.outcome), (Outcome::Processed, Outcome::Processed, Outcome::Processed));
    let manifest = h.manifest(KEY).await;
    assert_eq!(manifest.source.etag, v1.source.etag, "the manifest names v1's bytes again");
    for file in manifest.variants.iter().flat_map(|v| &v.formats) {
        assert!(!h.is_marked(&file.key).await, "{} is named by the manifest but marked for expiry", file.key);
    }
    let version_of = |status: &StatusEvent| status.variants[0].key.split('/').nth(1).unwrap().to_string();
    let (marked, files) = h.marked_files(&version_of(&v2)).await;
    assert_eq!(marked, files, "v2, replaced by the re-upload, is marked");
    assert!(h.assert_page_urls_resolve(&manifest).await > 0);
}

#[tokio::test]
async fn the_claim_outlives_the_invocation_and_a_taken_over_claim_is_left_to_its_holder() {
    let h = Harness::new("claim-owner").await;
    h.discard_test_event().await;
    h.upload(KEY, fixture("gray.jpg")).await;
    let claims = |h: &Harness| {
        let list = h.clients.s3.list_objects_v2().bucket(&h.wiring.names.variants_bucket).prefix(".claims/").send();
        async move {
            let list = list.await.unwrap();
            list.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect::<Vec<_>>()
        }
    };
    let (paused, reached, go) = Paused::new(h.sink(), Pause::AfterFirstStore);
    let defaults = RenderSettings::default();
    let started_ms = media_edge_shared::status::now_epoch_ms();
    let deadline = Deadline { at: Instant::now() + Duration::from_secs(30), full_invocation: true };
    let other_claim = r#"{"expires_at_ms":99999999999999,"holder":"another delivery"}"#;
    let (status, claim_key) = tokio::join!(h.process_with(&paused, &defaults, Some(deadline)), async {
        reached.await.unwrap();
        let keys = claims(&h).await;
        assert_eq!(keys.len(), 1, "{keys:?}");
        let (body, _) = h.variant_bytes(&keys[0]).await;
        let held: serde_json::Value = serde_json::from_slice(&body).unwrap();
        // Held until the invocation's hard end (the job's deadline plus its margin) and beyond:
        // storing, committing and marking run up to that end.
        let hard_end_ms = started_ms + 30_000 + DEADLINE_MARGIN.as_millis() as u64;
        assert!(held["expires_at_ms"].as_u64().unwrap() > hard_end_ms, "{held} ends before {hard_end_ms}");
        // Another delivery takes it over (as it would once it expired).
        let put = h.clients.s3.put_object().bucket(&h.wiring.names.variants_bucket).key(&keys[0]);
        put.body(other_claim.as_bytes().to_vec().into()).send().await.unwrap();
        go.send(()).unwrap();
        keys[0].clone()
    });
    assert_eq!(status.outcome, Outcome::Processed);
    let (body, _) = h.variant_bytes(&claim_key).await;
    assert_eq!(body, other_claim.as_bytes(), "the other delivery's claim is not removed");

    // Its own claim, still its own, is removed.
    h.clients.s3.delete_object().bucket(&h.wiring.names.variants_bucket).key(&claim_key).send().await.unwrap();
    h.upload(KEY, fixture("progressive.jpg")).await;
    assert_eq!(h.process_with(&h.sink(), &defaults, None).await.outcome, Outcome::Processed);
    assert!(claims(&h).await.is_empty(), "no claim left behind");
}

/// The variants bucket, refusing every store after the first `stores` (S3 failing for a while).
struct FailsAfter<'a> {
    inner: S3Sink<'a>,
    stores: std::sync::atomic::AtomicUsize,
}

impl Sink for FailsAfter<'_> {
    async fn read_manifest(&self, key: &str) -> Result<Option<Manifest>, Failure> {
        self.inner.read_manifest(key).await
    }
    async fn store(&self, output: StoredOutput) -> Result<(), Failure> {
        let left = self.stores.load(std::sync::atomic::Ordering::SeqCst);
        if left == 0 {
            return Err(Failure::transient("injected: S3 503 SlowDown"));
        }
        self.stores.store(left - 1, std::sync::atomic::Ordering::SeqCst);
        self.inner.store(output).await
    }
    async fn tag(&self, key: &str) -> Result<Option<String>, Failure> {
        self.inner.tag(key).await
    }
    async fn store_if(&self, output: StoredOutput, expected: Option<String>) -> Result<Option<String>, Failure> {
        self.inner.store_if(output, expected).await
    }
    async fn read(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, Failure> {
        self.inner.read(key).await
    }
    async fn remove_if(&self, key: &str, expected: &str) -> Result<bool, Failure> {
        self.inner.remove_if(key, expected).await
    }
    async fn has_files(&self, prefix: &str) -> Result<bool, Failure> {
        self.inner.has_files(prefix).await
    }
    async fn mark_superseded(&self, prefix: &str) -> Result<usize, Failure> {
        self.inner.mark_superseded(prefix).await
    }
    async fn unmark_superseded(&self, prefix: &str) -> Result<usize, Failure> {
        self.inner.unmark_superseded(prefix).await
    }
}

#[tokio::test]
async fn what_a_failed_render_stored_is_marked_and_the_retry_that_succeeds_keeps_it() {
    // A render that stores some files and then fails: no manifest names them, and if its retries
    // ran out they would stay for good. Marked, the bucket's lifecycle rule expires them.
    let h = Harness::new("failed-render").await;
    h.upload(KEY, fixture("gray.jpg")).await;
    let defaults = RenderSettings::default();
    let failing = FailsAfter { inner: h.sink(), stores: 2.into() };
    let config = &h.processor.config;
    let job = Job {
        settings: &defaults,
        layout: &config.layout,
        work_root: &config.work_root,
        deadline: None,
        asked_effort: None,
    };
    let failure = flow::process(&h.source(), &failing, job).await.expect_err("the third store fails");
    assert!(failure.reason.contains("injected"), "{failure:?}");
    assert!(
        h.clients
            .s3
            .head_object()
            .bucket(&h.wiring.names.variants_bucket)
            .key(h.processor.config.layout.manifest_key(KEY))
            .send()
            .await
            .is_err(),
        "no manifest"
    );

    // The retry (S3 healthy again) stores every file and its manifest, and unmarks what it names.
    let status = h.process_with(&h.sink(), &defaults, None).await;
    assert_eq!(status.outcome, Outcome::Processed);
    let version = status.variants[0].key.split('/').nth(1).unwrap().to_string();
    let (marked, files) = h.marked_files(&version).await;
    assert_eq!(marked, 0, "{files} files of the named version, {marked} still marked");
}

#[tokio::test]
async fn what_a_failed_render_stored_is_marked_for_expiry() {
    let h = Harness::new("failed-render-marked").await;
    h.upload(KEY, fixture("gray.jpg")).await;
    let defaults = RenderSettings::default();
    let failing = FailsAfter { inner: h.sink(), stores: 2.into() };
    let config = &h.processor.config;
    let job = Job {
        settings: &defaults,
        layout: &config.layout,
        work_root: &config.work_root,
        deadline: None,
        asked_effort: None,
    };
    flow::process(&h.source(), &failing, job).await.expect_err("the third store fails");
    let prefix = format!("{}/", KEY.trim_start_matches("uploads/"));
    let listed = h.clients.s3.list_objects_v2().bucket(&h.wiring.names.variants_bucket).prefix(prefix);
    let listed = listed.send().await.unwrap();
    let files: Vec<String> = listed.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect();
    assert_eq!(files.len(), 2, "{files:?}");
    for file in &files {
        assert!(h.is_marked(file).await, "{file} is not marked for expiry");
    }
}
