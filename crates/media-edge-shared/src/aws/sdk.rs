//! SDK setup, once per cold start.
//!
//! `AWS_ENDPOINT_URL` is the only switch between AWS and a local emulator: the SDK reads it itself,
//! and S3 then uses path-style addressing (emulators on 127.0.0.1 have no per-bucket host names).

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// Loads region, credentials and endpoint from the environment, with a rustls (ring) HTTPS client.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client()).load().await
}

/// The HTTPS client every SDK client uses: rustls with ring, no OpenSSL, no aws-lc build.
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https()
}

/// True when the SDK is pointed at an endpoint other than AWS's (a local emulator).
pub fn uses_custom_endpoint() -> bool {
    std::env::var("AWS_ENDPOINT_URL").is_ok_and(|url| !url.trim().is_empty())
}

#[cfg(feature = "s3")]
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let s3_config = aws_sdk_s3::config::Builder::from(config).force_path_style(uses_custom_endpoint()).build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

#[cfg(feature = "sns")]
pub fn sns_client(config: &SdkConfig) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(config)
}
