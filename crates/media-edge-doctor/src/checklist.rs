//! The doctor's answer: one line per check, ✓ (fine), ! (works, but read this) or ✗ (will fail,
//! with the fix beside it), as text for a person or JSON for a pipeline.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
}

impl Verdict {
    pub fn mark(self) -> &'static str {
        match self {
            Verdict::Pass => "✓",
            Verdict::Warn => "!",
            Verdict::Fail => "✗",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable name for scripts (`lambda-concurrency`, `smoke-photo`, …).
    pub id: String,
    pub verdict: Verdict,
    /// What was found, in one line.
    pub summary: String,
    /// What to do about it (always present on a failure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub fn pass(id: &str, summary: impl Into<String>) -> Self {
        Check { id: id.into(), verdict: Verdict::Pass, summary: summary.into(), fix: None }
    }

    pub fn warn(id: &str, summary: impl Into<String>, fix: impl Into<String>) -> Self {
        Check { id: id.into(), verdict: Verdict::Warn, summary: summary.into(), fix: Some(fix.into()) }
    }

    /// A warning that needs no action (it only says what the deploy will do).
    pub fn note(id: &str, summary: impl Into<String>) -> Self {
        Check { id: id.into(), verdict: Verdict::Warn, summary: summary.into(), fix: None }
    }

    pub fn fail(id: &str, summary: impl Into<String>, fix: impl Into<String>) -> Self {
        Check { id: id.into(), verdict: Verdict::Fail, summary: summary.into(), fix: Some(fix.into()) }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Checklist {
    pub checks: Vec<Check>,
}

impl Checklist {
    pub fn push(&mut self, check: Check) {
        self.checks.push(check);
    }

    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.verdict == Verdict::Fail)
    }

    pub fn get(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// One line per check (`✓ id: summary`), the fix indented under it.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for check in &self.checks {
            out.push_str(&format!("{} {}: {}\n", check.verdict.mark(), check.id, check.summary));
            if let Some(fix) = &check.fix {
                out.push_str(&format!("    → {fix}\n"));
            }
        }
        let count = |v| self.checks.iter().filter(|c| c.verdict == v).count();
        out.push_str(&format!(
            "{} passed, {} to read, {} failed\n",
            count(Verdict::Pass),
            count(Verdict::Warn),
            count(Verdict::Fail)
        ));
        out
    }

    pub fn to_json(&self) -> String {
        let failed = self.failed();
        serde_json::json!({ "ok": !failed, "checks": self.checks }).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_fails_the_list_and_shows_its_fix() {
        let mut list = Checklist::default();
        list.push(Check::pass("a", "fine"));
        list.push(Check::warn("b", "odd", "look"));
        assert!(!list.failed());
        list.push(Check::fail("c", "broken", "do this"));
        assert!(list.failed());
        let text = list.to_text();
        assert_eq!(
            text,
            "✓ a: fine\n! b: odd\n    → look\n✗ c: broken\n    → do this\n1 passed, 1 to read, 1 failed\n"
        );
        let json: serde_json::Value = serde_json::from_str(&list.to_json()).unwrap();
        assert_eq!(json["ok"], false);
        assert_eq!(json["checks"][2]["verdict"], "fail");
        assert_eq!(json["checks"][2]["fix"], "do this");
        assert!(json["checks"][0].get("fix").is_none());
    }
}
