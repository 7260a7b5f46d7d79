//! Metrics as CloudWatch Embedded Metric Format (EMF): one JSON line on stdout per metric set.
//! Lambda sends stdout to the function's log group and CloudWatch Logs extracts the metrics: no
//! API call on the request path and no extra permission. Only emitted inside Lambda, so the CLI's
//! and the demo's output stay clean.

use std::time::{SystemTime, UNIX_EPOCH};

/// The CloudWatch namespace of every media-edge metric (the dashboard reads it).
pub const NAMESPACE: &str = "MediaEdge";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Bytes,
    Milliseconds,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Bytes => "Bytes",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// Values sharing one set of dimensions (always `Service`).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSet {
    dimensions: Vec<(&'static str, String)>,
    values: Vec<(&'static str, f64, Unit)>,
}

impl MetricSet {
    /// `service`: `image-processor`, `edge-router`, …
    pub fn new(service: &str) -> Self {
        MetricSet { dimensions: vec![("Service", service.to_string())], values: Vec::new() }
    }

    pub fn dimension(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.dimensions.push((name, value.into()));
        self
    }

    pub fn value(mut self, name: &'static str, value: f64, unit: Unit) -> Self {
        self.values.push((name, value, unit));
        self
    }

    /// The EMF document for `timestamp_ms` (milliseconds since the epoch).
    pub fn to_emf(&self, timestamp_ms: u64) -> serde_json::Value {
        let names: Vec<&str> = self.dimensions.iter().map(|(name, _)| *name).collect();
        let metrics: Vec<serde_json::Value> = self
            .values
            .iter()
            .map(|(name, _, unit)| serde_json::json!({ "Name": name, "Unit": unit.name() }))
            .collect();
        let mut document = serde_json::json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{ "Namespace": NAMESPACE, "Dimensions": [names], "Metrics": metrics }],
            }
        });
        if let Some(fields) = document.as_object_mut() {
            for (name, value) in &self.dimensions {
                fields.insert((*name).to_string(), value.clone().into());
            }
            for (name, value, _) in &self.values {
                fields.insert((*name).to_string(), (*value).into());
            }
        }
        document
    }

    /// Writes the document as one stdout line when running in Lambda; nothing elsewhere.
    pub fn emit(&self) {
        if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() && !self.values.is_empty() {
            println!("{}", self.to_emf(now_ms()));
        }
    }
}

/// Milliseconds from an RFC 3339 time (an S3 event's `eventTime`) to `now_ms`; `None` if unreadable.
pub fn millis_since(rfc3339: &str, now_ms: u64) -> Option<u64> {
    let at = aws_smithy_types::DateTime::from_str(rfc3339, aws_smithy_types::date_time::Format::DateTime).ok()?;
    let at_ms = u64::try_from(at.to_millis().ok()?).ok()?;
    Some(now_ms.saturating_sub(at_ms))
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_times_are_read() {
        assert_eq!(millis_since("2026-12-01T10:00:00.000Z", 1_796_119_201_500), Some(1_500));
        assert_eq!(millis_since("not a time", 1), None);
    }

    #[test]
    fn documents_follow_the_emf_specification() {
        let set = MetricSet::new("image-processor").dimension("FailureClass", "permanent").value(
            "OriginalsFailed",
            1.0,
            Unit::Count,
        );
        assert_eq!(
            set.to_emf(1_700_000_000_000),
            serde_json::json!({
                "_aws": {
                    "Timestamp": 1_700_000_000_000u64,
                    "CloudWatchMetrics": [{
                        "Namespace": "MediaEdge",
                        "Dimensions": [["Service", "FailureClass"]],
                        "Metrics": [{ "Name": "OriginalsFailed", "Unit": "Count" }]
                    }]
                },
                "Service": "image-processor",
                "FailureClass": "permanent",
                "OriginalsFailed": 1.0
            })
        );
    }
}
