//! Smoke over infra/template.yaml deployed as a stack on the emulator: the processor as deployed
//! (its environment from the stack) drains the stack's jobs queue as Lambda's event source would,
//! HTTP goes through the local edge (the stack's CloudFront behaviours and functions), and the
//! KeyValueStore, which the emulator lacks, is media-edge-local's model. CloudWatch's SDK speaks
//! CBOR, which the emulator does not: DescribeAlarms answers with the alarms as the emulator
//! deployed them (read through boto3 into the stack's description), ListMetrics with the metrics
//! a test says were published, filtered as CloudWatch filters.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
use aws_sdk_cloudwatch::operation::list_metrics::ListMetricsOutput;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricAlarm, MetricDataQuery, MetricStat};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use image_processor::lambda::config::ProcessorConfig;
use image_processor::lambda::handler::{handle_batch, Processor};
use media_edge_doctor::checklist::{Checklist, Verdict};
use media_edge_doctor::smoke::{smoke, SmokeClients, SmokeOptions, RUN_PREFIX};
use media_edge_local::kvs_model::KvsModel;
use media_edge_local::local_edge::LocalEdge;
use media_edge_local::{deploy, poll_queue_in_batches_of, LocalClients, Wiring};
use media_edge_shared::aws::StatusPublisher;

struct Stack {
    clients: LocalClients,
    wiring: Arc<Wiring>,
    config: aws_config::SdkConfig,
    store: KvsModel,
}

async fn stack(label: &str) -> Stack {
    assert!(std::env::var("AWS_ENDPOINT_URL").is_ok(), "run with `make test` (needs the local emulator)");
    let clients = LocalClients::from_env().await;
    let wiring = Arc::new(deploy(&clients, label).await.unwrap());
    let store = KvsModel::new(&wiring.output("ReleaseStoreArn").unwrap());
    Stack { clients, wiring, config: media_edge_shared::aws::load_sdk_config().await, store }
}

impl Stack {
    fn smoke_clients(&self) -> SmokeClients {
        self.smoke_clients_with_metrics(Vec::new())
    }

    fn smoke_clients_with_metrics(&self, published: Vec<Published>) -> SmokeClients {
        SmokeClients {
            cloudformation: aws_sdk_cloudformation::Client::new(&self.config),
            s3: self.clients.s3.clone(),
            sns: self.clients.sns.clone(),
            sqs: self.clients.sqs.clone(),
            cloudwatch: cloudwatch(&self.wiring, published),
            kvs: self.store.client.clone(),
        }
    }

    fn options(&self, edge: &LocalEdge) -> SmokeOptions {
        SmokeOptions {
            stack: self.wiring.names.stack.clone(),
            base_url: Some(edge.url.clone()),
            timeout: Duration::from_secs(180),
            metrics_wait: Duration::ZERO,
            keep: false,
            ffmpeg: media_edge_doctor::smoke::media::find_ffmpeg(),
            progress: true,
        }
    }

    /// The processor as deployed, taking jobs from the stack's queue until `stop`.
    fn process_jobs(&self, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
        let (clients, wiring) = (self.clients.clone(), self.wiring.clone());
        tokio::spawn(async move {
            let mut environment = wiring.function_environment("ImageProcessorFunction").unwrap();
            if let Ok(ffmpeg) = std::env::var("FFMPEG_PATH") {
                environment.insert("FFMPEG_PATH".into(), ffmpeg);
            }
            let config = ProcessorConfig::from_vars(&|name: &str| environment.get(name).cloned()).unwrap();
            let status = StatusPublisher::new(clients.sns.clone(), wiring.status_topic_arn.clone());
            let processor = Processor::new(clients.s3.clone(), clients.sqs.clone(), status, config);
            while !stop.load(Ordering::Relaxed) {
                poll_queue_in_batches_of(
                    &clients.sqs,
                    &wiring.jobs_queue_url,
                    &wiring.jobs_queue_arn,
                    wiring.jobs_batch_size().unwrap(),
                    Duration::from_secs(1),
                    100,
                    |event| {
                        let processor = processor.clone();
                        async move { handle_batch(event, &processor, None).await }
                    },
                )
                .await
                .unwrap();
            }
        })
    }

    async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let listed = self.clients.s3.list_objects_v2().bucket(bucket).prefix(prefix).send().await.unwrap();
        listed.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect()
    }

    async fn status_subscriptions(&self) -> usize {
        let topic = &self.wiring.status_topic_arn;
        let listed = self.clients.sns.list_subscriptions_by_topic().topic_arn(topic).send().await.unwrap();
        listed.subscriptions().len()
    }

    /// The run's status queue, if it exists.
    async fn run_queues(&self, run: &str) -> Vec<String> {
        let name = format!("media-edge-smoke-{run}");
        let listed = self.clients.sqs.list_queues().queue_name_prefix(&name).send().await.unwrap();
        listed.queue_urls().to_vec()
    }

    /// Nothing of a run is left: probes, variants, the probe channel, its store entry, the
    /// run's queue and subscription.
    async fn assert_clean(&self, list: &Checklist, subscriptions_before: usize) {
        let w = &self.wiring;
        assert_eq!(self.keys(&w.names.originals_bucket, "").await.iter().filter(|k| k.contains(RUN_PREFIX)).count(), 0);
        assert_eq!(self.keys(&w.names.variants_bucket, RUN_PREFIX).await, Vec::<String>::new());
        let releases = w.output("ReleasesBucketName").unwrap();
        for prefix in ["channels/media-edge-probe", "releases/media-edge-probe/", "versions/media-edge-probe/"] {
            assert_eq!(self.keys(&releases, prefix).await, Vec::<String>::new(), "{prefix}");
        }
        assert_eq!(self.store.value("media-edge-probe"), None);
        assert_eq!(self.status_subscriptions().await, subscriptions_before);
        assert_eq!(self.run_queues(&run_of(list)).await, Vec::<String>::new());
    }
}

/// A metric CloudWatch has data for: namespace, name, dimensions.
type Published = (String, String, Vec<(String, String)>);

fn dimensions(json: &serde_json::Value) -> Vec<Dimension> {
    json.as_array()
        .into_iter()
        .flatten()
        .map(|d| Dimension::builder().name(d["Name"].as_str().unwrap()).value(d["Value"].as_str().unwrap()).build())
        .collect()
}

fn alarm_of(json: &serde_json::Value) -> MetricAlarm {
    let mut alarm = MetricAlarm::builder()
        .alarm_name(json["AlarmName"].as_str().unwrap())
        .set_dimensions(Some(dimensions(&json["Dimensions"])));
    if let Some(namespace) = json["Namespace"].as_str() {
        alarm = alarm.namespace(namespace).metric_name(json["MetricName"].as_str().unwrap());
    }
    for query in json["Metrics"].as_array().into_iter().flatten() {
        let mut q = MetricDataQuery::builder().id(query["Id"].as_str().unwrap());
        if let Some(expression) = query["Expression"].as_str() {
            q = q.expression(expression);
        }
        let stat = &query["MetricStat"];
        if stat.is_object() {
            let metric = Metric::builder()
                .namespace(stat["Metric"]["Namespace"].as_str().unwrap())
                .metric_name(stat["Metric"]["MetricName"].as_str().unwrap())
                .set_dimensions(Some(dimensions(&stat["Metric"]["Dimensions"])))
                .build();
            q = q.metric_stat(
                MetricStat::builder().metric(metric).period(60).stat(stat["Stat"].as_str().unwrap_or("Sum")).build(),
            );
        }
        alarm = alarm.metrics(q.build());
    }
    alarm.build()
}

fn cloudwatch(wiring: &Wiring, published: Vec<Published>) -> aws_sdk_cloudwatch::Client {
    let deployed: Vec<MetricAlarm> = wiring.stack["alarms"].as_object().unwrap().values().map(alarm_of).collect();
    assert_eq!(deployed.len(), 9, "the template's alarms, as deployed");
    let describe = mock!(aws_sdk_cloudwatch::Client::describe_alarms).then_compute_output(move |input| {
        let names = input.alarm_names();
        let alarms = deployed.iter().filter(|a| names.iter().any(|n| Some(n.as_str()) == a.alarm_name())).cloned();
        DescribeAlarmsOutput::builder().set_metric_alarms(Some(alarms.collect())).build()
    });
    let list = mock!(aws_sdk_cloudwatch::Client::list_metrics).then_compute_output(move |input| {
        let metrics = published
            .iter()
            .filter(|(namespace, name, dims)| {
                input.namespace() == Some(namespace.as_str())
                    && input.metric_name() == Some(name.as_str())
                    && input.dimensions().iter().all(|f| {
                        dims.iter().any(|(k, v)| f.name() == Some(k.as_str()) && f.value().is_none_or(|fv| fv == v))
                    })
            })
            .map(|(namespace, name, dims)| {
                let d = dims.iter().map(|(k, v)| Dimension::builder().name(k).value(v).build()).collect();
                Metric::builder().namespace(namespace).metric_name(name).set_dimensions(Some(d)).build()
            });
        ListMetricsOutput::builder().set_metrics(Some(metrics.collect())).build()
    });
    mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&describe, &list])
}

/// The run's id, as the clean-up line gives it: `… (run <id>)`.
fn run_of(list: &Checklist) -> String {
    let (_, summary) = verdict(list, "cleanup");
    let (_, run) = summary.rsplit_once("(run ").unwrap();
    run.trim_end_matches(')').to_string()
}

fn verdict(list: &Checklist, id: &str) -> (Verdict, String) {
    let check = list.get(id).unwrap_or_else(|| panic!("no check {id} in\n{}", list.to_text()));
    (check.verdict, check.summary.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn smoke_proves_the_stack_on_the_emulator_end_to_end_and_leaves_nothing_behind() {
    let stack = stack("doctor-smoke").await;
    let edge = LocalEdge::start(&stack.wiring).await.unwrap();
    let subscriptions_before = stack.status_subscriptions().await;
    let stop = Arc::new(AtomicBool::new(false));
    let processor = stack.process_jobs(stop.clone());

    let list = smoke(&stack.smoke_clients(), &stack.options(&edge), std::future::pending()).await.unwrap();
    stop.store(true, Ordering::Relaxed);
    processor.await.unwrap();
    println!("{}", list.to_text());

    for (id, formats) in
        [("smoke-photo", "avif, webp, jpeg"), ("smoke-alpha", "avif, webp, png"), ("smoke-animation", "mp4")]
    {
        let (v, summary) = verdict(&list, id);
        assert_eq!(v, Verdict::Pass, "{id}: {summary}");
        assert!(summary.contains(formats), "{id}: {summary}");
    }
    let (_, photo) = verdict(&list, "smoke-photo");
    assert!(photo.contains("4 negotiated URLs × 3 Accepts"), "{photo}");
    if std::env::var("FFMPEG_PATH").is_ok() {
        assert!(photo.contains("by ffmpeg"), "{photo}");
    }
    let (v, gone) = verdict(&list, "smoke-gone");
    assert_eq!(v, Verdict::Pass, "{gone}");
    let (v, release) = verdict(&list, "smoke-release");
    assert_eq!(v, Verdict::Pass, "{release}");
    assert!(release.contains("cohort 49 got the canary, cohort 50 stable"), "{release}");
    assert_eq!(verdict(&list, "smoke-edge-store").0, Verdict::Pass);
    let (v, fingerprint) = verdict(&list, "smoke-fingerprint");
    assert_eq!(v, Verdict::Warn);
    assert!(fingerprint.contains("plain HTTP"), "{fingerprint}");
    // Alarms do not evaluate on the emulator and nothing publishes AWS metrics there: every
    // alarm of the stack is listed, each waiting for data.
    let alarms: Vec<_> = list.checks.iter().filter(|c| c.id.starts_with("alarm ")).collect();
    assert_eq!(alarms.len(), 9, "{}", list.to_text());
    assert_eq!(verdict(&list, "cleanup").0, Verdict::Pass);
    assert!(!list.failed(), "{}", list.to_text());
    stack.assert_clean(&list, subscriptions_before).await;
}

#[tokio::test]
async fn an_interrupted_run_still_removes_what_it_made() {
    // No processor: the probes wait in the queue, and the run is interrupted while it waits.
    let stack = stack("doctor-interrupted").await;
    let edge = LocalEdge::start(&stack.wiring).await.unwrap();
    let subscriptions_before = stack.status_subscriptions().await;
    let interrupt = tokio::time::sleep(Duration::from_secs(3));
    let list = smoke(&stack.smoke_clients(), &stack.options(&edge), interrupt).await.unwrap();
    assert!(list.failed());
    assert_eq!(verdict(&list, "smoke"), (Verdict::Fail, "interrupted".to_string()));
    assert_eq!(verdict(&list, "cleanup").0, Verdict::Pass, "{}", list.to_text());
    stack.assert_clean(&list, subscriptions_before).await;
}

#[tokio::test]
async fn keep_leaves_the_probes_where_it_says() {
    let stack = stack("doctor-keep").await;
    let edge = LocalEdge::start(&stack.wiring).await.unwrap();
    let options = SmokeOptions { keep: true, ..stack.options(&edge) };
    let list = smoke(&stack.smoke_clients(), &options, tokio::time::sleep(Duration::from_secs(3))).await.unwrap();
    let (v, summary) = verdict(&list, "cleanup");
    assert_eq!(v, Verdict::Warn);
    let originals = stack.keys(&stack.wiring.names.originals_bucket, "").await;
    let kept: Vec<&String> = originals.iter().filter(|k| k.contains(RUN_PREFIX)).collect();
    assert_eq!(kept.len(), 3, "the three probes (the deleted one is gone): {originals:?}");
    assert!(
        summary.contains(&format!("s3://{}/uploads/{RUN_PREFIX}", stack.wiring.names.originals_bucket)),
        "{summary}"
    );
    assert_eq!(stack.run_queues(&run_of(&list)).await.len(), 1);
}

#[tokio::test]
async fn an_alarm_on_dimensions_the_service_never_publishes_cannot_fire_and_fails() {
    // The router's metrics as a test publishes them: its 5xx by FunctionName only (so the alarm's
    // FunctionName + Resource set is never published), its errors with every dimension the
    // alarm names.
    let stack = stack("doctor-alarms").await;
    let alarms = &stack.wiring.stack["alarms"];
    let dims_of = |logical_id: &str| -> Vec<(String, String)> {
        alarms[logical_id]["Dimensions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["Name"].as_str().unwrap().to_string(), d["Value"].as_str().unwrap().to_string()))
            .collect()
    };
    let errors = dims_of("EdgeRouterErrorsAlarm");
    let function: Vec<(String, String)> = errors.iter().filter(|(k, _)| k == "FunctionName").cloned().collect();
    let router = function[0].1.clone();
    let published = vec![
        ("AWS/Lambda".to_string(), "Url5xxCount".to_string(), function),
        ("AWS/Lambda".to_string(), "Errors".to_string(), errors),
    ];
    let clients = stack.smoke_clients_with_metrics(published);
    let smoke_stack =
        media_edge_doctor::smoke::stack::Stack::describe(&clients.cloudformation, &stack.wiring.names.stack)
            .await
            .unwrap();
    assert_eq!(smoke_stack.alarms.len(), 9, "{:?}", smoke_stack.alarms);
    let checks =
        media_edge_doctor::smoke::alarms::check(&clients.cloudwatch, &smoke_stack.alarms, Duration::ZERO).await;
    let by_id = |id: &str| checks.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("{id}: {checks:?}"));
    let five = by_id("alarm EdgeRouter5xxAlarm");
    assert_eq!(five.verdict, Verdict::Fail, "{five:?}");
    assert!(five.summary.contains(&format!("publishes it with {{FunctionName={router}}}")), "{}", five.summary);
    let errors = by_id("alarm EdgeRouterErrorsAlarm");
    assert_eq!(errors.verdict, Verdict::Pass, "{errors:?}");
    assert_eq!(by_id("alarm JobsDeadLetterAlarm").verdict, Verdict::Warn);
    let failed_originals = by_id("alarm ImageProcessorFailedOriginalsAlarm");
    assert!(failed_originals.summary.contains("MediaEdge/OriginalsFailed"), "{failed_originals:?}");
}
