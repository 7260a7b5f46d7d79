//! Every alarm of the stack watches a metric that exists with exactly its dimensions. An alarm on
//! a dimension set the service never publishes (say, a `Resource` dimension on a metric that only
//! has `FunctionName`) stays at INSUFFICIENT_DATA or OK for ever: a deployment gate that cannot
//! fire. ListMetrics tells them apart once traffic has flowed.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudwatch::types::{Dimension, DimensionFilter, MetricAlarm};
use media_edge_shared::aws::describe_sdk_error;

use crate::checklist::Check;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MetricRef {
    pub namespace: String,
    pub name: String,
    /// Sorted by name.
    pub dimensions: Vec<(String, String)>,
}

impl std::fmt::Display for MetricRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dims: Vec<String> = self.dimensions.iter().map(|(k, v)| format!("{k}={v}")).collect();
        write!(f, "{}/{} {{{}}}", self.namespace, self.name, dims.join(", "))
    }
}

/// What ListMetrics showed for one metric an alarm watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Published with exactly these dimensions.
    Found,
    /// Not published (yet): no data since the stack exists.
    NoData,
    /// Published for the same resource, but only with other dimension sets: never this one.
    OtherDimensions(Vec<Vec<(String, String)>>),
}

fn dims_of(dimensions: &[Dimension]) -> Vec<(String, String)> {
    let mut dims: Vec<(String, String)> = dimensions
        .iter()
        .map(|d| (d.name().unwrap_or_default().to_string(), d.value().unwrap_or_default().to_string()))
        .collect();
    dims.sort();
    dims
}

/// The metrics one alarm reads: its metric, or each metric of its math expression.
pub fn metrics_of(alarm: &MetricAlarm) -> Vec<MetricRef> {
    if let (Some(namespace), Some(name)) = (alarm.namespace(), alarm.metric_name()) {
        return vec![MetricRef {
            namespace: namespace.to_string(),
            name: name.to_string(),
            dimensions: dims_of(alarm.dimensions()),
        }];
    }
    alarm
        .metrics()
        .iter()
        .filter_map(|q| q.metric_stat()?.metric())
        .filter_map(|m| {
            Some(MetricRef {
                namespace: m.namespace()?.to_string(),
                name: m.metric_name()?.to_string(),
                dimensions: dims_of(m.dimensions()),
            })
        })
        .collect()
}

async fn published(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    metric: &MetricRef,
    filter: &[(String, String)],
) -> Result<Vec<Vec<(String, String)>>, String> {
    let mut request = cloudwatch.list_metrics().namespace(&metric.namespace).metric_name(&metric.name);
    for (name, value) in filter {
        request = request.dimensions(DimensionFilter::builder().name(name).value(value).build());
    }
    let mut sets = Vec::new();
    let mut pages = request.into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| describe_sdk_error(&e))?;
        sets.extend(page.metrics().iter().map(|m| dims_of(m.dimensions())));
    }
    Ok(sets)
}

/// Exact match, else whatever is published for the metric's first dimension (its resource).
pub async fn seen(cloudwatch: &aws_sdk_cloudwatch::Client, metric: &MetricRef) -> Result<Seen, String> {
    let containing = published(cloudwatch, metric, &metric.dimensions).await?;
    if containing.contains(&metric.dimensions) {
        return Ok(Seen::Found);
    }
    let resource: Vec<(String, String)> = metric
        .dimensions
        .iter()
        .filter(|(name, _)| matches!(name.as_str(), "FunctionName" | "QueueName" | "Service" | "DistributionId"))
        .take(1)
        .cloned()
        .collect();
    let siblings = if resource.is_empty() { containing } else { published(cloudwatch, metric, &resource).await? };
    Ok(if siblings.is_empty() { Seen::NoData } else { Seen::OtherDimensions(siblings) })
}

/// One line per alarm.
pub fn verdict(logical_id: &str, name: &str, watched: &[(MetricRef, Seen)]) -> Check {
    let id = format!("alarm {logical_id}");
    if watched.is_empty() {
        return Check::warn(
            &id,
            format!("{name} watches no metric this check can read"),
            "read the alarm in the console",
        );
    }
    let wrong: Vec<String> = watched
        .iter()
        .filter_map(|(metric, seen)| match seen {
            Seen::OtherDimensions(sets) => Some(format!(
                "{metric} is never published; the service publishes it with {}",
                sets.iter()
                    .take(3)
                    .map(|d| format!(
                        "{{{}}}",
                        d.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
                    ))
                    .collect::<Vec<_>>()
                    .join(" or ")
            )),
            _ => None,
        })
        .collect();
    if !wrong.is_empty() {
        return Check::fail(
            &id,
            format!("{name} cannot fire: {}", wrong.join("; ")),
            format!("give {logical_id} the dimensions the service publishes (infra/template.in.yaml)"),
        );
    }
    let found = watched.iter().filter(|(_, s)| *s == Seen::Found).count();
    if found == 0 {
        Check::warn(
            &id,
            format!(
                "{name}: no data yet for {}",
                watched.iter().map(|(m, _)| m.to_string()).collect::<Vec<_>>().join(", ")
            ),
            "metrics appear once their resource has had traffic (up to 15 minutes after it): run smoke again later",
        )
    } else {
        Check::pass(&id, format!("{name}: {found} of {} metrics published with its dimensions", watched.len()))
    }
}

/// Each alarm's verdict, asking again every 15 s while some have no data, for up to `wait`.
pub async fn check(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    alarms: &BTreeMap<String, String>,
    wait: Duration,
) -> Vec<Check> {
    let names: Vec<String> = alarms.values().cloned().collect();
    let mut described: Vec<MetricAlarm> = Vec::new();
    for chunk in names.chunks(100) {
        match cloudwatch.describe_alarms().set_alarm_names(Some(chunk.to_vec())).send().await {
            Ok(out) => described.extend(out.metric_alarms().iter().cloned()),
            Err(e) => {
                return vec![Check::warn(
                    "alarms",
                    format!("could not describe the stack's alarms ({})", describe_sdk_error(&e)),
                    "allow cloudwatch:DescribeAlarms and cloudwatch:ListMetrics",
                )]
            }
        }
    }
    let started = tokio::time::Instant::now();
    loop {
        let mut checks = Vec::new();
        for (logical_id, name) in alarms {
            let Some(alarm) = described.iter().find(|a| a.alarm_name() == Some(name.as_str())) else {
                checks.push(Check::fail(
                    &format!("alarm {logical_id}"),
                    format!("the stack names alarm {name}, which CloudWatch does not have"),
                    "update the stack (sam deploy) so it re-creates the alarm",
                ));
                continue;
            };
            let mut watched = Vec::new();
            for metric in metrics_of(alarm) {
                match seen(cloudwatch, &metric).await {
                    Ok(s) => watched.push((metric, s)),
                    Err(e) => {
                        return vec![Check::warn(
                            "alarms",
                            format!("could not list metrics ({e})"),
                            "allow cloudwatch:ListMetrics",
                        )]
                    }
                }
            }
            checks.push(verdict(logical_id, name, &watched));
        }
        let waiting = checks.iter().any(|c| c.summary.contains("no data yet"));
        if !waiting || started.elapsed() + Duration::from_secs(15) > wait {
            return checks;
        }
        tokio::time::sleep(Duration::from_secs(15)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(dims: &[(&str, &str)]) -> MetricRef {
        MetricRef {
            namespace: "AWS/Lambda".into(),
            name: "Url5xxCount".into(),
            dimensions: dims.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn a_dimension_set_never_published_fails_and_says_what_is() {
        let m = metric(&[("FunctionName", "router"), ("Resource", "router:live")]);
        let other = vec![vec![("FunctionName".to_string(), "router".to_string())]];
        let check = verdict("EdgeRouter5xxAlarm", "a", &[(m.clone(), Seen::OtherDimensions(other))]);
        assert_eq!(check.verdict, crate::checklist::Verdict::Fail);
        assert!(check.summary.contains("publishes it with {FunctionName=router}"), "{}", check.summary);
        assert_eq!(verdict("X", "a", &[(m.clone(), Seen::NoData)]).verdict, crate::checklist::Verdict::Warn);
        assert_eq!(
            verdict("X", "a", &[(m.clone(), Seen::Found), (m, Seen::NoData)]).verdict,
            crate::checklist::Verdict::Pass
        );
    }
}
