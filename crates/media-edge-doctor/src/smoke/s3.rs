//! Listing and removing a run's objects.

use media_edge_shared::aws::describe_sdk_error;

use crate::error::DoctorError;

pub async fn list_keys(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<Vec<String>, DoctorError> {
    let mut keys = Vec::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| DoctorError::Aws(format!("listing s3://{bucket}/{prefix}: {}", describe_sdk_error(&e))))?;
        keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
    }
    Ok(keys)
}

pub async fn delete_keys(s3: &aws_sdk_s3::Client, bucket: &str, keys: &[String]) -> Result<(), DoctorError> {
    for key in keys {
        s3.delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| DoctorError::Aws(format!("deleting s3://{bucket}/{key}: {}", describe_sdk_error(&e))))?;
    }
    Ok(())
}
