//! `media-edge doctor preflight`: read-only calls that find, before `sam deploy`, what would roll
//! the first deploy back or leave part of it unable to work. Each check is a pure verdict over
//! what the account answered, so each answer AWS documents (and each failure) is tested.

use media_edge_shared::aws::describe_sdk_error;

use crate::checklist::{Check, Checklist};
use crate::facts::{DeployFacts, Parameters};

/// Lambda's concurrency quota (Service Quotas, AWS Lambda, "Concurrent executions").
pub const CONCURRENCY_QUOTA_CODE: &str = "L-B99A9384";
/// Lambda refuses a reservation that leaves fewer unreserved (PutFunctionConcurrency).
pub const MIN_UNRESERVED: i64 = 100;
/// The workgroup an `AWS::Athena::NamedQuery` without `WorkGroup` belongs to.
pub const NAMED_QUERY_WORKGROUP: &str = "primary";

pub struct PreflightClients {
    pub sts: aws_sdk_sts::Client,
    pub lambda: aws_sdk_lambda::Client,
    /// In us-east-1, where CloudFront's standard logging v2 is configured.
    pub logs_us_east_1: aws_sdk_cloudwatchlogs::Client,
    pub athena: aws_sdk_athena::Client,
    /// In us-east-2: Chatbot's API has no endpoint in us-east-1, and its CloudFormation resource
    /// writes there from a stack in any Region.
    pub chatbot: aws_sdk_chatbot::Client,
}

/// Where Chatbot's API (and the home of its configurations) is.
pub const CHATBOT_REGION: &str = "us-east-2";

pub struct PreflightInput<'a> {
    pub region: &'a str,
    pub facts: &'a DeployFacts,
    pub parameters: &'a Parameters,
}

/// Every account check, in the order a reader fixes them.
pub async fn account_checks(clients: &PreflightClients, input: &PreflightInput<'_>) -> Checklist {
    let mut list = Checklist::default();
    list.push(credentials(&clients.sts).await);
    list.push(region(input));
    list.push(concurrency(&clients.lambda, input).await);
    list.push(log_fields(&clients.logs_us_east_1, input).await);
    list.push(athena_workgroup(&clients.athena).await);
    list.push(slack(&clients.chatbot, input).await);
    list
}

fn is_access_denied<E, R>(e: &aws_sdk_sts::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_sts::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|code| code.contains("AccessDenied") || code == "UnauthorizedOperation")
}

pub async fn credentials(sts: &aws_sdk_sts::Client) -> Check {
    match sts.get_caller_identity().send().await {
        Ok(me) => Check::pass(
            "credentials",
            format!("account {} as {}", me.account().unwrap_or("?"), me.arn().unwrap_or("?")),
        ),
        Err(e) => Check::fail(
            "credentials",
            format!("no usable AWS credentials ({})", describe_sdk_error(&e)),
            "set AWS_PROFILE (or run `aws configure` / `aws sso login`) for the account to deploy to",
        ),
    }
}

/// Where the stack may go, and what its Region decides: the template's rules refuse an opt-in
/// Region and v2 logs or a created web ACL outside us-east-1.
pub fn region(input: &PreflightInput<'_>) -> Check {
    let region = input.region;
    let facts = input.facts;
    let param = |name: &str| input.parameters.get(name).unwrap_or_default();
    let elsewhere = || {
        let others: Vec<&str> = facts.regions_enabled_by_default.iter().map(String::as_str).collect();
        format!("deploy in us-east-1 (v2 access logs) or another Region enabled by default: {}", others.join(", "))
    };
    if !facts.regions_enabled_by_default.iter().any(|r| r == region) {
        return Check::fail(
            "region",
            format!(
                "{region} is an opt-in Region: CloudFront delivers no legacy access logs to a bucket there and \
                 configures v2 from us-east-1 only, so the template's rule LogsBucketRegionTakesCloudFrontLogs \
                 refuses it"
            ),
            elsewhere(),
        );
    }
    if param("AccessLogs") == "v2" && region != "us-east-1" {
        return Check::fail(
            "region",
            format!(
                "AccessLogs=v2 in {region}: standard logging v2 is configured through us-east-1 (rule LogsV2InUsEast1)"
            ),
            "AccessLogs=auto (legacy logs here) or deploy in us-east-1",
        );
    }
    if param("CreateWebAcl") == "true" && region != "us-east-1" {
        return Check::fail(
            "region",
            format!(
                "CreateWebAcl=true in {region}: a web ACL for CloudFront (scope CLOUDFRONT) exists only in us-east-1"
            ),
            "create the web ACL in us-east-1 and pass WebAclArn, or deploy in us-east-1",
        );
    }
    let logs = if logs_v2(region, input.parameters) {
        "v2 access logs (JSON by hour, Athena partition projection)"
    } else {
        "legacy access logs (standard logging v2 is configured only from us-east-1)"
    };
    if region == "us-east-1" {
        Check::pass(
            "region",
            format!("us-east-1: {logs}; the Slack channel configuration is kept in {CHATBOT_REGION} by Chatbot"),
        )
    } else {
        Check::note(
            "region",
            format!(
                "{region}: {logs}; CreateWebAcl is refused here (pass WebAclArn instead). The KeyValueStore and \
                 the Slack channel configuration work from here too (Chatbot keeps it in {CHATBOT_REGION}: an SCP \
                 that denies {CHATBOT_REGION} breaks it)"
            ),
        )
    }
}

/// The template's LogsV2 condition.
pub fn logs_v2(region: &str, parameters: &Parameters) -> bool {
    match parameters.get("AccessLogs") {
        Some("v2") => true,
        Some("auto") | None => region == "us-east-1",
        _ => false,
    }
}

/// The account's Lambda concurrency, as `GetAccountSettings` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountConcurrency {
    pub limit: i64,
    pub unreserved: i64,
}

pub async fn concurrency(lambda: &aws_sdk_lambda::Client, input: &PreflightInput<'_>) -> Check {
    match lambda.get_account_settings().send().await {
        Ok(settings) => match settings.account_limit() {
            Some(limit) => concurrency_verdict(
                AccountConcurrency {
                    limit: i64::from(limit.concurrent_executions()),
                    unreserved: limit.unreserved_concurrent_executions().map(i64::from).unwrap_or(0),
                },
                input,
            ),
            None => Check::warn(
                "lambda-concurrency",
                "GetAccountSettings answered without AccountLimit",
                format!("read the quota in Service Quotas (AWS Lambda, {CONCURRENCY_QUOTA_CODE})"),
            ),
        },
        Err(e) => Check::fail(
            "lambda-concurrency",
            format!("could not read the account's Lambda settings ({})", describe_sdk_error(&e)),
            "allow lambda:GetAccountSettings to the deploying identity (the deploy needs Lambda access anyway)",
        ),
    }
}

pub fn concurrency_verdict(account: AccountConcurrency, input: &PreflightInput<'_>) -> Check {
    let id = "lambda-concurrency";
    let processors = match input.parameters.number("ProcessorMaxConcurrency") {
        Ok(n) => i64::from(n),
        Err(e) => return Check::fail(id, e.to_string(), "ProcessorMaxConcurrency takes a whole number (2 or more)"),
    };
    let others = input.facts.functions.len().saturating_sub(1) as i64;
    let reserved: i64 = input.facts.reservations(input.parameters).iter().map(|(_, n)| i64::from(*n)).sum();
    let quota_fix = |at_least: i64| {
        format!(
            "ask for a higher quota: aws service-quotas request-service-quota-increase --service-code lambda \
             --quota-code {CONCURRENCY_QUOTA_CODE} --desired-value {}",
            at_least.max(1000)
        )
    };
    let AccountConcurrency { limit, unreserved } = account;
    if reserved > 0 && unreserved - reserved < MIN_UNRESERVED {
        return Check::fail(
            id,
            format!(
                "ReserveScheduledConcurrency=true reserves {reserved} of {unreserved} unreserved (quota {limit}); \
                 Lambda refuses a reservation that leaves fewer than {MIN_UNRESERVED} unreserved, so the stack \
                 would roll back"
            ),
            format!(
                "ReserveScheduledConcurrency=false (the default; both functions are correct without it), or {}",
                quota_fix(limit - unreserved + reserved + MIN_UNRESERVED)
            ),
        );
    }
    let free = unreserved - reserved;
    let needed = processors + others;
    if needed > free {
        let fits = free - others;
        let lower = if fits >= 2 {
            format!("ProcessorMaxConcurrency={fits} (sam deploy --parameter-overrides), or ")
        } else {
            String::new()
        };
        return Check::fail(
            id,
            format!(
                "the stack may run {needed} at once (ProcessorMaxConcurrency {processors} + {others} other functions) \
                 but the account has {free} unreserved (quota {limit}): processor batches would be throttled back \
                 to the queue until they reach the dead-letter queue"
            ),
            format!("{lower}{}", quota_fix(limit + needed - free)),
        );
    }
    let summary = format!(
        "quota {limit}, {unreserved} unreserved; the stack needs at most {needed} \
         (ProcessorMaxConcurrency {processors} + {others} other functions){}",
        if reserved > 0 { format!(", reserving {reserved}") } else { String::new() }
    );
    if limit < MIN_UNRESERVED {
        Check::warn(
            id,
            format!("{summary}; a quota under {MIN_UNRESERVED} allows no reserved concurrency"),
            quota_fix(1000),
        )
    } else {
        Check::pass(id, summary)
    }
}

pub async fn log_fields(logs: &aws_sdk_cloudwatchlogs::Client, input: &PreflightInput<'_>) -> Check {
    let id = "log-fields";
    if !logs_v2(input.region, input.parameters) {
        return Check::pass(id, "legacy access logs: no v2 fields to check");
    }
    let answer = logs
        .describe_configuration_templates()
        .service("cloudfront")
        .log_types("ACCESS_LOGS")
        // CloudFront's resource type is not documented: every template of its access logs to S3.
        .delivery_destination_types(aws_sdk_cloudwatchlogs::types::DeliveryDestinationType::S3)
        .send()
        .await;
    match answer {
        Ok(out) => {
            let allowed: Vec<String> = out
                .configuration_templates()
                .iter()
                .flat_map(|t| t.allowed_fields())
                .filter_map(|f| f.name().map(str::to_string))
                .collect();
            log_fields_verdict(&requested_log_fields(input), &allowed)
        }
        Err(e) if is_access_denied(&e) => Check::warn(
            id,
            format!("could not list the fields CloudFront v2 logs take ({})", describe_sdk_error(&e)),
            "allow logs:DescribeConfigurationTemplates, or check by hand: aws logs describe-configuration-templates \
             --region us-east-1 --service cloudfront --log-types ACCESS_LOGS",
        ),
        Err(e) => Check::warn(
            id,
            format!("could not list the fields CloudFront v2 logs take ({})", describe_sdk_error(&e)),
            "run preflight again; a field the service refuses rolls the stack back",
        ),
    }
}

pub fn requested_log_fields(input: &PreflightInput<'_>) -> Vec<String> {
    let mut fields = input.facts.v2_log_fields.clone();
    if input.parameters.get("ReleaseLogData") == Some("true") {
        fields.extend(input.facts.v2_log_fields_with_release_log_data.iter().cloned());
    }
    fields
}

pub fn log_fields_verdict(requested: &[String], allowed: &[String]) -> Check {
    let id = "log-fields";
    if allowed.is_empty() {
        return Check::warn(
            id,
            "the service listed no fields for CloudFront ACCESS_LOGS to S3",
            "check by hand: aws logs describe-configuration-templates --region us-east-1 --service cloudfront \
             --log-types ACCESS_LOGS",
        );
    }
    let missing: Vec<&str> = requested.iter().filter(|f| !allowed.contains(f)).map(String::as_str).collect();
    if missing.is_empty() {
        return Check::pass(id, format!("all {} v2 log fields the template asks for are offered", requested.len()));
    }
    let release_only = missing.iter().all(|f| *f == "viewer-request-log-data");
    Check::fail(
        id,
        format!(
            "CloudFront v2 logs do not offer {}: the log delivery would fail and the stack roll back",
            missing.join(", ")
        ),
        if release_only {
            "ReleaseLogData=false (the release health report then reads versions from the release function's \
             cookies and headers only)"
                .to_string()
        } else {
            "AccessLogs=legacy, or drop the field from AccessLogsDelivery's RecordFields in infra/template.in.yaml"
                .to_string()
        },
    )
}

pub async fn athena_workgroup(athena: &aws_sdk_athena::Client) -> Check {
    let id = "athena-workgroup";
    match athena.get_work_group().work_group(NAMED_QUERY_WORKGROUP).send().await {
        Ok(out) => {
            let Some(group) = out.work_group() else {
                return Check::warn(id, "GetWorkGroup answered without a workgroup", "open Athena's console once");
            };
            let configuration = group.configuration();
            let location = configuration
                .and_then(|c| c.result_configuration())
                .and_then(|r| r.output_location())
                .filter(|l| !l.is_empty());
            let managed =
                configuration.and_then(|c| c.managed_query_results_configuration()).is_some_and(|m| m.enabled());
            let disabled = group.state() == Some(&aws_sdk_athena::types::WorkGroupState::Disabled);
            athena_verdict(location, managed, disabled)
        }
        Err(e) => Check::warn(
            id,
            format!("could not read Athena's {NAMED_QUERY_WORKGROUP} workgroup ({})", describe_sdk_error(&e)),
            "allow athena:GetWorkGroup, or check that the workgroup has a query result location",
        ),
    }
}

pub fn athena_verdict(location: Option<&str>, managed: bool, disabled: bool) -> Check {
    let id = "athena-workgroup";
    let set_location = format!(
        "aws athena update-work-group --work-group {NAMED_QUERY_WORKGROUP} --configuration-updates \
         'ResultConfigurationUpdates={{OutputLocation=s3://<LogsBucketName, once deployed>/athena-results/}}'"
    );
    if disabled {
        return Check::warn(
            id,
            format!("the named queries' workgroup {NAMED_QUERY_WORKGROUP} is disabled: they cannot run"),
            format!("aws athena update-work-group --work-group {NAMED_QUERY_WORKGROUP} --state ENABLED"),
        );
    }
    match (location, managed) {
        (Some(location), _) => {
            Check::pass(id, format!("workgroup {NAMED_QUERY_WORKGROUP} writes query results to {location}"))
        }
        (None, true) => Check::pass(id, format!("workgroup {NAMED_QUERY_WORKGROUP} keeps managed query results")),
        (None, false) => Check::warn(
            id,
            format!(
                "workgroup {NAMED_QUERY_WORKGROUP} (the named queries') has no query result location: Athena \
                 refuses to run them until it has one (the deploy itself is not affected)"
            ),
            set_location,
        ),
    }
}

pub async fn slack(chatbot: &aws_sdk_chatbot::Client, input: &PreflightInput<'_>) -> Check {
    let id = "slack";
    let workspace = input.parameters.get("SlackWorkspaceId").unwrap_or_default();
    let channel = input.parameters.get("SlackChannelId").unwrap_or_default();
    match (workspace.is_empty(), channel.is_empty()) {
        (true, true) => {
            return Check::note(
                id,
                "Slack not configured (SlackWorkspaceId, SlackChannelId empty): alarms and digests reach the \
                 Chatbot topic only",
            )
        }
        (true, false) | (false, true) => {
            return Check::fail(
                id,
                "only one of SlackWorkspaceId and SlackChannelId is set: no Slack channel would be configured",
                "set both (docs/deploying.md#slack), or neither",
            )
        }
        (false, false) => {}
    }
    let mut authorised = Vec::new();
    let mut pages = chatbot.describe_slack_workspaces().into_paginator().send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => authorised.extend(page.slack_workspaces().iter().map(|w| w.slack_team_id().to_string())),
            Err(e) => {
                return Check::warn(
                    id,
                    format!("could not list Chatbot's Slack workspaces ({})", describe_sdk_error(&e)),
                    "allow chatbot:DescribeSlackWorkspaces, or check the AWS Chatbot console: the workspace must be \
                     authorised before the stack creates its channel configuration",
                )
            }
        }
    }
    slack_verdict(workspace, &authorised)
}

pub fn slack_verdict(workspace: &str, authorised: &[String]) -> Check {
    if authorised.iter().any(|w| w == workspace) {
        Check::pass("slack", format!("Slack workspace {workspace} is authorised in AWS Chatbot"))
    } else {
        Check::fail(
            "slack",
            format!(
                "Slack workspace {workspace} is not authorised in AWS Chatbot ({}): the channel configuration \
                 would fail and the stack roll back",
                if authorised.is_empty() {
                    "none is".to_string()
                } else {
                    format!("authorised: {}", authorised.join(", "))
                }
            ),
            "AWS Chatbot console → Configure new client → Slack, sign in to the workspace and allow it; then deploy",
        )
    }
}
