//! `make demo`: the whole image pipeline on the local emulator.
//!
//! Provisions the same wiring the SAM template declares, uploads the sample media, lets S3 notify
//! SNS → SQS for real, runs the image processor's handler over the queue's messages the way Lambda
//! would, and prints what happened to each original.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use image_processor::lambda::config::ProcessorConfig;
use image_processor::{handle_batch, Processor};
use media_edge_local::{deploy, drain, poll_queue, poll_queue_in_batches_of, sns_message, LocalClients};
use media_edge_shared::aws::StatusPublisher;
use media_edge_shared::status::{Outcome, StatusEvent};
use media_edge_shared::units::human_bytes;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), media_edge_local::Error> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .map_err(|_| "AWS_ENDPOINT_URL is not set: the demo only runs against the local emulator (use `make demo`)")?;
    let samples_dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "samples".into()));

    let clients = LocalClients::from_env().await;
    println!("media-edge local demo (AWS emulator at {endpoint})\n");
    let wiring = deploy(&clients, "demo").await?;
    let names = &wiring.names;
    print_deployment(&wiring);
    let input_prefix = wiring.parameter("InputPrefix")?;
    println!(
        "\n  s3://{}/{input_prefix}* ──▶ SNS {} ──▶ SQS {}",
        names.originals_bucket, wiring.uploads_topic_arn, wiring.jobs_queue_url
    );
    println!("  ──▶ image-processor ──▶ s3://{}   status ──▶ SNS {}", names.variants_bucket, wiring.status_topic_arn);
    println!("  (dead letters after {} receives: SQS {})\n", wiring.jobs_max_receive_count()?, wiring.jobs_dlq_url);

    let mut samples = sample_files(&samples_dir)?;
    samples.sort();
    for path in &samples {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let key = format!("{input_prefix}demo/{name}");
        let bytes = std::fs::read(path)?;
        println!("  uploaded {:>9}  {key}", human_bytes(bytes.len() as u64));
        clients.s3.put_object().bucket(&names.originals_bucket).key(&key).body(bytes.into()).send().await?;
    }

    // The processor as deployed: the function's environment from the stack. Its ffmpeg is the
    // layer's at /opt/bin/ffmpeg in Lambda; here the same build under .local (FFMPEG_PATH, as make
    // sets it). VARIANTS, JPEG_QUALITY, … in this shell override the stack's, to try settings.
    let mut environment = wiring.function_environment("ImageProcessorFunction")?;
    let overrides = [
        "FFMPEG_PATH",
        "VARIANTS",
        "PICTURE_MEDIA",
        "FACES",
        "OUTPUT_FORMATS",
        "JPEG_QUALITY",
        "WEBP_QUALITY",
        "AVIF_CQ",
        "AVIF_EFFORT",
    ];
    for name in overrides {
        if let Ok(value) = std::env::var(name) {
            environment.insert(name.into(), value);
        }
    }
    let config = ProcessorConfig::from_vars(&|name: &str| environment.get(name).cloned())?;
    let status = StatusPublisher::new(clients.sns.clone(), wiring.status_topic_arn.clone());
    let processor = Processor::new(clients.s3.clone(), clients.sqs.clone(), status, config);
    // Batches as the stack's event source mapping makes them (its BatchSize).
    let batch_size = wiring.jobs_batch_size()?;
    let report = poll_queue_in_batches_of(
        &clients.sqs,
        &wiring.jobs_queue_url,
        &wiring.jobs_queue_arn,
        batch_size,
        Duration::from_secs(1),
        500,
        |event| {
            let processor = processor.clone();
            async move { handle_batch(event, &processor, None).await }
        },
    )
    .await?;
    println!(
        "\n  image-processor ran {} batch(es) over {} message(s) from the jobs queue; {} retried\n",
        report.batches, report.messages, report.retried
    );

    let mut statuses: Vec<StatusEvent> = drain(&clients.sqs, &wiring.status_queue_url, Duration::from_secs(2))
        .await?
        .iter()
        .filter_map(|body| sns_message(body).ok())
        .filter_map(|message| StatusEvent::from_json(&message).ok())
        .collect();
    statuses.sort_by(|a, b| a.source.key.cmp(&b.source.key));
    print_summary(&statuses, &names.variants_bucket);
    // Every upload must come through the stack's own wiring (notification, topic, subscription,
    // queue) and be reported: anything less is a broken template, not a demo to show.
    if statuses.len() != samples.len() {
        return Err(format!(
            "{} upload(s), {} reported: the stack's upload notification, topic, subscription or queue \
             does not bring uploads to the processor (infra/template.yaml)",
            samples.len(),
            statuses.len()
        )
        .into());
    }

    // The jobs queue's redrive as deployed: a job that fails every time it is received reaches
    // the stack's dead-letter queue, and the notifier reports it below.
    let stuck_key = format!("{input_prefix}demo/stuck.jpg");
    let receives = dead_letter_one_job(&clients.sqs, &wiring, &stuck_key).await?;
    println!("  a job for {stuck_key} failed {receives} receives and is in the jobs dead-letter queue");

    // The notifier as deployed (its environment from the stack): one digest window over its queue
    // (as its schedule runs it), then the jobs DLQ as an immediate batch; then what Slack would show.
    let notifier_environment = wiring.function_environment("NotifierFunction")?;
    let notifier_config = notifier::NotifierConfig::from_vars(&|name: &str| notifier_environment.get(name).cloned())?;
    let window = notifier::WindowConfig::from_vars(&|name: &str| notifier_environment.get(name).cloned())?;
    let publisher = notifier::ChatbotPublisher::new(clients.sns.clone(), wiring.chatbot_topic_arn.clone());
    let hour = notifier::current_hour();
    let read_until = std::time::Instant::now() + Duration::from_secs(60);
    let report = notifier::run_window(&clients.sqs, &window, &publisher, &notifier_config, &hour, read_until).await?;
    println!("\n  notifier: one digest window read {} status event(s)", report.received);
    poll_queue(&clients.sqs, &wiring.jobs_dlq_url, &wiring.jobs_dlq_arn, Duration::from_secs(1), 10, |event| {
        let (publisher, config, hour) = (publisher.clone(), notifier_config.clone(), hour.clone());
        async move { notifier::handle_batch(event, &publisher, &config, &hour).await }
    })
    .await?;
    let chatbot = drain(&clients.sqs, &wiring.chatbot_queue_url, Duration::from_secs(2)).await?;
    println!("\n  Slack (via the Chatbot topic), {} message(s):\n", chatbot.len());
    for body in chatbot {
        let message = sns_message(&body)?;
        let notification: notifier::chatbot::CustomNotification = serde_json::from_str(&message)?;
        print_chat_message(&notification);
    }

    let releases_bucket = wiring.output("ReleasesBucketName")?;
    let control = edge_router_demo(&clients, releases_bucket).await?;
    rollout_demo(&control).await?;
    local_edge_demo(&wiring, &statuses).await?;
    effort_round_demo(&clients, &wiring, &processor, &environment, &statuses).await
}

/// Views of every processed image's `pc` URL as CloudFront would log them, in the format each
/// browser negotiates: `views(key)` AVIF views and a quarter as many JPEG/PNG ones. Sizes are
/// the stored files'.
async fn simulated_day_of_views(
    s3: &aws_sdk_s3::Client,
    variants_bucket: &str,
    manifest_keys: &[String],
    views: impl Fn(&str) -> u64,
    dir: &Path,
) -> Result<(), media_edge_local::Error> {
    use image_processor::store::manifest::{url_for, Manifest};
    std::fs::create_dir_all(dir)?;
    let mut lines = vec![
        "#Version: 1.0".to_string(),
        "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) \
         cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol \
         cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type \
         cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte \
         x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end"
            .to_string(),
    ];
    for manifest_key in manifest_keys {
        let object = s3.get_object().bucket(variants_bucket).key(manifest_key).send().await?;
        let manifest: Manifest = serde_json::from_slice(&object.body.collect().await?.into_bytes())?;
        let Some(pc) = manifest.variants.iter().find(|v| v.name == "pc") else { continue };
        let (Some(url), Some(avif), Some(fallback)) = (
            pc.key.as_deref(),
            pc.formats.first(),
            pc.formats.iter().find(|f| f.format == "jpeg" || f.format == "png"),
        ) else {
            continue;
        };
        let avif_views = views(&manifest.source.key);
        for (file, count) in [(avif, avif_views), (fallback, avif_views / 4)] {
            for i in 0..count {
                lines.push(format!(
                    "2026-12-07\t{:02}:{:02}:00\tICN57-P1\t{bytes}\t192.0.2.1\tGET\td111111abcdef8.cloudfront.net\t{uri}\t\
                     200\t-\tMozilla/5.0\t-\t-\tHit\tdemo\tcdn.example.com\thttps\t300\t0.005\t-\tTLSv1.3\t\
                     TLS_AES_128_GCM_SHA256\tHit\tHTTP/2.0\t-\t-\t40000\t0.005\tHit\t{content_type}\t{bytes}\t-\t-",
                    i % 24,
                    i % 60,
                    bytes = file.bytes,
                    uri = url_for(url),
                    content_type = file.content_type,
                ));
            }
        }
    }
    std::fs::write(dir.join("E2QWRUHAPOMQZL.2026-12-07-00.demo.log"), lines.join("\n") + "\n")?;
    Ok(())
}

/// One round of "more effort where the views are": a simulated day of views of the demo's own
/// variants, `media-edge logs --hot 1` on it, `media-edge backfill --effort max --keys-from` on
/// that list (the real command, against this stack), the processor over the queue again, another
/// day of the same views of the new version, and the log report's "Re-encoded originals".
async fn effort_round_demo(
    clients: &LocalClients,
    wiring: &media_edge_local::Wiring,
    processor: &Processor,
    environment: &std::collections::HashMap<String, String>,
    statuses: &[StatusEvent],
) -> Result<(), media_edge_local::Error> {
    let variants_bucket = &wiring.names.variants_bucket;
    let manifests: Vec<String> = statuses.iter().filter_map(|s| s.manifest_key.clone()).collect();
    // The beach photo is the day's hero: most of the views.
    let views = |key: &str| if key.contains("beach") { 2_000 } else { 200 };
    let dir = PathBuf::from("target/demo/effort");
    let _ = std::fs::remove_dir_all(&dir);
    simulated_day_of_views(&clients.s3, variants_bucket, &manifests, views, &dir.join("before")).await?;
    let manifests_url = format!("s3://{variants_bucket}");
    println!("\n  More AVIF effort where the views are (a simulated day of views of the variants above):\n");
    let aggregate =
        cdn_logs::read(&[dir.join("before").display().to_string()], &cdn_logs::ReadOptions::default()).await?;
    let originals = cdn_logs::load_originals(&manifests_url, &aggregate).await?;
    let hot = cdn_logs::hot(&aggregate, 1, Some(&originals));
    println!("  media-edge logs target/demo/effort/before --hot 1 --manifests {manifests_url}");
    for line in hot.text().lines() {
        println!("    {line}");
    }
    let hot_file = dir.join("hot.json");
    std::fs::write(&hot_file, hot.json()?)?;

    let media_edge = std::env::current_exe()?.with_file_name("media-edge");
    let source = format!("s3://{}/{}", wiring.names.originals_bucket, wiring.parameter("InputPrefix")?);
    println!("\n  media-edge backfill {source} --effort max --keys-from {}", hot_file.display());
    let backfill = std::process::Command::new(&media_edge)
        .arg("backfill")
        .arg(&source)
        .args(["--effort", "max", "--keys-from"])
        .arg(&hot_file)
        .args(["--queue-url", &wiring.jobs_queue_url, "--variants-bucket", variants_bucket, "--local-settings"])
        .arg("--state")
        .arg(dir.join("backfill-state.json"))
        // Judged by the processor's settings, as `--function` would read them from the deployed one.
        .envs(environment)
        .output()?;
    for line in String::from_utf8_lossy(&backfill.stdout).lines() {
        println!("    {line}");
    }
    if !backfill.status.success() {
        return Err(format!("media-edge backfill failed: {}", String::from_utf8_lossy(&backfill.stderr)).into());
    }
    let report = poll_queue_in_batches_of(
        &clients.sqs,
        &wiring.jobs_queue_url,
        &wiring.jobs_queue_arn,
        wiring.jobs_batch_size()?,
        Duration::from_secs(1),
        50,
        |event| {
            let processor = processor.clone();
            async move { handle_batch(event, &processor, None).await }
        },
    )
    .await?;
    println!("    image-processor rendered {} original(s) again at max", report.messages);

    simulated_day_of_views(&clients.s3, variants_bucket, &manifests, views, &dir.join("after")).await?;
    let both = [dir.join("before").display().to_string(), dir.join("after").display().to_string()];
    let aggregate = cdn_logs::read(&both, &cdn_logs::ReadOptions::default()).await?;
    let mut report = cdn_logs::Report::build(&aggregate, 5);
    report.add_savings(&aggregate, &cdn_logs::load_originals(&manifests_url, &aggregate).await?);
    println!("\n  media-edge logs target/demo/effort/before target/demo/effort/after --manifests {manifests_url}");
    let text = report.text();
    let section = text.split("\n\n").find(|part| part.contains("Re-encoded originals"));
    match section {
        Some(section) => section.lines().for_each(|line| println!("  {line}")),
        None => return Err("the log report shows no re-encoded original after the backfill at max".into()),
    }
    Ok(())
}

/// What viewers get: the stack's CloudFront behaviours and functions in front of its buckets
/// (`infra/emulator/edge`), one URL per original fetched as a browser that takes AVIF, WebP or
/// neither would, and the release channel.
async fn local_edge_demo(
    wiring: &media_edge_local::Wiring,
    statuses: &[StatusEvent],
) -> Result<(), media_edge_local::Error> {
    let edge = media_edge_local::local_edge::LocalEdge::start(wiring).await?;
    let base = edge.url.clone();
    println!("\n  the local edge (infra/template.yaml's CloudFront behaviours and functions, infra/emulator/edge)");
    println!("  at {base}, one URL per original, fetched with Accept for AVIF, WebP only, neither:");
    for status in statuses.iter().filter(|s| s.outcome == Outcome::Processed) {
        let fallback = |v: &&media_edge_shared::status::VariantReport| {
            v.name == "pc" && matches!(v.content_type.as_str(), "image/jpeg" | "image/png")
        };
        let Some(still) = status.variants.iter().find(fallback) else { continue };
        let path = image_processor::store::manifest::url_for(&still.key);
        let mut got = Vec::new();
        for accept in ["image/avif,image/webp,*/*", "image/webp,*/*", "*/*"] {
            let (code, headers) = http_get(&base, &path, accept).await?;
            got.push(format!("{code} {}", headers.get("content-type").map(String::as_str).unwrap_or("-")));
        }
        println!("    {base}{path}\n      {}", got.join(" | "));
    }
    let (code, headers) = http_get(&base, "/sdk/sdk.js", "*/*").await?;
    let header = |name: &str| headers.get(name).cloned().unwrap_or_else(|| "-".into());
    println!(
        "    {base}/sdk/sdk.js\n      {code} version {} ({}), cohort {}",
        header("x-media-edge-version"),
        header("x-media-edge-channel-kind"),
        header("x-media-edge-cohort")
    );
    drop(edge);
    Ok(())
}

/// A plain HTTP/1.1 GET on the local edge: the status and the response's headers (lower case).
async fn http_get(
    base: &str,
    path: &str,
    accept: &str,
) -> Result<(u16, std::collections::HashMap<String, String>), media_edge_local::Error> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(authority).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let end = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(response.len());
    let head = String::from_utf8_lossy(&response[..end]);
    let mut lines = head.lines();
    let code = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok()).unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok((code, headers))
}

/// What was deployed: the stack, what the emulator created, and the types only the template
/// checks cover.
/// Sends a job for `key` to the jobs queue and fails every receive of it, as Lambda's event source
/// does for a function that keeps failing, then looks for it in the stack's jobs dead-letter queue
/// (left there for the notifier, the only message there). The receives it took; an error if it
/// is not there.
async fn dead_letter_one_job(
    sqs: &aws_sdk_sqs::Client,
    wiring: &media_edge_local::Wiring,
    key: &str,
) -> Result<u32, media_edge_local::Error> {
    let bucket = &wiring.names.originals_bucket;
    let record = serde_json::json!({
        "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": media_edge_shared::s3_event::encode_s3_key(key), "size": 1}},
    });
    let body = serde_json::json!({
        "Type": "Notification",
        "Subject": "Amazon S3 Notification",
        "Message": serde_json::json!({"Records": [record]}).to_string(),
    })
    .to_string();
    sqs.send_message().queue_url(&wiring.jobs_queue_url).message_body(&body).send().await?;
    let receives = wiring.jobs_max_receive_count()?;
    for _ in 0..=receives {
        sqs.receive_message().queue_url(&wiring.jobs_queue_url).visibility_timeout(0).send().await?;
    }
    // Counted, not received: a receive would add to the count the notifier reports.
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&wiring.jobs_dlq_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await?;
    let waiting = attributes
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    if waiting != 1 {
        return Err(format!(
            "a job that failed {receives} receives is not in the stack's jobs dead-letter queue ({waiting} \
             there): the jobs queue's RedrivePolicy (infra/template.yaml) does not bring failing jobs to \
             JobsDeadLetterQueue"
        )
        .into());
    }
    Ok(receives)
}

fn print_deployment(wiring: &media_edge_local::Wiring) {
    let resources = wiring.stack["resources"].as_object().map(|r| r.len()).unwrap_or(0);
    let placeholders = wiring.stack["placeholders"].as_object().cloned().unwrap_or_default();
    let placeheld: usize = placeholders.values().filter_map(|ids| ids.as_array()).map(Vec::len).sum();
    let seconds = wiring.stack["stack"]["seconds"].as_f64().unwrap_or(0.0);
    println!(
        "  infra/template.yaml deployed as stack {} in {seconds:.1} s: {} resources created on the emulator, {placeheld} left to the template checks",
        wiring.names.stack,
        resources.saturating_sub(placeheld)
    );
    let mut types: Vec<&String> = placeholders.keys().collect();
    types.sort();
    let short: Vec<&str> = types.iter().map(|t| t.trim_start_matches("AWS::")).collect();
    println!("  (not emulated: {}; see infra/emulator/unmodelled.json)", short.join(", "));
}

/// Publishes two SDK versions, puts the second on a 30% canary, and asks the router which version
/// each cohort gets (as CloudFront would on a cache miss).
/// The releases bucket is the stack's.
async fn edge_router_demo(
    clients: &LocalClients,
    bucket: String,
) -> Result<release_control::ReleaseControl, media_edge_local::Error> {
    use lambda_http::Body;
    use release_control::{describe, ReleaseControl};

    let control = ReleaseControl {
        s3: clients.s3.clone(),
        bucket: bucket.clone(),
        channel: "sdk".into(),
        cohort_count: edge_router::config::DEFAULT_COHORTS,
        actor: "demo".into(),
        edge: None,
    };
    println!("\n  Edge canary router: releases in s3://{bucket}\n");
    for version in ["1.4.0", "1.5.0"] {
        let dir = std::env::temp_dir().join(format!("media-edge-demo-release-{version}"));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("sdk.js"), format!("window.MediaEdgeSdk = {{ version: '{version}' }};\n"))?;
        let report = control.publish(version, &dir, false).await?;
        println!("  media-edge release publish {version} {}   ({} file)", dir.display(), report.files);
        std::fs::remove_dir_all(&dir)?;
    }
    let config = control.canary("1.5.0", 30).await?;
    println!("  media-edge release canary 1.5.0 --weight 30\n");
    for line in describe(&config, control.cohort_count).lines() {
        println!("    {line}");
    }
    // ReleaseRouting=edge (the template's default): `release` also writes this to the stack's
    // KeyValueStore (RELEASE_STORE_ARN), and CloudFront Functions route by it; not emulated here.
    let entry = edge_router::channel::EdgeEntry::of(&config).to_value();
    println!("\n  edge routing: the KeyValueStore entry `release` writes: sdk = {entry}");
    println!("  origin routing (the Rust router, ReleaseRouting=origin), served locally:");
    let router = edge_router::Router::new(
        clients.s3.clone(),
        edge_router::RouterConfig {
            bucket: bucket.clone(),
            channels: vec!["sdk".into()],
            cohort_count: control.cohort_count,
            config_ttl: Duration::from_secs(5),
            cache_seconds: 60,
        },
    );
    println!("\n  GET /sdk/sdk.js per cohort (x-media-edge-cohort, as the viewer-request function sets it):");
    for cohort in 0..control.cohort_count {
        let request = lambda_http::http::Request::builder()
            .uri("/sdk/sdk.js")
            .header(edge_router::cohort::COHORT_HEADER, cohort.to_string())
            .body(Body::Empty)?;
        let response = router.route(request).await;
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        println!(
            "    cohort {cohort}: {} {} ({})  cache-control: {}",
            response.status().as_u16(),
            header("x-media-edge-version"),
            header("x-media-edge-channel-kind"),
            header("cache-control")
        );
    }
    Ok(control)
}

/// A rollout as the release controller runs it, one decision per minute of a simulated clock, on
/// the channel config in the emulator's S3. The gate's state is set here: the emulator has no
/// CloudWatch the current SDK can talk to (the controller's own test mocks it the same way).
async fn rollout_demo(control: &release_control::ReleaseControl) -> Result<(), media_edge_local::Error> {
    use release_control::rollout::{GateHealth, GateReading};

    let t0 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let gates = vec!["sdk-client-errors".to_string()];
    control.rollback().await?; // the canary above is withdrawn; the rollout starts it afresh
    control.start_rollout("1.5.0", &[5, 25, 50, 100], 60, &gates, t0).await?;
    println!("\n  media-edge release rollout 1.5.0 --steps 5,25,50,100 --every 1m --gate sdk-client-errors");
    println!("  the release controller, once a minute (the gate's state set by the demo):");
    for minute in 1..=4u64 {
        let now = t0 + minute * 60;
        let (health, shown) = if minute < 3 { (GateHealth::Ok, "OK") } else { (GateHealth::Alarm, "ALARM") };
        let reading =
            GateReading { name: gates[0].clone(), health, since: if minute < 3 { t0 - 3600 } else { now - 30 } };
        let current = control.read().await?;
        let edge = release_control::rollout::EdgeSync::InSync;
        let current = match control.apply_rollout(&current, now, &[reading], &edge).await? {
            Some(applied) => applied.written,
            None => current,
        };
        // The change and its announcement were written together; the controller then hands the
        // pending announcements to the status topic (here: shown) and removes them.
        let events: Vec<_> = current.config.iter().flat_map(|c| c.pending.iter().map(|p| p.event.clone())).collect();
        let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
        control.settle_announcements(current, &ids, &[]).await?;
        let what = events
            .iter()
            .map(|e| match (e.change, e.reason.as_deref()) {
                (media_edge_shared::release_event::ReleaseChange::Operator, Some(said)) => {
                    format!("announced \"{said}\"")
                }
                (change, reason) => format!(
                    "{change:?} {}% → {}%{}",
                    e.weight_from,
                    e.weight_to,
                    reason.map(|r| format!(" ({r})")).unwrap_or_default()
                ),
            })
            .collect::<Vec<_>>()
            .join("; ");
        let what = if what.is_empty() { "nothing to do (rolled back)".to_string() } else { what };
        println!("    minute {minute}, gate {shown}: {what}");
    }
    let config = control.read().await?.config.ok_or("no channel config")?;
    println!(
        "  now: stable {}, canary {}, weight {}%, rolled back: {}",
        config.stable,
        config.canary.as_deref().unwrap_or("none"),
        config.weight,
        config.rolled_back.as_deref().unwrap_or("-")
    );
    Ok(())
}

/// A Chatbot notification as Slack would show it, roughly: bold title, body, next steps.
fn print_chat_message(n: &notifier::chatbot::CustomNotification) {
    use std::io::IsTerminal;
    let unescape = |s: &str| s.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
    let color = std::io::stdout().is_terminal();
    let (on, off) = if color { ("\x1b[1m", "\x1b[0m") } else { ("", "") };
    let bold = |s: &str| {
        // Slack's *bold* as terminal bold; other markup is shown as is.
        let mut out = String::new();
        for (i, part) in s.split('*').enumerate() {
            if i > 0 {
                out.push_str(if i % 2 == 1 { on } else { off });
            }
            out.push_str(part);
        }
        out.push_str(off);
        out
    };
    println!("  ┌ {on}{}{off}   (thread {})", unescape(&n.content.title), n.metadata.thread_id);
    for line in n.content.description.lines() {
        println!("  │ {}", bold(&unescape(line)));
    }
    for step in &n.content.next_steps {
        println!("  │ → {}", unescape(step));
    }
    println!("  └\n");
}

fn sample_files(dir: &Path) -> Result<Vec<PathBuf>, media_edge_local::Error> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry?.path();
        if path.is_file() {
            files.push(path);
        }
    }
    Ok(files)
}

fn print_summary(statuses: &[StatusEvent], variants_bucket: &str) {
    let (mut total_in, mut total_out) = (0u64, 0u64);
    for status in statuses {
        let name = status.source.key.rsplit('/').next().unwrap_or(&status.source.key);
        match status.outcome {
            Outcome::Superseded => println!("  ↷ {name}\n      replaced by a newer upload while processing\n"),
            Outcome::Failed => {
                let (class, reason) =
                    status.failure.as_ref().map(|f| (f.class.to_string(), f.reason.clone())).unwrap_or_default();
                println!("  ✘ {name}\n      {class} failure: {reason}\n");
            }
            Outcome::Processed | Outcome::Duplicate => {
                total_in += status.input_bytes;
                total_out += status.output_bytes;
                let label = if status.outcome == Outcome::Duplicate { " (duplicate delivery)" } else { "" };
                println!(
                    "  ✔ {name}{label}\n      {} in → {} variants in {} files, {} out, {} ms",
                    human_bytes(status.input_bytes),
                    status.variant_names().len(),
                    status.variants.len(),
                    human_bytes(status.output_bytes),
                    status.duration_ms
                );
                for v in &status.variants {
                    println!(
                        "        {:<10} {:>5}×{:<5} {:<10} {:>9}  s3://{variants_bucket}/{}",
                        v.name,
                        v.width,
                        v.height,
                        v.content_type,
                        human_bytes(v.bytes),
                        v.key
                    );
                }
                if let Some(manifest) = &status.manifest_key {
                    println!("        manifest   s3://{variants_bucket}/{manifest}");
                }
                println!();
            }
        }
    }
    let failed = statuses.iter().filter(|s| s.outcome == Outcome::Failed).count();
    println!(
        "  {} original(s): {} processed, {} failed; {} in, {} of variants out",
        statuses.len(),
        statuses.len() - failed,
        failed,
        human_bytes(total_in),
        human_bytes(total_out)
    );
}
