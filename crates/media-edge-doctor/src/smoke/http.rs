//! GETs through the distribution (or the local edge, over plain HTTP), as a viewer makes them.
//! Each client's TLS ClientHello is its own, so two clients are two TLS fingerprints (JA3/JA4).

use std::collections::BTreeMap;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;

use crate::error::DoctorError;

/// Probe files are small; a variant of a hostile size would be a finding, not a download.
const MAX_BODY: usize = 64 * 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(30);

/// Which TLS versions the client offers: each gives another ClientHello, hence another JA4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hello {
    /// TLS 1.3 and 1.2, as browsers offer.
    Default,
    Tls12Only,
    Tls13Only,
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// By lower-case name; repeated headers joined with ", ".
    pub headers: BTreeMap<String, String>,
    pub body: Bytes,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

#[derive(Clone)]
pub struct Http {
    client: HyperClient<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>, Empty<Bytes>>,
}

impl Http {
    pub fn new(hello: Hello) -> Result<Self, DoctorError> {
        use hyper_rustls::ConfigBuilderExt;
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&rustls::SupportedProtocolVersion] = match hello {
            Hello::Default => rustls::DEFAULT_VERSIONS,
            Hello::Tls12Only => &[&rustls::version::TLS12],
            Hello::Tls13Only => &[&rustls::version::TLS13],
        };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .map_err(|e| DoctorError::Http(format!("TLS setup: {e}")))?
            .with_native_roots()
            .map_err(|e| DoctorError::Http(format!("reading this machine's CA certificates: {e}")))?
            .with_no_client_auth();
        let connector =
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().build();
        // A new connection per client: each fingerprint probe is its own handshake.
        let client = HyperClient::builder(TokioExecutor::new()).pool_max_idle_per_host(0).build(connector);
        Ok(Http { client })
    }

    /// GET `url` with `headers`; the body is read whole (up to 64 MB).
    pub async fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<Response, DoctorError> {
        let mut request = hyper::Request::get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Empty::new()).map_err(|e| DoctorError::Http(format!("GET {url}: {e}")))?;
        let response = tokio::time::timeout(TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| DoctorError::Http(format!("GET {url}: no answer within {} s", TIMEOUT.as_secs())))?
            .map_err(|e| DoctorError::Http(format!("GET {url}: {e}")))?;
        let status = response.status().as_u16();
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in response.headers() {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            headers
                .entry(name.as_str().to_ascii_lowercase())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&value)
                })
                .or_insert(value);
        }
        let body = tokio::time::timeout(TIMEOUT, Limited::new(response.into_body(), MAX_BODY).collect())
            .await
            .map_err(|_| DoctorError::Http(format!("GET {url}: body not read within {} s", TIMEOUT.as_secs())))?
            .map_err(|e| DoctorError::Http(format!("GET {url}: reading the body: {e}")))?
            .to_bytes();
        Ok(Response { status, headers, body })
    }
}

/// A key as a URL path: each segment percent-encoded (a literal `+` too: S3 reads `+` in a path as
/// a space), slashes kept; the same encoding as a CopyObject source.
pub fn url_path(key: &str) -> String {
    media_edge_shared::s3_event::encode_copy_source_key(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_paths_s3_reads_back_as_the_same_key() {
        assert_eq!(url_path("a b/c+d/사진.jpg"), "a%20b/c%2Bd/%EC%82%AC%EC%A7%84.jpg");
        assert_eq!(url_path("plain/pc.avif"), "plain/pc.avif");
    }
}
