#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The release controller against the emulator: channel configs in its S3, announcements through
//! its SNS status topic to the notifier's queue, and the notifier's digest window posting to the
//! Chatbot topic (what Slack gets). CloudWatch alarms come from aws-smithy-mocks, their state set
//! by the test: moto 5.2.5 does not speak the rpcv2Cbor protocol the current CloudWatch SDK uses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
use aws_sdk_cloudwatch::types::{MetricAlarm, StateValue};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use edge_router::channel::{ChannelConfig, RolloutState};
use media_edge_local::kvs_model::{KvsModel, Outage};
use media_edge_local::{deploy, drain, sns_message, LocalClients, Wiring};
use media_edge_shared::release_event::ReleaseChange;
use notifier::chatbot::CustomNotification;
use notifier::{run_window, ChatbotPublisher, NotifierConfig, WindowConfig};
use release_control::{EdgeStore, ReleaseControl};
use release_controller::{run_once, Clients, ControllerConfig};

type Alarms = Arc<Mutex<HashMap<String, (StateValue, i64)>>>;

/// DescribeAlarms answered from `alarms` (name → state, since), as CloudWatch would.
fn describe_alarms(alarms: Alarms) -> Rule {
    mock!(aws_sdk_cloudwatch::Client::describe_alarms).then_compute_output(move |input| {
        let alarms = alarms.lock().unwrap();
        let found = input
            .alarm_names()
            .iter()
            .filter_map(|name| alarms.get(name).map(|(state, since)| (name, state, since)))
            .map(|(name, state, since)| {
                // CloudWatch moves StateUpdatedTimestamp also when only the reason changes: here
                // later than the transition, so a controller reading the wrong one would wait.
                MetricAlarm::builder()
                    .alarm_name(name)
                    .state_value(state.clone())
                    .state_transitioned_timestamp(aws_smithy_types::DateTime::from_secs(*since))
                    .state_updated_timestamp(aws_smithy_types::DateTime::from_secs(*since + 9 * 60))
                    .build()
            })
            .collect();
        DescribeAlarmsOutput::builder().set_metric_alarms(Some(found)).build()
    })
}

struct Setup {
    clients: LocalClients,
    wiring: Wiring,
    controller: Clients,
    config: ControllerConfig,
    control: ReleaseControl,
    alarms: Alarms,
    _rule: Rule,
}

async fn setup(label: &str) -> Setup {
    assert!(std::env::var("AWS_ENDPOINT_URL").is_ok(), "run with `make test` (needs the local emulator)");
    let clients = LocalClients::from_env().await;
    let wiring = deploy(&clients, label).await.unwrap();
    let alarms: Alarms = Arc::default();
    let rule = describe_alarms(alarms.clone());
    let cloudwatch = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&rule]);
    let sdk = media_edge_shared::aws::load_sdk_config().await;
    let controller = Clients {
        s3: clients.s3.clone(),
        sns: clients.sns.clone(),
        cloudwatch,
        cloudfront: aws_sdk_cloudfront::Client::new(&sdk),
        kvs: aws_sdk_cloudfrontkeyvaluestore::Client::new(&sdk),
        route53: aws_sdk_route53::Client::new(&sdk),
    };
    // The controller as deployed: its bucket, channels and topic from the function's environment.
    // The store and the distribution are CloudFront's, which the emulator does not model
    // (placeholders): each test says which routing it is about.
    let environment = wiring.function_environment("ReleaseControllerFunction").unwrap();
    let deployed = ControllerConfig::from_vars(&|name: &str| environment.get(name).cloned()).unwrap();
    assert_eq!(deployed.status_topic_arn, wiring.status_topic_arn);
    assert!(deployed.channels.contains(&"sdk".to_string()), "{:?}", deployed.channels);
    let config = ControllerConfig { store_arn: None, distribution_id: None, ..deployed };
    let bucket = config.bucket.clone();
    let control = ReleaseControl {
        s3: clients.s3.clone(),
        bucket,
        channel: "sdk".into(),
        cohort_count: 100,
        actor: "operator".into(),
        edge: None,
    };
    for version in ["1.4.0", "1.5.0"] {
        let dir = std::env::temp_dir().join(format!("media-edge-rollout-{}-{label}-{version}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("sdk.js"), format!("/* {version} */")).unwrap();
        control.publish(version, &dir, false).await.unwrap();
    }
    Setup { clients, wiring, controller, config, control, alarms, _rule: rule }
}

impl Setup {
    fn set_alarm(&self, name: &str, state: StateValue, since: u64) {
        self.alarms.lock().unwrap().insert(name.into(), (state, since as i64));
    }

    async fn run(&self, now: u64) -> Vec<(ReleaseChange, u8, u8)> {
        let report = run_once(&self.controller, &self.config, now).await;
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        report.changes.iter().map(|e| (e.change, e.weight_from, e.weight_to)).collect()
    }

    async fn weight(&self) -> (Option<String>, u8, RolloutState) {
        let config = self.control.read().await.unwrap().config.unwrap();
        (config.canary, config.weight, config.rollout.unwrap().state)
    }

    /// One notifier digest window over what the controller announced: what Slack gets.
    async fn slack(&self) -> Vec<CustomNotification> {
        let publisher = ChatbotPublisher::new(self.clients.sns.clone(), self.wiring.chatbot_topic_arn.clone());
        let chatbot = self.wiring.chatbot_topic_arn.clone();
        let config = NotifierConfig::from_vars(&|name: &str| match name {
            "CHATBOT_TOPIC_ARN" => Some(chatbot.clone()),
            "DEPLOYMENT_LABEL" => Some("media-edge-test".to_string()),
            _ => None,
        })
        .unwrap();
        let window = WindowConfig { queue_url: self.wiring.notifier_queue_url.clone(), max_messages: 100 };
        let until = Instant::now() + Duration::from_secs(5);
        run_window(&self.clients.sqs, &window, &publisher, &config, "2026-12-02T10", until).await.unwrap();
        drain(&self.clients.sqs, &self.wiring.chatbot_queue_url, Duration::from_secs(2))
            .await
            .unwrap()
            .iter()
            .map(|body| serde_json::from_str(&sns_message(body).unwrap()).unwrap())
            .collect()
    }
}

const T0: u64 = 1_800_000_000;
const MIN: u64 = 60;

#[tokio::test]
async fn a_rollout_advances_on_healthy_gates_rolls_back_on_an_alarm_and_slack_hears_each_change_once() {
    let s = setup("advance").await;
    s.set_alarm("sdk-errors", StateValue::Ok, T0 - 3600);
    let gates = vec!["sdk-errors".to_string()];
    s.control.start_rollout("1.5.0", &[1, 5, 25, 100], 10 * MIN, &gates, T0).await.unwrap();
    assert_eq!(s.weight().await, (Some("1.5.0".into()), 1, RolloutState::Running));

    // The operator's start is announced once; checks within the interval change nothing.
    assert_eq!(s.run(T0 + MIN).await, [(ReleaseChange::Operator, 1, 1)]);
    for minute in 2..10 {
        assert_eq!(s.run(T0 + minute * MIN).await, [], "minute {minute}");
    }
    assert_eq!(s.run(T0 + 10 * MIN).await, [(ReleaseChange::Advanced, 1, 5)]);
    assert_eq!(s.run(T0 + 15 * MIN).await, []);
    assert_eq!(s.run(T0 + 20 * MIN).await, [(ReleaseChange::Advanced, 5, 25)]);

    // The gate alarms mid-interval: rolled back at the next run, not at the end of the step.
    s.set_alarm("sdk-errors", StateValue::Alarm, T0 + 23 * MIN);
    assert_eq!(s.run(T0 + 24 * MIN).await, [(ReleaseChange::RolledBack, 25, 0)]);
    assert_eq!(s.weight().await, (None, 0, RolloutState::RolledBack));
    let config = s.control.read().await.unwrap().config.unwrap();
    assert_eq!(config.rolled_back.as_deref(), Some("1.5.0"));
    assert!(config
        .history
        .iter()
        .any(|c| c.by == "release-controller" && c.action.contains("gate sdk-errors is in ALARM")));
    assert_eq!(s.run(T0 + 25 * MIN).await, [], "a rolled-back rollout stays put");

    // One Slack message for the window: the rollback in its title, every change once.
    let slack = s.slack().await;
    assert_eq!(slack.len(), 1, "{slack:?}");
    let message = &slack[0];
    assert!(message.content.title.contains("rolled back"), "{}", message.content.title);
    let text = &message.content.description;
    for line in
        ["rollout of 1.5.0 started at 1%", "1% → 5%", "5% → 25%", "*rolled back* at 25%: gate sdk-errors is in ALARM"]
    {
        assert!(text.contains(line), "{line} not in {text}");
    }
    assert_eq!(text.lines().count(), 4, "{text}");
}

#[tokio::test]
async fn a_gate_without_data_holds_once_and_a_completed_rollout_promotes() {
    let s = setup("promote").await;
    let gates = vec!["sdk-errors".to_string(), "router-5xx".to_string()];
    s.set_alarm("sdk-errors", StateValue::Ok, T0 - 3600);
    s.set_alarm("router-5xx", StateValue::InsufficientData, T0 - 3600);
    s.control.start_rollout("1.5.0", &[10, 100], 5 * MIN, &gates, T0).await.unwrap();
    // The first run comes when the step is already due (missed runs): the operator's start and
    // the hold are both announced. One gate has no data: held, announced once however many runs
    // see it.
    assert_eq!(s.run(T0 + 5 * MIN).await, [(ReleaseChange::Operator, 10, 10), (ReleaseChange::Held, 10, 10)]);
    assert_eq!(s.run(T0 + 6 * MIN).await, []);
    assert_eq!(s.run(T0 + 7 * MIN).await, []);
    // Data arrives (OK since minute 7): a whole healthy interval later it advances, then promotes.
    s.set_alarm("router-5xx", StateValue::Ok, T0 + 7 * MIN);
    assert_eq!(s.run(T0 + 8 * MIN).await, []);
    assert_eq!(s.run(T0 + 12 * MIN).await, [(ReleaseChange::Advanced, 10, 100)]);
    assert_eq!(s.run(T0 + 17 * MIN).await, [(ReleaseChange::Promoted, 100, 100)]);
    let config = s.control.read().await.unwrap().config.unwrap();
    assert_eq!((config.stable.as_str(), config.canary, config.weight), ("1.5.0", None, 0));
    assert_eq!(config.rollout.unwrap().state, RolloutState::Promoted);
}

#[tokio::test]
async fn two_controllers_at_once_make_one_change_and_an_operator_wins_over_the_plan() {
    let s = setup("race").await;
    s.set_alarm("sdk-errors", StateValue::Ok, T0 - 3600);
    let gates = vec!["sdk-errors".to_string()];
    s.control.start_rollout("1.5.0", &[1, 5, 100], 10 * MIN, &gates, T0).await.unwrap();
    s.run(T0).await;
    let due = T0 + 10 * MIN;
    let (a, b) = tokio::join!(run_once(&s.controller, &s.config, due), run_once(&s.controller, &s.config, due));
    let changes = a.changes.len() + b.changes.len();
    assert_eq!(changes, 1, "one controller advanced, the other lost the conditional write: {a:?} {b:?}");
    assert_eq!(s.weight().await.1, 5);

    // The operator sets the weight by hand: the plan stops and is never resumed by the controller.
    s.control.set_weight(40).await.unwrap();
    assert_eq!(s.weight().await, (Some("1.5.0".into()), 40, RolloutState::Cancelled));
    assert_eq!(s.run(due + MIN).await, [(ReleaseChange::Operator, 40, 40)], "the cancellation is announced");
    assert_eq!(s.run(due + 30 * MIN).await, []);
    assert_eq!(s.weight().await.1, 40);
}

const STORE: &str = "arn:aws:cloudfront::123456789012:key-value-store/0f3f4b8c-9d1e-4a55-8f2e-1c2d3e4f5a6b";

#[tokio::test]
async fn the_edge_store_is_filled_and_kept_equal_to_the_channel_config() {
    let mut s = setup("reconcile").await;
    let store = KvsModel::new(STORE);
    s.controller.kvs = store.client.clone();
    s.config.store_arn = Some(STORE.into());
    // A stack that just switched to edge routing: the store is empty; the first run fills it,
    // and records in the config which store the deployment routes by.
    assert_eq!(s.run(T0).await, []);
    assert_eq!(store.value("sdk").as_deref(), Some(r#"{"stable":"1.4.0","weight":0}"#));
    assert_eq!(s.control.read().await.unwrap().config.unwrap().edge_store.as_deref(), Some(STORE));
    s.run(T0 + MIN).await;
    assert_eq!(store.writes(), 1, "in sync: nothing written");
    // A change whose store write did not happen (here: made without the store) is copied next run.
    s.control.canary("1.5.0", 10).await.unwrap();
    s.run(T0 + 2 * MIN).await;
    assert_eq!(store.value("sdk").as_deref(), Some(r#"{"stable":"1.4.0","canary":"1.5.0","weight":10}"#));
    assert_eq!(store.stale_writes(), 0);
}

impl Setup {
    /// Edge routing: the controller and the operator both write to `store`.
    fn route_at_the_edge(&mut self, store: &KvsModel) {
        self.controller.kvs = store.client.clone();
        self.config.store_arn = Some(STORE.into());
        self.control.edge = Some(EdgeStore { client: store.client.clone(), arn: STORE.into() });
    }

    async fn config(&self) -> ChannelConfig {
        self.control.read().await.unwrap().config.unwrap()
    }

    /// A run that must fail (and what it announced before failing).
    async fn failing_run(&self, now: u64) -> (Vec<(ReleaseChange, u8, u8)>, String) {
        let report = run_once(&self.controller, &self.config, now).await;
        assert!(!report.errors.is_empty(), "expected the run to report an error: {report:?}");
        (report.changes.iter().map(|e| (e.change, e.weight_from, e.weight_to)).collect(), report.errors.join("; "))
    }
}

#[tokio::test]
async fn a_step_counts_only_once_the_edge_holds_it_and_nothing_advances_or_promotes_while_it_is_behind() {
    let mut s = setup("edge-behind").await;
    let store = KvsModel::new(STORE);
    s.route_at_the_edge(&store);
    s.set_alarm("sdk-errors", StateValue::Ok, T0 - 3600);
    let gates = vec!["sdk-errors".to_string()];
    s.control.start_rollout("1.5.0", &[1, 5, 100], 10 * MIN, &gates, T0).await.unwrap();
    assert_eq!(store.value("sdk").as_deref(), Some(r#"{"stable":"1.4.0","canary":"1.5.0","weight":1}"#));
    assert_eq!(s.run(T0 + MIN).await, [(ReleaseChange::Operator, 1, 1)]);

    // The store stops taking writes just before the step is due: the advance is made in S3 (and
    // announced), the edge keeps 1%.
    store.set_outage(Outage::Writes);
    let (changes, error) = s.failing_run(T0 + 10 * MIN).await;
    assert_eq!(changes, [(ReleaseChange::Advanced, 1, 5)]);
    assert!(error.contains("edge store is behind"), "{error}");
    assert_eq!(store.value("sdk").as_deref(), Some(r#"{"stable":"1.4.0","canary":"1.5.0","weight":1}"#));

    // While it is behind: held (announced once, with why), never advanced, never promoted,
    // however long; every run reports the error.
    let (changes, error) = s.failing_run(T0 + 11 * MIN).await;
    assert_eq!(changes, [(ReleaseChange::Held, 5, 5)]);
    assert!(error.contains("InternalServerException") || error.contains("internal error"), "{error}");
    for minute in [12, 20, 21, 30, 40, 60] {
        assert_eq!(s.failing_run(T0 + minute * MIN).await.0, [], "minute {minute}");
    }
    let config = s.config().await;
    assert_eq!((config.weight, config.rollout.as_ref().unwrap().state), (5, RolloutState::Running));
    assert!(config.rollout.unwrap().reason.unwrap().contains("edge store does not hold 5%"));

    // The store recovers at minute 61 and an operator copies the config (`release sync`, as the
    // error tells them) before the controller does: the step still counts only from now.
    store.set_outage(Outage::None);
    s.control.sync_edge().await.unwrap();
    assert!(s.config().await.rollout.unwrap().edge_pending, "written while the store was behind");
    assert_eq!(s.run(T0 + 61 * MIN).await, []);
    assert!(!s.config().await.rollout.unwrap().edge_pending);
    assert_eq!(store.value("sdk").as_deref(), Some(r#"{"stable":"1.4.0","canary":"1.5.0","weight":5}"#));
    for minute in [62, 70] {
        assert_eq!(s.run(T0 + minute * MIN).await, [], "minute {minute}: 5% has not been out for 10 minutes");
    }
    assert_eq!(s.run(T0 + 71 * MIN).await, [(ReleaseChange::Advanced, 5, 100)]);
    assert_eq!(store.value("sdk").as_deref(), Some(r#"{"stable":"1.4.0","canary":"1.5.0","weight":100}"#));
    assert_eq!(s.run(T0 + 81 * MIN).await, [(ReleaseChange::Promoted, 100, 100)]);
    assert_eq!(store.value("sdk").as_deref(), Some(r#"{"stable":"1.5.0","weight":0}"#));
    assert_eq!(store.stale_writes(), 0, "every write named the store's current ETag");

    // Slack heard every change once, the hold with its reason.
    let text = s.slack().await.iter().map(|m| m.content.description.clone()).collect::<Vec<_>>().join("\n");
    for line in
        ["started at 1%", "1% → 5%", "holding at 5%: the edge store does not hold 5% yet", "5% → 100%", "promoted"]
    {
        assert_eq!(text.matches(line).count(), 1, "{line} once in {text}");
    }
}

#[tokio::test]
async fn a_gate_alarm_rolls_back_while_the_edge_store_is_down_and_the_edge_follows_when_it_recovers() {
    let mut s = setup("edge-down-rollback").await;
    let store = KvsModel::new(STORE);
    s.route_at_the_edge(&store);
    s.set_alarm("sdk-errors", StateValue::Ok, T0 - 3600);
    let gates = vec!["sdk-errors".to_string()];
    s.control.start_rollout("1.5.0", &[10, 100], 10 * MIN, &gates, T0).await.unwrap();
    store.set_outage(Outage::All);
    s.set_alarm("sdk-errors", StateValue::Alarm, T0 + 3 * MIN);
    let (changes, _) = s.failing_run(T0 + 4 * MIN).await;
    assert_eq!(changes, [(ReleaseChange::Operator, 10, 10), (ReleaseChange::RolledBack, 10, 0)]);
    let config = s.config().await;
    assert_eq!((config.canary, config.weight), (None, 0));
    assert!(config.pending.is_empty(), "announced: {:?}", config.pending);
    store.set_outage(Outage::None);
    assert_eq!(s.run(T0 + 5 * MIN).await, []);
    assert_eq!(store.value("sdk").as_deref(), Some(r#"{"stable":"1.4.0","weight":0}"#));
    let slack = s.slack().await;
    let text = &slack[0].content.description;
    assert!(text.contains("*rolled back* at 10%: gate sdk-errors is in ALARM; the edge store is behind"), "{text}");
}

#[tokio::test]
async fn a_paused_rollout_is_still_rolled_back_when_a_gate_alarms() {
    let s = setup("paused").await;
    s.set_alarm("sdk-errors", StateValue::Ok, T0 - 3600);
    let gates = vec!["sdk-errors".to_string()];
    s.control.start_rollout("1.5.0", &[25, 100], 10 * MIN, &gates, T0).await.unwrap();
    s.control.pause().await.unwrap();
    assert_eq!(s.run(T0 + MIN).await, [(ReleaseChange::Operator, 25, 25), (ReleaseChange::Operator, 25, 25)]);
    assert_eq!(s.run(T0 + 30 * MIN).await, [], "paused: no advance");
    s.set_alarm("sdk-errors", StateValue::Alarm, T0 + 31 * MIN);
    assert_eq!(s.run(T0 + 32 * MIN).await, [(ReleaseChange::RolledBack, 25, 0)]);
    assert_eq!(s.weight().await, (None, 0, RolloutState::RolledBack));
}

#[tokio::test]
async fn an_announcement_sns_refused_stays_pending_and_is_posted_once_when_it_is_accepted() {
    let mut s = setup("sns-down").await;
    s.set_alarm("sdk-errors", StateValue::Ok, T0 - 3600);
    let gates = vec!["sdk-errors".to_string()];
    s.control.start_rollout("1.5.0", &[1, 5, 100], 10 * MIN, &gates, T0).await.unwrap();
    assert_eq!(s.run(T0 + MIN).await, [(ReleaseChange::Operator, 1, 1)]);

    // The status topic refuses (here: a topic that does not exist, as after a bad deploy).
    let topic = s.config.status_topic_arn.clone();
    s.config.status_topic_arn = format!("{topic}-gone");
    let (changes, error) = s.failing_run(T0 + 10 * MIN).await;
    assert_eq!(changes, []);
    assert!(error.contains("stays pending"), "{error}");
    let config = s.config().await;
    assert_eq!(config.weight, 5, "the step is made");
    assert_eq!(config.pending.len(), 1);
    assert_eq!((config.pending[0].event.change, config.pending[0].published), (ReleaseChange::Advanced, false));
    // Still refused a minute later: still pending, nothing else happens.
    assert_eq!(s.failing_run(T0 + 11 * MIN).await.0, []);

    s.config.status_topic_arn = topic;
    assert_eq!(s.run(T0 + 12 * MIN).await, [(ReleaseChange::Advanced, 1, 5)]);
    assert!(s.config().await.pending.is_empty());
    assert_eq!(s.run(T0 + 13 * MIN).await, []);
    let text = s.slack().await.iter().map(|m| m.content.description.clone()).collect::<Vec<_>>().join("\n");
    assert_eq!(text.matches("1% → 5%").count(), 1, "{text}");
}

#[tokio::test]
async fn a_failed_invalidation_delays_neither_the_announcement_nor_loses_itself() {
    use aws_sdk_cloudfront::operation::create_invalidation::{CreateInvalidationError, CreateInvalidationOutput};
    use aws_sdk_cloudfront::types::error::NoSuchDistribution;
    use aws_sdk_cloudfront::types::{Invalidation, InvalidationBatch, Paths};
    let mut s = setup("invalidation").await;
    // Origin routing with a distribution: a rollback invalidates the channel's files. CloudFront
    // answers from aws-smithy-mocks (the emulator's CloudFront needs a whole distribution).
    let refused = mock!(aws_sdk_cloudfront::Client::create_invalidation).then_error(|| {
        CreateInvalidationError::NoSuchDistribution(NoSuchDistribution::builder().message("not yet").build())
    });
    let accepted = mock!(aws_sdk_cloudfront::Client::create_invalidation).then_compute_output(|r| {
        let batch = r.invalidation_batch().cloned().unwrap_or_else(|| {
            InvalidationBatch::builder()
                .caller_reference("x")
                .paths(Paths::builder().quantity(0).build().unwrap())
                .build()
                .unwrap()
        });
        let invalidation = Invalidation::builder()
            .id("I1")
            .status("InProgress")
            .create_time(aws_smithy_types::DateTime::from_secs(0))
            .invalidation_batch(batch)
            .build()
            .unwrap();
        CreateInvalidationOutput::builder().invalidation(invalidation).build()
    });
    s.controller.cloudfront = mock_client!(aws_sdk_cloudfront, RuleMode::Sequential, [&refused, &accepted]);
    s.config.distribution_id = Some("E2EXAMPLE".into());
    s.set_alarm("sdk-errors", StateValue::Ok, T0 - 3600);
    let gates = vec!["sdk-errors".to_string()];
    s.control.start_rollout("1.5.0", &[10, 100], 10 * MIN, &gates, T0).await.unwrap();
    assert_eq!(s.run(T0 + MIN).await, [(ReleaseChange::Operator, 10, 10)]);
    s.set_alarm("sdk-errors", StateValue::Alarm, T0 + 2 * MIN);
    // The rollback is announced even though its invalidation fails; the invalidation is kept.
    let (changes, error) = s.failing_run(T0 + 3 * MIN).await;
    assert_eq!(changes, [(ReleaseChange::RolledBack, 10, 0)]);
    assert!(error.contains("invalidating") && error.contains("not yet"), "{error}");
    let pending = s.config().await.pending;
    assert_eq!(pending.len(), 1);
    assert!(pending[0].published, "published, only the invalidation is left");
    // Next run: the invalidation is made, the rollback is not announced again.
    assert_eq!(s.run(T0 + 4 * MIN).await, []);
    assert!(s.config().await.pending.is_empty());
    assert_eq!((refused.num_calls(), accepted.num_calls()), (1, 1));
    let text = s.slack().await.iter().map(|m| m.content.description.clone()).collect::<Vec<_>>().join("\n");
    assert_eq!(text.matches("rolled back").count(), 1, "{text}");
}

#[tokio::test]
async fn of_two_controllers_that_read_the_same_config_only_one_writes() {
    let s = setup("conditional").await;
    s.set_alarm("sdk-errors", StateValue::Ok, T0 - 3600);
    let gates = vec!["sdk-errors".to_string()];
    s.control.start_rollout("1.5.0", &[1, 5, 100], 10 * MIN, &gates, T0).await.unwrap();
    s.run(T0).await;
    let readings = release_controller::gates::read_gates(&s.controller.cloudwatch, &gates).await.unwrap();
    // Both read before either writes: the second write's ETag is stale.
    let (a, b) = (s.control.read().await.unwrap(), s.control.read().await.unwrap());
    let in_sync = release_control::rollout::EdgeSync::InSync;
    let first = s.control.apply_rollout(&a, T0 + 10 * MIN, &readings, &in_sync).await.unwrap();
    let second = s.control.apply_rollout(&b, T0 + 10 * MIN, &readings, &in_sync).await.unwrap();
    assert!(first.is_some());
    assert!(second.is_none(), "the loser changes nothing");
    assert_eq!(s.weight().await.1, 5);
}

/// A site moved off its old servers by weighted DNS (`media-edge migrate`): Route 53 is the
/// emulator's, the plan runs on the same controller and engine as release rollouts.
mod migration {
    use super::*;
    use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};
    use release_control::migration::{CLOUDFRONT_SET, LEGACY_SET};
    use release_control::MigrationControl;

    async fn site(s: &Setup, label: &str) -> MigrationControl {
        let sdk = media_edge_shared::aws::load_sdk_config().await;
        let route53 = aws_sdk_route53::Client::new(&sdk);
        let domain = format!("{label}-{}.example.com", std::process::id());
        let zone = route53.create_hosted_zone().name(&domain).caller_reference(&domain).send().await.unwrap();
        let zone = zone.hosted_zone().unwrap().id().to_string();
        let old = ResourceRecordSet::builder()
            .name(format!("www.{domain}"))
            .r#type(RrType::A)
            .ttl(300)
            .resource_records(ResourceRecord::builder().value("192.0.2.10").build().unwrap())
            .build()
            .unwrap();
        let batch = ChangeBatch::builder()
            .changes(Change::builder().action(ChangeAction::Create).resource_record_set(old).build().unwrap())
            .build()
            .unwrap();
        route53.change_resource_record_sets().hosted_zone_id(&zone).change_batch(batch).send().await.unwrap();
        let control = MigrationControl::new(
            s.clients.s3.clone(),
            &s.config.bucket,
            route53,
            &zone,
            &format!("www.{domain}"),
            "operator",
        );
        control.prepare("d111111abcdef8.cloudfront.net", None).await.unwrap();
        control
    }

    async fn weights(control: &MigrationControl) -> Vec<(String, Option<i64>)> {
        let mut sets: Vec<(String, Option<i64>)> = control
            .records()
            .await
            .unwrap()
            .sets
            .iter()
            .map(|s| (s.set_identifier().unwrap_or("-").to_string(), s.weight()))
            .collect();
        sets.sort();
        sets
    }

    #[tokio::test]
    async fn a_migration_steps_on_healthy_gates_then_keeps_the_old_servers_for_the_window_and_removes_them() {
        let s = setup("migrate").await;
        let control = site(&s, "steps").await;
        assert_eq!(control.records().await.unwrap().share(), Some(0), "prepared: nothing moved yet");
        s.set_alarm("site-5xx", StateValue::Ok, T0 - 3600);
        let gates = vec!["site-5xx".to_string()];
        control.start_rollout(&[10, 50, 100], 10 * MIN, &gates, 3 * 86_400, T0).await.unwrap();
        assert_eq!(
            weights(&control).await,
            [(CLOUDFRONT_SET.to_string(), Some(10)), (LEGACY_SET.to_string(), Some(90))]
        );
        // The prepare and the start are announced on the first run; then a step per healthy interval.
        assert_eq!(s.run(T0 + MIN).await, [(ReleaseChange::Operator, 0, 0), (ReleaseChange::Operator, 0, 10)]);
        assert_eq!(s.run(T0 + 5 * MIN).await, []);
        assert_eq!(s.run(T0 + 10 * MIN).await, [(ReleaseChange::Advanced, 10, 50)]);
        assert_eq!(s.run(T0 + 20 * MIN).await, [(ReleaseChange::Advanced, 50, 100)]);
        assert_eq!(s.run(T0 + 30 * MIN).await, [(ReleaseChange::Promoted, 100, 100)]);
        assert_eq!(
            weights(&control).await,
            [(CLOUDFRONT_SET.to_string(), Some(100)), (LEGACY_SET.to_string(), Some(0))]
        );
        // Within the window the old servers stay one command away; after it they are removed.
        assert_eq!(s.run(T0 + 30 * MIN + 86_400).await, []);
        let removed = s.run(T0 + 30 * MIN + 3 * 86_400).await;
        assert_eq!(removed, [(ReleaseChange::Operator, 100, 100)]);
        assert_eq!(weights(&control).await, [(CLOUDFRONT_SET.to_string(), Some(100))]);
        let refused = control.rollback("too late").await.unwrap_err();
        assert!(refused.to_string().contains("were removed"), "{refused}");

        let slack = s.slack().await;
        let text: String = slack.iter().map(|m| m.content.description.clone()).collect::<Vec<_>>().join("\n");
        for line in ["CloudFront`: 10% → 50%", "50% → 100%", "the old servers' records are removed"] {
            assert!(text.contains(line), "{line} not in {text}");
        }
        assert!(text.contains("dns:www.steps-"), "{text}");
    }

    #[tokio::test]
    async fn a_gate_alarm_sends_every_viewer_back_and_a_hand_shift_stops_the_plan() {
        let s = setup("migrate-back").await;
        let control = site(&s, "back").await;
        s.set_alarm("site-5xx", StateValue::Ok, T0 - 3600);
        let gates = vec!["site-5xx".to_string()];
        control.start_rollout(&[10, 50, 100], 10 * MIN, &gates, 86_400, T0).await.unwrap();
        s.run(T0).await;
        assert_eq!(s.run(T0 + 10 * MIN).await, [(ReleaseChange::Advanced, 10, 50)]);
        s.set_alarm("site-5xx", StateValue::Alarm, T0 + 12 * MIN);
        assert_eq!(s.run(T0 + 13 * MIN).await, [(ReleaseChange::RolledBack, 50, 0)]);
        assert_eq!(control.records().await.unwrap().share(), Some(0));
        let status = control.status().await.unwrap();
        let announced = s.slack().await;
        let text: String = announced.iter().map(|m| m.content.description.clone()).collect::<Vec<_>>().join("\n");
        assert!(
            text.contains(
                "*rolled back* at 50%: gate site-5xx is in ALARM; resolvers follow within the record's TTL, 300 s"
            ),
            "{text}"
        );
        assert_eq!(status.state.rollout.unwrap().state, RolloutState::RolledBack);

        // A new plan, then an operator's shift: the operator wins, the controller never undoes it.
        s.set_alarm("site-5xx", StateValue::Ok, T0 + 20 * MIN);
        control.start_rollout(&[5, 100], 10 * MIN, &gates, 86_400, T0 + 30 * MIN).await.unwrap();
        let (from, to, ttl) = control.shift(30).await.unwrap();
        assert_eq!((from, to, ttl), (5, 30, 300));
        s.run(T0 + 31 * MIN).await;
        assert_eq!(s.run(T0 + 60 * MIN).await, []);
        assert_eq!(control.records().await.unwrap().share(), Some(30));
        assert_eq!(control.status().await.unwrap().state.rollout.unwrap().state, RolloutState::Cancelled);

        // Records moved by someone else between a read and a change: the change is refused.
        let stale = control.records().await.unwrap();
        control.shift(40).await.unwrap();
        let changes = stale.shift(60).unwrap();
        let batch = ChangeBatch::builder().set_changes(Some(changes)).build().unwrap();
        let refused = control
            .route53
            .change_resource_record_sets()
            .hosted_zone_id(&control.zone)
            .change_batch(batch)
            .send()
            .await;
        let refused = refused.unwrap_err();
        assert!(refused.as_service_error().is_some_and(|e| e.is_invalid_change_batch()), "{refused:?}");
        assert_eq!(control.records().await.unwrap().share(), Some(40));
    }
}
