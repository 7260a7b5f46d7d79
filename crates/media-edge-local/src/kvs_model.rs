//! The CloudFront KeyValueStore as its API behaves, for tests (the emulator has no such
//! service): one ETag for the whole store that changes with every write, a write whose `If-Match`
//! is not the current ETag refused with ConflictException, an absent key answering
//! ResourceNotFoundException, and an outage switch that makes calls fail as the service does
//! (InternalServerException). Answers come through aws-smithy-mocks, so the code under test uses
//! the real SDK client, its serialisation of requests and its retries.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use aws_sdk_cloudfrontkeyvaluestore::config::retry::RetryConfig;
use aws_sdk_cloudfrontkeyvaluestore::operation::delete_key::{DeleteKeyError, DeleteKeyOutput};
use aws_sdk_cloudfrontkeyvaluestore::operation::describe_key_value_store::{
    DescribeKeyValueStoreError, DescribeKeyValueStoreOutput,
};
use aws_sdk_cloudfrontkeyvaluestore::operation::get_key::{GetKeyError, GetKeyOutput};
use aws_sdk_cloudfrontkeyvaluestore::operation::put_key::{PutKeyError, PutKeyOutput};
use aws_sdk_cloudfrontkeyvaluestore::types::error::{
    ConflictException, InternalServerException, ResourceNotFoundException,
};
use aws_sdk_cloudfrontkeyvaluestore::Client;
use aws_smithy_mocks::{mock, mock_client, MockResponse, Rule, RuleMode};

/// Which calls fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outage {
    #[default]
    None,
    /// PutKey fails; reads answer.
    Writes,
    /// Every call fails.
    All,
}

#[derive(Debug, Default)]
struct State {
    entries: BTreeMap<String, String>,
    /// Bumped by every accepted write; the ETag is `"E<version>"`.
    version: u64,
    outage: Outage,
    /// Writes refused because their If-Match was not the current ETag.
    stale_writes: u32,
}

impl State {
    fn etag(&self) -> String {
        format!("E{}", self.version)
    }
}

pub struct KvsModel {
    state: Arc<Mutex<State>>,
    pub client: Client,
    // The client holds its rules through its interceptor; kept here so a test can count calls.
    _rules: Vec<Rule>,
}

impl KvsModel {
    pub fn new(arn: &str) -> Self {
        let state: Arc<Mutex<State>> = Arc::default();
        let arn = arn.to_string();
        let describe = {
            let state = state.clone();
            mock!(Client::describe_key_value_store).then_compute_response(move |_| {
                let state = lock(&state);
                if state.outage == Outage::All {
                    return MockResponse::Error(DescribeKeyValueStoreError::InternalServerException(outage()));
                }
                let output = DescribeKeyValueStoreOutput::builder()
                    .item_count(state.entries.len() as i32)
                    .total_size_in_bytes(state.entries.iter().map(|(k, v)| (k.len() + v.len()) as i64).sum())
                    .kvs_arn(&arn)
                    .created(aws_smithy_types::DateTime::from_secs(0))
                    .e_tag(state.etag())
                    .build();
                match output {
                    Ok(output) => MockResponse::Output(output),
                    Err(e) => MockResponse::Error(DescribeKeyValueStoreError::unhandled(e)),
                }
            })
        };
        let get = {
            let state = state.clone();
            mock!(Client::get_key).then_compute_response(move |request| {
                let state = lock(&state);
                if state.outage == Outage::All {
                    return MockResponse::Error(GetKeyError::InternalServerException(outage()));
                }
                let key = request.key().unwrap_or_default();
                let Some(value) = state.entries.get(key) else {
                    let missing = ResourceNotFoundException::builder().message("Key not found").build();
                    return MockResponse::Error(GetKeyError::ResourceNotFoundException(missing));
                };
                let output = GetKeyOutput::builder()
                    .key(key)
                    .value(value)
                    .item_count(state.entries.len() as i32)
                    .total_size_in_bytes(1)
                    .build();
                match output {
                    Ok(output) => MockResponse::Output(output),
                    Err(e) => MockResponse::Error(GetKeyError::unhandled(e)),
                }
            })
        };
        let put = {
            let state = state.clone();
            mock!(Client::put_key).then_compute_response(move |request| {
                let mut state = lock(&state);
                if state.outage != Outage::None {
                    return MockResponse::Error(PutKeyError::InternalServerException(outage()));
                }
                if request.if_match() != Some(state.etag().as_str()) {
                    state.stale_writes += 1;
                    let stale = ConflictException::builder().message("Pre-condition failed: ETag mismatch").build();
                    return MockResponse::Error(PutKeyError::ConflictException(stale));
                }
                let (key, value) = (request.key().unwrap_or_default(), request.value().unwrap_or_default());
                state.entries.insert(key.to_string(), value.to_string());
                state.version += 1;
                let output = PutKeyOutput::builder()
                    .item_count(state.entries.len() as i32)
                    .total_size_in_bytes(1)
                    .e_tag(state.etag())
                    .build();
                match output {
                    Ok(output) => MockResponse::Output(output),
                    Err(e) => MockResponse::Error(PutKeyError::unhandled(e)),
                }
            })
        };
        let delete = {
            let state = state.clone();
            mock!(Client::delete_key).then_compute_response(move |request| {
                let mut state = lock(&state);
                if state.outage != Outage::None {
                    return MockResponse::Error(DeleteKeyError::InternalServerException(outage()));
                }
                if request.if_match() != Some(state.etag().as_str()) {
                    state.stale_writes += 1;
                    let stale = ConflictException::builder().message("Pre-condition failed: ETag mismatch").build();
                    return MockResponse::Error(DeleteKeyError::ConflictException(stale));
                }
                let key = request.key().unwrap_or_default();
                if state.entries.remove(key).is_none() {
                    let missing = ResourceNotFoundException::builder().message("Key not found").build();
                    return MockResponse::Error(DeleteKeyError::ResourceNotFoundException(missing));
                }
                state.version += 1;
                let output = DeleteKeyOutput::builder()
                    .item_count(state.entries.len() as i32)
                    .total_size_in_bytes(1)
                    .e_tag(state.etag())
                    .build();
                match output {
                    Ok(output) => MockResponse::Output(output),
                    Err(e) => MockResponse::Error(DeleteKeyError::unhandled(e)),
                }
            })
        };
        let client =
            mock_client!(aws_sdk_cloudfrontkeyvaluestore, RuleMode::MatchAny, [&describe, &get, &put, &delete], |c| c
                .retry_config(
                    RetryConfig::standard().with_max_attempts(2).with_initial_backoff(Duration::from_millis(1))
                ));
        KvsModel { state, client, _rules: vec![describe, get, put, delete] }
    }

    pub fn set_outage(&self, outage: Outage) {
        lock(&self.state).outage = outage;
    }

    /// What the store holds for `key`.
    pub fn value(&self, key: &str) -> Option<String> {
        lock(&self.state).entries.get(key).cloned()
    }

    /// The store's current ETag.
    pub fn etag(&self) -> String {
        lock(&self.state).etag()
    }

    /// Writes accepted so far.
    pub fn writes(&self) -> u64 {
        lock(&self.state).version
    }

    /// Writes refused because they named an ETag the store no longer had.
    pub fn stale_writes(&self) -> u32 {
        lock(&self.state).stale_writes
    }

    /// Another writer's change (the ETag moves under whoever read it before).
    pub fn write_elsewhere(&self, key: &str, value: &str) {
        let mut state = lock(&self.state);
        state.entries.insert(key.into(), value.into());
        state.version += 1;
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn outage() -> InternalServerException {
    InternalServerException::builder().message("We encountered an internal error. Please try again.").build()
}
