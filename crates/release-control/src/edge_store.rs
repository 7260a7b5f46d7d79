//! The CloudFront KeyValueStore the edge function routes by (ReleaseRouting=edge): one key per
//! channel holding its [`EdgeEntry`]. Every write names the store's ETag (`If-Match`), so a
//! writer that read an older state is refused instead of overwriting a newer one.

use aws_sdk_cloudfrontkeyvaluestore::error::ProvideErrorMetadata;
use media_edge_shared::aws::describe_sdk_error;

use edge_router::channel::{EdgeEntry, MAX_EDGE_KEY_BYTES, MAX_EDGE_VALUE_BYTES};

#[derive(Clone, Debug)]
pub struct EdgeStore {
    pub client: aws_sdk_cloudfrontkeyvaluestore::Client,
    /// The store's ARN (stack output `ReleaseStoreArn`).
    pub arn: String,
}

/// Why a write to the store did not happen.
#[derive(Debug, thiserror::Error)]
pub enum EdgeStoreError {
    /// The store changed since its ETag was read (another writer): read again and retry.
    #[error("the edge store changed since it was read")]
    Conflict,
    #[error("{0}")]
    Refused(String),
}

impl EdgeStore {
    /// The store's current ETag: the precondition of the next write.
    pub async fn etag(&self) -> Result<String, EdgeStoreError> {
        let store = self
            .client
            .describe_key_value_store()
            .kvs_arn(&self.arn)
            .send()
            .await
            .map_err(|e| EdgeStoreError::Refused(format!("describing {}: {}", self.arn, describe_sdk_error(&e))))?;
        Ok(store.e_tag().to_string())
    }

    /// What the store holds for `channel` (`None`: no entry).
    pub async fn get(&self, channel: &str) -> Result<Option<String>, EdgeStoreError> {
        match self.client.get_key().kvs_arn(&self.arn).key(channel).send().await {
            Ok(found) => Ok(Some(found.value().to_string())),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(None),
            Err(e) => Err(EdgeStoreError::Refused(format!("reading {channel}: {}", describe_sdk_error(&e)))),
        }
    }

    /// Writes `channel`'s entry if the store is still at `etag`.
    pub async fn put(&self, channel: &str, entry: &EdgeEntry, etag: &str) -> Result<(), EdgeStoreError> {
        let value = entry.to_value();
        // Checked here so the operator reads which limit, not a bare ValidationException.
        if channel.len() > MAX_EDGE_KEY_BYTES || value.len() > MAX_EDGE_VALUE_BYTES {
            return Err(EdgeStoreError::Refused(format!(
                "entry for {channel} is {} + {} bytes; the store takes keys up to {MAX_EDGE_KEY_BYTES} and values up to {MAX_EDGE_VALUE_BYTES}",
                channel.len(),
                value.len()
            )));
        }
        let written = self.client.put_key().kvs_arn(&self.arn).key(channel).value(value).if_match(etag).send().await;
        match written {
            Ok(_) => Ok(()),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                let service = e.as_service_error();
                if service.is_some_and(|s| s.is_conflict_exception()) || status == Some(412) {
                    return Err(EdgeStoreError::Conflict);
                }
                let why = match service {
                    Some(s) if s.is_service_quota_exceeded_exception() => {
                        format!("the store is full (5 MB): {}", message(s))
                    }
                    Some(s) if s.is_validation_exception() => format!("the store refused the entry: {}", message(s)),
                    _ => describe_sdk_error(&e),
                };
                Err(EdgeStoreError::Refused(format!("writing {channel}: {why}")))
            }
        }
    }
}

/// What the service said: its message, or the error itself when it sent none.
fn message(error: &(impl ProvideErrorMetadata + std::fmt::Display)) -> String {
    error.message().filter(|m| !m.is_empty()).map_or_else(|| error.to_string(), str::to_string)
}
