//! Preflight over recorded answers: each body is the wire format the service documents (awsQuery
//! XML for STS, JSON for the others), so the SDK's own deserialisers read them as they would
//! AWS's, and each failure the checklist names is one of them.

use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::body::SdkBody;
use media_edge_doctor::checklist::{Checklist, Verdict};
use media_edge_doctor::facts::{DeployFacts, Parameters};
use media_edge_doctor::preflight::{account_checks, PreflightClients, PreflightInput};

fn response(status: u16, body: String, error_type: Option<&str>) -> Response {
    let mut r = Response::new(status.try_into().unwrap(), SdkBody::from(body));
    if let Some(kind) = error_type {
        r.headers_mut().insert("x-amzn-errortype", kind.to_string());
    }
    r.headers_mut().insert("content-type", "application/json".to_string());
    r
}

/// What the account answers, as (HTTP status, body) per call.
struct Account {
    identity: (u16, String),
    settings: (u16, String),
    templates: (u16, String),
    workgroup: (u16, String),
    workspaces: (u16, String),
}

fn identity_ok() -> (u16, String) {
    (
        200,
        r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/deployer</Arn><UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata></GetCallerIdentityResponse>"#.into(),
    )
}

/// GetAccountSettings (Lambda API Reference).
fn settings(limit: i64, unreserved: i64) -> (u16, String) {
    (
        200,
        serde_json::json!({
            "AccountLimit": {"TotalCodeSize": 80530636800u64, "CodeSizeUnzipped": 262144000, "CodeSizeZipped": 52428800,
                             "ConcurrentExecutions": limit, "UnreservedConcurrentExecutions": unreserved},
            "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0}
        })
        .to_string(),
    )
}

/// DescribeConfigurationTemplates for CloudFront's access logs to S3, offering `fields`.
fn templates(fields: &[String]) -> (u16, String) {
    let allowed: Vec<serde_json::Value> =
        fields.iter().map(|f| serde_json::json!({"name": f, "mandatory": f == "timestamp"})).collect();
    (
        200,
        serde_json::json!({"configurationTemplates": [{
            "service": "cloudfront", "logType": "ACCESS_LOGS", "resourceType": "DISTRIBUTION",
            "deliveryDestinationType": "S3",
            "defaultDeliveryConfigValues": {"recordFields": ["date", "time"], "fieldDelimiter": "\t",
                "s3DeliveryConfiguration": {"suffixPath": "{DistributionId}/{yyyy}/{MM}/{dd}/{HH}", "enableHiveCompatiblePath": false}},
            "allowedFields": allowed,
            "allowedOutputFormats": ["json", "plain", "w3c", "parquet"],
            "allowedActionForAllowVendedLogsDeliveryForResource": "cloudfront:AllowVendedLogDeliveryForResource",
            "allowedFieldDelimiters": ["\t", "\\t", " ", ","],
            "allowedSuffixPathFields": ["DistributionId", "yyyy", "MM", "dd", "HH"]
        }]})
        .to_string(),
    )
}

/// The field names CloudFront's standard logging v2 documents (infra/cloudfront-v2-log-fields.json).
fn documented_fields() -> Vec<String> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/cloudfront-v2-log-fields.json"))
            .unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["standard_log_fields"]["fields"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect()
}

fn workgroup(location: Option<&str>) -> (u16, String) {
    let mut configuration = serde_json::json!({"EnforceWorkGroupConfiguration": false, "PublishCloudWatchMetricsEnabled": false,
        "RequesterPaysEnabled": false, "EngineVersion": {"SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": "Athena engine version 3"}});
    if let Some(location) = location {
        configuration["ResultConfiguration"] = serde_json::json!({"OutputLocation": location});
    }
    (
        200,
        serde_json::json!({"WorkGroup": {"Name": "primary", "State": "ENABLED", "Configuration": configuration,
        "Description": "", "CreationTime": 1.7e9}})
        .to_string(),
    )
}

fn workspaces(ids: &[&str]) -> (u16, String) {
    let list: Vec<serde_json::Value> =
        ids.iter().map(|id| serde_json::json!({"SlackTeamId": id, "SlackTeamName": "media"})).collect();
    (200, serde_json::json!({"SlackWorkspaces": list}).to_string())
}

fn denied(action: &str) -> (u16, String) {
    (400, serde_json::json!({"__type": "AccessDeniedException", "message": format!("User: arn:aws:iam::123456789012:user/deployer is not authorized to perform: {action}")}).to_string())
}

impl Default for Account {
    /// A new account: quota 10, nothing reserved, Athena with a result location, no Slack.
    fn default() -> Self {
        Account {
            identity: identity_ok(),
            settings: settings(10, 10),
            templates: templates(&documented_fields()),
            workgroup: workgroup(Some("s3://team-athena-results/")),
            workspaces: workspaces(&[]),
        }
    }
}

async fn preflight(account: Account, region: &str, overrides: &[(&str, &str)]) -> Checklist {
    let Account { identity, settings, templates, workgroup, workspaces } = account;
    let error_type = |(status, body): &(u16, String)| {
        (*status >= 400)
            .then(|| serde_json::from_str::<serde_json::Value>(body).ok())
            .flatten()
            .and_then(|v| v["__type"].as_str().map(str::to_string))
    };
    let sts_rule = mock!(aws_sdk_sts::Client::get_caller_identity).then_http_response(move || {
        let mut r = Response::new(identity.0.try_into().unwrap(), SdkBody::from(identity.1.clone()));
        r.headers_mut().insert("content-type", "text/xml".to_string());
        r
    });
    let settings_type = error_type(&settings);
    let lambda_rule = mock!(aws_sdk_lambda::Client::get_account_settings)
        .then_http_response(move || response(settings.0, settings.1.clone(), settings_type.as_deref()));
    let templates_type = error_type(&templates);
    let logs_rule = mock!(aws_sdk_cloudwatchlogs::Client::describe_configuration_templates)
        .then_http_response(move || response(templates.0, templates.1.clone(), templates_type.as_deref()));
    let workgroup_type = error_type(&workgroup);
    let athena_rule = mock!(aws_sdk_athena::Client::get_work_group)
        .then_http_response(move || response(workgroup.0, workgroup.1.clone(), workgroup_type.as_deref()));
    let workspaces_type = error_type(&workspaces);
    let chatbot_rule = mock!(aws_sdk_chatbot::Client::describe_slack_workspaces)
        .then_http_response(move || response(workspaces.0, workspaces.1.clone(), workspaces_type.as_deref()));
    let clients = PreflightClients {
        sts: mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&sts_rule]),
        lambda: mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&lambda_rule]),
        logs_us_east_1: mock_client!(aws_sdk_cloudwatchlogs, RuleMode::MatchAny, [&logs_rule]),
        athena: mock_client!(aws_sdk_athena, RuleMode::MatchAny, [&athena_rule]),
        chatbot: mock_client!(aws_sdk_chatbot, RuleMode::MatchAny, [&chatbot_rule]),
    };
    let facts = DeployFacts::of_this_checkout().unwrap();
    let overrides: Vec<(String, String)> = overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let parameters = Parameters::resolve(&facts, &overrides).unwrap();
    account_checks(&clients, &PreflightInput { region, facts: &facts, parameters: &parameters }).await
}

fn verdict(list: &Checklist, id: &str) -> (Verdict, String, String) {
    let check = list.get(id).unwrap_or_else(|| panic!("no check {id} in\n{}", list.to_text()));
    (check.verdict, check.summary.clone(), check.fix.clone().unwrap_or_default())
}

#[tokio::test]
async fn a_new_account_with_the_defaults_deploys_and_is_told_what_its_quota_allows() {
    let list = preflight(Account::default(), "us-east-1", &[]).await;
    assert!(!list.failed(), "{}", list.to_text());
    let (v, summary, _) = verdict(&list, "credentials");
    assert_eq!(v, Verdict::Pass);
    assert!(summary.contains("123456789012") && summary.contains("user/deployer"), "{summary}");
    let (v, summary, fix) = verdict(&list, "lambda-concurrency");
    assert_eq!(v, Verdict::Warn, "a quota of 10 allows no reservation: {summary}");
    assert!(summary.contains("needs at most 10 (ProcessorMaxConcurrency 5 + 5 other functions)"), "{summary}");
    assert!(fix.contains("L-B99A9384"), "{fix}");
    assert_eq!(verdict(&list, "region").0, Verdict::Pass);
    let (v, summary, _) = verdict(&list, "log-fields");
    assert_eq!(v, Verdict::Pass, "{summary}");
    assert!(summary.contains("all 28 v2 log fields"), "{summary}");
    assert_eq!(verdict(&list, "athena-workgroup").0, Verdict::Pass);
    let (v, summary, _) = verdict(&list, "slack");
    assert_eq!(v, Verdict::Warn);
    assert!(summary.contains("Slack not configured"), "{summary}");
}

#[tokio::test]
async fn reserving_on_a_small_quota_fails_and_names_the_parameter_that_avoids_it() {
    let list = preflight(Account::default(), "us-east-1", &[("ReserveScheduledConcurrency", "true")]).await;
    assert!(list.failed());
    let (v, summary, fix) = verdict(&list, "lambda-concurrency");
    assert_eq!(v, Verdict::Fail);
    assert!(summary.contains("reserves 2 of 10 unreserved"), "{summary}");
    assert!(fix.starts_with("ReserveScheduledConcurrency=false"), "{fix}");
    // With room for the reservation and 100 left over, the same parameters pass.
    let roomy = Account { settings: settings(1000, 1000), ..Account::default() };
    let list =
        preflight(roomy, "us-east-1", &[("ReserveScheduledConcurrency", "true"), ("ProcessorMaxConcurrency", "50")])
            .await;
    let (v, summary, _) = verdict(&list, "lambda-concurrency");
    assert_eq!(v, Verdict::Pass, "{summary}");
    assert!(summary.contains("reserving 2"), "{summary}");
}

#[tokio::test]
async fn processors_beyond_the_quota_fail_with_the_value_that_fits_and_the_quota_code() {
    let list = preflight(Account::default(), "us-east-1", &[("ProcessorMaxConcurrency", "50")]).await;
    let (v, summary, fix) = verdict(&list, "lambda-concurrency");
    assert_eq!(v, Verdict::Fail);
    assert!(summary.contains("may run 55 at once") && summary.contains("has 10 unreserved"), "{summary}");
    assert!(fix.contains("ProcessorMaxConcurrency=5 ") && fix.contains("--quota-code L-B99A9384"), "{fix}");
    // Other stacks' reservations count: 1,000 with 990 reserved elsewhere leaves 10.
    let crowded = Account { settings: settings(1000, 10), ..Account::default() };
    let list = preflight(crowded, "us-east-1", &[("ProcessorMaxConcurrency", "50")]).await;
    assert_eq!(verdict(&list, "lambda-concurrency").0, Verdict::Fail);
}

#[tokio::test]
async fn a_log_field_the_service_does_not_offer_fails_before_it_rolls_a_stack_back() {
    // AWS documents viewer-request-log-data for real-time logs only: an account whose template
    // does not list it.
    let fields: Vec<String> = documented_fields().into_iter().filter(|f| f != "viewer-request-log-data").collect();
    let account = || Account { templates: templates(&fields), ..Account::default() };
    let list = preflight(account(), "us-east-1", &[("ReleaseLogData", "true")]).await;
    let (v, summary, fix) = verdict(&list, "log-fields");
    assert_eq!(v, Verdict::Fail, "{summary}");
    assert!(summary.contains("do not offer viewer-request-log-data"), "{summary}");
    assert!(fix.starts_with("ReleaseLogData=false"), "{fix}");
    // Without ReleaseLogData the same account passes.
    assert_eq!(verdict(&preflight(account(), "us-east-1", &[]).await, "log-fields").0, Verdict::Pass);
    // A field of the template's own list missing: the fix is the template's field list.
    let fewer: Vec<String> = documented_fields().into_iter().filter(|f| f != "sc-range-end").collect();
    let list = preflight(Account { templates: templates(&fewer), ..Account::default() }, "us-east-1", &[]).await;
    let (v, _, fix) = verdict(&list, "log-fields");
    assert_eq!(v, Verdict::Fail);
    assert!(fix.contains("RecordFields"), "{fix}");
}

#[tokio::test]
async fn a_denied_call_is_a_warning_naming_the_permission_not_a_verdict() {
    let account = Account {
        templates: denied("logs:DescribeConfigurationTemplates"),
        workgroup: denied("athena:GetWorkGroup"),
        ..Account::default()
    };
    let list =
        preflight(account, "us-east-1", &[("SlackWorkspaceId", "T0123ABCD"), ("SlackChannelId", "C0123ABCD")]).await;
    let (v, summary, fix) = verdict(&list, "log-fields");
    assert_eq!(v, Verdict::Warn);
    assert!(summary.contains("AccessDeniedException"), "{summary}");
    assert!(fix.contains("logs:DescribeConfigurationTemplates"), "{fix}");
    assert_eq!(verdict(&list, "athena-workgroup").0, Verdict::Warn);
    // An identity that cannot read Lambda's settings cannot deploy the stack either.
    let list =
        preflight(Account { settings: denied("lambda:GetAccountSettings"), ..Account::default() }, "us-east-1", &[])
            .await;
    assert_eq!(verdict(&list, "lambda-concurrency").0, Verdict::Fail);
}

#[tokio::test]
async fn regions_the_template_refuses_fail_and_others_say_which_logs_they_get() {
    let list = preflight(Account::default(), "af-south-1", &[]).await;
    let (v, summary, fix) = verdict(&list, "region");
    assert_eq!(v, Verdict::Fail);
    assert!(summary.contains("opt-in Region") && summary.contains("LogsBucketRegionTakesCloudFrontLogs"), "{summary}");
    assert!(fix.contains("us-east-1") && fix.contains("eu-west-1"), "{fix}");
    let list = preflight(Account::default(), "eu-west-1", &[]).await;
    let (v, summary, _) = verdict(&list, "region");
    assert_eq!(v, Verdict::Warn);
    assert!(summary.contains("legacy access logs"), "{summary}");
    assert!(verdict(&list, "log-fields").1.contains("legacy"), "no v2 fields to check outside us-east-1");
    for (name, value) in [("AccessLogs", "v2"), ("CreateWebAcl", "true")] {
        let list = preflight(Account::default(), "eu-west-1", &[(name, value)]).await;
        assert_eq!(verdict(&list, "region").0, Verdict::Fail, "{name}={value} outside us-east-1");
    }
}

#[tokio::test]
async fn slack_needs_its_workspace_authorised_in_chatbot() {
    let slack = [("SlackWorkspaceId", "T0123ABCD"), ("SlackChannelId", "C0123ABCD")];
    let list =
        preflight(Account { workspaces: workspaces(&["T9999ZZZZ"]), ..Account::default() }, "us-east-1", &slack).await;
    let (v, summary, fix) = verdict(&list, "slack");
    assert_eq!(v, Verdict::Fail);
    assert!(summary.contains("T0123ABCD is not authorised") && summary.contains("T9999ZZZZ"), "{summary}");
    assert!(fix.contains("Chatbot console"), "{fix}");
    let list =
        preflight(Account { workspaces: workspaces(&["T0123ABCD"]), ..Account::default() }, "us-east-1", &slack).await;
    assert_eq!(verdict(&list, "slack").0, Verdict::Pass);
    let half = preflight(Account::default(), "us-east-1", &[("SlackWorkspaceId", "T0123ABCD")]).await;
    assert_eq!(verdict(&half, "slack").0, Verdict::Fail);
}

#[tokio::test]
async fn athena_without_a_result_location_is_told_how_to_set_one() {
    let list = preflight(Account { workgroup: workgroup(None), ..Account::default() }, "us-east-1", &[]).await;
    let (v, summary, fix) = verdict(&list, "athena-workgroup");
    assert_eq!(v, Verdict::Warn);
    assert!(summary.contains("no query result location"), "{summary}");
    assert!(fix.contains("update-work-group --work-group primary"), "{fix}");
}

#[tokio::test]
async fn expired_credentials_fail_first() {
    let expired = (
        403,
        r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>ExpiredToken</Code><Message>The security token included in the request is expired</Message></Error><RequestId>0</RequestId></ErrorResponse>"#.to_string(),
    );
    let list = preflight(Account { identity: expired, ..Account::default() }, "us-east-1", &[]).await;
    let (v, summary, fix) = verdict(&list, "credentials");
    assert_eq!(v, Verdict::Fail);
    assert!(summary.contains("ExpiredToken"), "{summary}");
    assert!(fix.contains("AWS_PROFILE"), "{fix}");
    assert!(list.to_text().starts_with("✗ credentials"));
}
