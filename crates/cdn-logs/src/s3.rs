//! `s3://bucket/prefix` sources, streamed object by object through the SDK (the `s3` feature).

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStreamError;
use media_edge_shared::aws::{describe_sdk_error, load_sdk_config, s3_client};

use crate::error::Error;
use crate::progress::Progress;
use crate::reader::LogFeed;
use crate::sink::{Dialect, Sink};

/// Every object under the prefix. Failing to list is an error; an object that cannot be read to
/// the end is noted as unreadable and the lines read before the break still count.
pub async fn read<S: Sink>(url: &str, aggregate: &mut S, progress: &Progress) -> Result<(), Error> {
    let location = url.trim_start_matches("s3://");
    let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
    if bucket.is_empty() {
        return Err(Error::NoBucket { url: url.to_string() });
    }
    let client = s3_client(&load_sdk_config().await);
    let mut keys = Vec::new();
    let mut pages = client.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| Error::S3Listing { url: url.to_string(), source: Box::new(e) })?;
        keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
    }
    let range = aggregate.range();
    let before = keys.len();
    keys.retain(|key| range.may_hold(key));
    aggregate.input().files_outside_range += (before - keys.len()) as u64;
    for key in keys {
        let source = format!("s3://{bucket}/{key}");
        if let Err(why) = read_object(&client, bucket, &key, &source, aggregate, progress).await {
            aggregate.input().unreadable.push(format!("{source}: {why}"));
        }
        progress.file_done();
    }
    Ok(())
}

/// Why an object was not read to its end.
#[derive(Debug, thiserror::Error)]
enum ObjectError {
    #[error("{}", describe_sdk_error(.0))]
    Get(#[source] Box<SdkError<GetObjectError, HttpResponse>>),
    #[error("download broke off: {0}")]
    Download(#[source] ByteStreamError),
    /// Corrupt or truncated gzip.
    #[error("{0}")]
    Decode(#[source] std::io::Error),
    #[error("a Parquet object over {} MiB", MAX_PARQUET_BYTES >> 20)]
    TooLarge,
    #[error("{0}")]
    Parquet(String),
}

async fn read_object<S: Sink>(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    source: &str,
    aggregate: &mut S,
    progress: &Progress,
) -> Result<(), ObjectError> {
    let object = client.get_object().bucket(bucket).key(key).send().await.map_err(|e| ObjectError::Get(Box::new(e)))?;
    let mut body = object.body;
    let Some(first) = body.next().await.transpose().map_err(ObjectError::Download)? else {
        // An empty object: an empty log.
        return LogFeed::new(source, aggregate).finish().map_err(ObjectError::Decode);
    };
    progress.add(first.len());
    if aggregate.dialect() == Dialect::CloudFront && first.starts_with(crate::parquet::MAGIC) {
        // Parquet is read from its footer: the whole object, within a bound.
        let mut whole = first.to_vec();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(ObjectError::Download)?;
            progress.add(chunk.len());
            if whole.len() + chunk.len() > MAX_PARQUET_BYTES {
                return Err(ObjectError::TooLarge);
            }
            whole.extend_from_slice(&chunk);
        }
        return crate::parquet::read(source, aggregate, bytes::Bytes::from(whole)).map_err(ObjectError::Parquet);
    }
    let mut feed = LogFeed::new(source, aggregate);
    feed.push(&first).map_err(ObjectError::Decode)?;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(ObjectError::Download)?;
        progress.add(chunk.len());
        feed.push(&chunk).map_err(ObjectError::Decode)?;
    }
    feed.finish().map_err(ObjectError::Decode)
}

/// CloudFront writes log files of megabytes; a Parquet object past this is not one of them.
const MAX_PARQUET_BYTES: usize = 1 << 30;
