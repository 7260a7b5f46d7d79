//! The AWS Chatbot (Amazon Q Developer in chat applications) custom notification format.
//! Chatbot drops malformed messages silently, so [`CustomNotification::validate`] checks ours
//! before they are published (and the tests check every message against it).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomNotification {
    /// Must be "1.0".
    pub version: String,
    /// Must be "custom".
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub content: Content,
    pub metadata: Metadata,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    /// Only "client-markdown" is supported.
    pub text_type: String,
    pub title: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next_steps: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// Notifications with the same thread id are grouped in one Slack thread.
    pub thread_id: String,
    /// Shown in the notification preview (e.g. mobile push).
    pub summary: String,
    pub event_type: String,
}

/// Bounds we keep to. Chatbot documents the fields, not all of their limits; these are
/// conservative (Slack renders a block's text up to 3 000 characters, and SNS takes 256 KB).
pub const MAX_TITLE: usize = 250;
pub const MAX_DESCRIPTION: usize = 3000;
pub const MAX_NEXT_STEPS: usize = 5;
pub const MAX_NEXT_STEP: usize = 350;
pub const MAX_KEYWORDS: usize = 10;
pub const MAX_KEYWORD: usize = 75;
pub const MAX_THREAD_ID: usize = 128;
pub const MAX_SUMMARY: usize = 250;

impl CustomNotification {
    pub fn new(title: String, description: String, metadata: Metadata) -> Self {
        CustomNotification {
            version: "1.0".into(),
            source: "custom".into(),
            id: None,
            content: Content {
                text_type: "client-markdown".into(),
                title,
                description,
                next_steps: Vec::new(),
                keywords: Vec::new(),
            },
            metadata,
        }
    }

    /// Every rule the documented schema and our bounds impose; the first broken one is returned.
    pub fn validate(&self) -> Result<(), String> {
        let chars = |s: &str| s.chars().count();
        let check = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_string()) };
        check(self.version == "1.0", "version must be \"1.0\"")?;
        check(self.source == "custom", "source must be \"custom\"")?;
        check(self.content.text_type == "client-markdown", "textType must be \"client-markdown\"")?;
        check(!self.content.title.trim().is_empty(), "title is empty")?;
        check(chars(&self.content.title) <= MAX_TITLE, "title too long")?;
        check(!self.content.title.contains('\n'), "title has a line break")?;
        check(chars(&self.content.description) <= MAX_DESCRIPTION, "description too long")?;
        check(self.content.next_steps.len() <= MAX_NEXT_STEPS, "too many nextSteps")?;
        check(self.content.next_steps.iter().all(|s| !s.is_empty() && chars(s) <= MAX_NEXT_STEP), "bad nextStep")?;
        check(self.content.keywords.len() <= MAX_KEYWORDS, "too many keywords")?;
        check(self.content.keywords.iter().all(|k| !k.is_empty() && chars(k) <= MAX_KEYWORD), "bad keyword")?;
        let thread_ok = !self.metadata.thread_id.is_empty()
            && self.metadata.thread_id.len() <= MAX_THREAD_ID
            && self.metadata.thread_id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
        check(thread_ok, "threadId must be 1–128 characters of [A-Za-z0-9-_.:]")?;
        check(!self.metadata.summary.is_empty() && chars(&self.metadata.summary) <= MAX_SUMMARY, "bad summary")?;
        check(!self.metadata.event_type.is_empty(), "eventType is empty")?;
        let json = serde_json::to_string(self).map_err(|e| e.to_string())?;
        check(json.len() <= 256 * 1024, "larger than an SNS message may be")?;
        Ok(())
    }
}
