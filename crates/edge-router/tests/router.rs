#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The router against release files and channel configs in the emulator's S3: request in,
//! response out, no network in between.

use std::collections::BTreeSet;
use std::time::Duration;

use edge_router::channel::ChannelConfig;
use edge_router::cohort;
use edge_router::{Router, RouterConfig};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use media_edge_local::LocalClients;

struct Releases {
    clients: LocalClients,
    bucket: String,
}

impl Releases {
    async fn new(label: &str) -> Releases {
        assert!(std::env::var("AWS_ENDPOINT_URL").is_ok(), "run with `make test` (needs the local emulator)");
        let clients = LocalClients::from_env().await;
        // The releases bucket of a stack of infra/template.yaml (what the router reads in AWS).
        let wiring = media_edge_local::deploy(&clients, &format!("router-{label}")).await.unwrap();
        let bucket = wiring.output("ReleasesBucketName").unwrap();
        let r = Releases { clients, bucket };
        for version in ["1.0.0", "2.0.0"] {
            r.put(
                &format!("releases/sdk/{version}/sdk.js"),
                &format!("console.log('{version}')"),
                Some("text/javascript"),
            )
            .await;
            r.put(&format!("releases/sdk/{version}/index.html"), "<html></html>", None).await;
        }
        r
    }

    async fn put(&self, key: &str, body: &str, content_type: Option<&str>) {
        let mut request =
            self.clients.s3.put_object().bucket(&self.bucket).key(key).body(body.as_bytes().to_vec().into());
        if let Some(ct) = content_type {
            request = request.content_type(ct);
        }
        request.send().await.unwrap();
    }

    async fn set_weight(&self, weight: u8) {
        let config = ChannelConfig { canary: Some("2.0.0".into()), weight, ..ChannelConfig::new("sdk", "1.0.0") };
        self.put("channels/sdk.json", &serde_json::to_string(&config).unwrap(), Some("application/json")).await;
    }

    fn router(&self, ttl: Duration) -> Router {
        Router::new(
            self.clients.s3.clone(),
            RouterConfig {
                bucket: self.bucket.clone(),
                channels: vec!["sdk".into()],
                cohort_count: 10,
                config_ttl: ttl,
                cache_seconds: 60,
            },
        )
    }
}

fn get(path: &str, headers: &[(&str, &str)]) -> Request {
    let mut builder = lambda_http::http::Request::builder().method(Method::GET).uri(path);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(Body::Empty).unwrap()
}

fn header<'r>(response: &'r Response<Body>, name: &str) -> &'r str {
    response.headers().get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
}

fn body(response: &Response<Body>) -> String {
    match response.body() {
        Body::Empty => String::new(),
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}

async fn canary_cohorts(router: &Router) -> BTreeSet<u16> {
    let mut canary = BTreeSet::new();
    for c in 0..10u16 {
        let response = router.route(get("/sdk/sdk.js", &[(cohort::COHORT_HEADER, &c.to_string())])).await;
        assert_eq!(response.status(), StatusCode::OK);
        let version = header(&response, "x-media-edge-version").to_string();
        assert_eq!(body(&response), format!("console.log('{version}')"), "the body is the version it says");
        if version == "2.0.0" {
            canary.insert(c);
        }
    }
    canary
}

#[tokio::test]
async fn weights_widen_monotonically_and_roll_back() {
    let r = Releases::new("weights").await;
    let router = r.router(Duration::ZERO);
    let mut previous = BTreeSet::new();
    for weight in [0u8, 10, 30, 50, 60, 100] {
        r.set_weight(weight).await;
        let canary = canary_cohorts(&router).await;
        assert_eq!(canary.len(), usize::from(weight) / 10, "weight {weight}");
        assert!(canary.is_superset(&previous), "raising the weight only moves viewers to the canary");
        previous = canary;
    }
    r.set_weight(0).await;
    assert!(canary_cohorts(&router).await.is_empty(), "rollback: everyone is back on stable");
}

#[tokio::test]
async fn responses_carry_version_cohort_caching_and_etag() {
    let r = Releases::new("headers").await;
    r.set_weight(50).await;
    let router = r.router(Duration::from_secs(5));
    let response = router.route(get("/sdk/sdk.js", &[(cohort::COHORT_HEADER, "4")])).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "x-media-edge-version"), "2.0.0");
    assert_eq!(header(&response, "x-media-edge-channel-kind"), "canary");
    assert_eq!(header(&response, cohort::COHORT_HEADER), "4");
    assert_eq!(header(&response, "content-type"), "text/javascript");
    assert_eq!(header(&response, "cache-control"), "public, max-age=60, s-maxage=60");
    let etag = header(&response, "etag").to_string();
    assert!(!etag.is_empty());

    let not_modified =
        router.route(get("/sdk/sdk.js", &[(cohort::COHORT_HEADER, "4"), ("if-none-match", &etag)])).await;
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&not_modified, "etag"), etag);
    assert!(body(&not_modified).is_empty());
    // A list of tags, or a weak one, still gets the object's own strong ETag back.
    for sent in [format!("\"other\", {etag}"), format!("W/{etag}")] {
        let response =
            router.route(get("/sdk/sdk.js", &[(cohort::COHORT_HEADER, "4"), ("if-none-match", &sent)])).await;
        if response.status() == StatusCode::NOT_MODIFIED {
            assert_eq!(header(&response, "etag"), etag, "sent {sent}");
        } else {
            assert_eq!(response.status(), StatusCode::OK, "sent {sent}");
            assert_eq!(header(&response, "etag"), etag, "sent {sent}");
        }
    }

    let index = router.route(get("/sdk/", &[(cohort::COHORT_HEADER, "9")])).await;
    assert_eq!((index.status(), header(&index, "content-type")), (StatusCode::OK, "text/html; charset=utf-8"));
    assert_eq!(header(&index, "x-media-edge-version"), "1.0.0");

    let head = lambda_http::http::Request::builder()
        .method(Method::HEAD)
        .uri("/sdk/sdk.js")
        .header(cohort::COHORT_HEADER, "0")
        .body(Body::Empty)
        .unwrap();
    let head = router.route(head).await;
    assert_eq!(head.status(), StatusCode::OK);
    assert!(body(&head).is_empty());
    assert_eq!(header(&head, "content-length"), "20");
}

#[tokio::test]
async fn hostile_requests_never_leave_the_release_prefix() {
    let r = Releases::new("hardening").await;
    r.put("secrets/keys.json", "secret", None).await;
    r.set_weight(0).await;
    let router = r.router(Duration::from_secs(5));

    let post = lambda_http::http::Request::builder().method(Method::POST).uri("/sdk/sdk.js").body(Body::Empty).unwrap();
    let post = router.route(post).await;
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&post, "allow"), "GET, HEAD");

    for path in [
        "/sdk/../../secrets/keys.json",
        "/sdk/%2e%2e/%2e%2e/secrets/keys.json",
        "/sdk/..%2f..%2fsecrets%2fkeys.json",
        "/sdk/..\\..\\secrets\\keys.json",
        "/sdk/x%00.js",
    ] {
        let response = router.route(get(path, &[])).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        assert!(!body(&response).contains("secret"));
    }
    let long = format!("/sdk/{}", "a".repeat(3000));
    assert_eq!(router.route(get(&long, &[])).await.status(), StatusCode::BAD_REQUEST);

    let missing = router.route(get("/sdk/nope.js", &[])).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&missing, "cache-control"), "public, max-age=10");
    assert_eq!(router.route(get("/other/sdk.js", &[])).await.status(), StatusCode::NOT_FOUND);

    // Untrusted cohort values are ignored: the cohort is derived from the viewer instead.
    let signals = [
        ("cloudfront-viewer-ja4-fingerprint", "t13d1516h2_8daaf6152771_02713d6af862"),
        ("cloudfront-viewer-address", "203.0.113.7:443"),
    ];
    let derived = cohort::derive(Some(signals[0].1), None, Some("203.0.113.7"), 10).to_string();
    for bad in ["-1", "10", "abc", "1e1", "99999999999999999999"] {
        let mut headers = signals.to_vec();
        headers.push((cohort::COHORT_HEADER, bad));
        let response = router.route(get("/sdk/sdk.js", &headers)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, cohort::COHORT_HEADER), derived, "cohort {bad:?} was trusted");
    }
}

#[tokio::test]
async fn broken_config_keeps_serving_the_last_good_one() {
    let r = Releases::new("stale").await;
    r.set_weight(100).await;
    let router = r.router(Duration::ZERO);
    assert_eq!(canary_cohorts(&router).await.len(), 10);

    r.put("channels/sdk.json", "{ this is not json", None).await;
    assert_eq!(canary_cohorts(&router).await.len(), 10, "last good config still served");

    // A router that never saw a good config has nothing to serve.
    let fresh = r.router(Duration::ZERO);
    let response = fresh.route(get("/sdk/sdk.js", &[])).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&response, "cache-control"), "no-store");

    // A config whose canary part is broken serves stable.
    r.put("channels/sdk.json", r#"{"schema":"media-edge.channel","version":1,"channel":"sdk","stable":"1.0.0","canary":"../../x","weight":100}"#, None).await;
    assert!(canary_cohorts(&fresh).await.is_empty());
}

#[tokio::test]
async fn sample_function_url_events_route() {
    let r = Releases::new("samples").await;
    r.set_weight(50).await;
    let router = r.router(Duration::from_secs(5));
    let sample = |name: &str| {
        let path = format!("{}/../../events/edge-router/{name}", env!("CARGO_MANIFEST_DIR"));
        lambda_http::request::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    };
    let ok = router.route(sample("get-cohort-3.json")).await;
    assert_eq!((ok.status(), header(&ok, "x-media-edge-version")), (StatusCode::OK, "2.0.0"));
    let derived = router.route(sample("get-derived-cohort.json")).await;
    let expected = cohort::derive(Some("t13d1516h2_8daaf6152771_02713d6af862"), None, Some("203.0.113.7"), 10);
    assert_eq!(header(&derived, cohort::COHORT_HEADER), expected.to_string());
    let head = router.route(sample("head.json")).await;
    assert_eq!((head.status(), header(&head, "x-media-edge-version")), (StatusCode::OK, "1.0.0"));
    assert!(body(&head).is_empty());
    assert_eq!(
        router.route(sample("conditional-get.json")).await.status(),
        StatusCode::OK,
        "a stale ETag gets the file"
    );
    assert_eq!(router.route(sample("post-refused.json")).await.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(router.route(sample("traversal-refused.json")).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn files_too_large_for_a_function_url_response_are_refused_clearly() {
    let r = Releases::new("sizes").await;
    r.set_weight(0).await;
    // 5 MB of binary is 6.7 MB once base64-encoded: over the 6 MB response limit.
    let big = vec![7u8; 5_000_000];
    r.clients
        .s3
        .put_object()
        .bucket(&r.bucket)
        .key("releases/sdk/1.0.0/big.wasm")
        .body(big.into())
        .send()
        .await
        .unwrap();
    // 5.5 MB of JavaScript goes out as text, unencoded: it fits.
    r.put("releases/sdk/1.0.0/bundle.js", &"x".repeat(5_500_000), Some("text/javascript")).await;
    let router = r.router(Duration::from_secs(5));
    let refused = router.route(get("/sdk/big.wasm", &[(cohort::COHORT_HEADER, "1")])).await;
    assert_eq!(refused.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(header(&refused, "cache-control"), "no-store");
    assert!(body(&refused).contains("6 MB"), "{}", body(&refused));
    let bundle = router.route(get("/sdk/bundle.js", &[(cohort::COHORT_HEADER, "1")])).await;
    assert_eq!(bundle.status(), StatusCode::OK);
    assert!(matches!(bundle.body(), Body::Text(t) if t.len() == 5_500_000));
}
