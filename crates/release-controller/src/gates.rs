//! Gates as CloudWatch alarms: each named alarm's state, and since when it has had it. An alarm
//! the account does not have is reported as missing, never as healthy.

use aws_sdk_cloudwatch::types::StateValue;
use media_edge_shared::aws::describe_sdk_error;
use release_control::rollout::{GateHealth, GateReading};

/// DescribeAlarms takes at most 100 names per call.
const NAMES_PER_CALL: usize = 100;

pub async fn read_gates(cloudwatch: &aws_sdk_cloudwatch::Client, names: &[String]) -> Result<Vec<GateReading>, String> {
    let mut readings = Vec::new();
    for chunk in names.chunks(NAMES_PER_CALL) {
        let mut pages = cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(chunk.to_vec()))
            .alarm_types(aws_sdk_cloudwatch::types::AlarmType::MetricAlarm)
            .alarm_types(aws_sdk_cloudwatch::types::AlarmType::CompositeAlarm)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| format!("reading the gates' alarms: {}", describe_sdk_error(&e)))?;
            // When the state last changed (StateTransitionedTimestamp; StateUpdatedTimestamp also
            // moves when only the reason or evaluation state does), the other if absent.
            let metric = page.metric_alarms().iter().map(|a| {
                (a.alarm_name(), a.state_value(), a.state_transitioned_timestamp().or(a.state_updated_timestamp()))
            });
            let composite = page.composite_alarms().iter().map(|a| {
                (a.alarm_name(), a.state_value(), a.state_transitioned_timestamp().or(a.state_updated_timestamp()))
            });
            for (name, state, since) in metric.chain(composite) {
                let Some(name) = name else { continue };
                let health = match (state, since) {
                    (Some(StateValue::Alarm), _) => GateHealth::Alarm,
                    // OK since an unknown time proves no healthy interval: held (and said), as no data.
                    (Some(StateValue::Ok), Some(_)) => GateHealth::Ok,
                    _ => GateHealth::NoData,
                };
                let since = since.map_or(0, |t| u64::try_from(t.secs()).unwrap_or(0));
                readings.push(GateReading { name: name.to_string(), health, since });
            }
        }
    }
    for name in names {
        if !readings.iter().any(|r| &r.name == name) {
            readings.push(GateReading { name: name.clone(), health: GateHealth::Missing, since: 0 });
        }
    }
    Ok(readings)
}
