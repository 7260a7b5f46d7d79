//! Every failure is either permanent (retrying cannot help: report and acknowledge) or transient
//! (the environment failed: give the message back to SQS so it is retried, then dead-lettered).

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// The input or the request is wrong; the same attempt will fail the same way.
    Permanent,
    /// Throttling, 5xx, timeouts, network: the same attempt may succeed later.
    Transient,
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureClass::Permanent => "permanent",
            FailureClass::Transient => "transient",
        })
    }
}

/// A classified failure with a human-readable reason (safe to show operators).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{class} failure: {reason}")]
pub struct Failure {
    pub class: FailureClass,
    pub reason: String,
}

impl Failure {
    pub fn permanent(reason: impl Into<String>) -> Self {
        Failure { class: FailureClass::Permanent, reason: reason.into() }
    }

    pub fn transient(reason: impl Into<String>) -> Self {
        Failure { class: FailureClass::Transient, reason: reason.into() }
    }

    pub fn is_transient(&self) -> bool {
        self.class == FailureClass::Transient
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_display_names_its_class() {
        assert_eq!(Failure::permanent("bad").to_string(), "permanent failure: bad");
        assert!(Failure::transient("slow").is_transient());
    }
}
