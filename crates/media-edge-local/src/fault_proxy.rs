//! A fault-injecting HTTP proxy in front of the emulator, for `make soak`: a function pointed at
//! it (`AWS_ENDPOINT_URL`) sees S3 and SNS answer a share of requests with 500 InternalError,
//! 503 SlowDown / ServiceUnavailable, or a dropped connection (before the request reaches the
//! emulator, or after it did and the answer is lost). SQS requests pass untouched: the queue is
//! the event source's business, not the function's.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use crate::Error;

/// What the proxy did to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// 500 InternalError.
    ServerError,
    /// 503 SlowDown (S3) or ServiceUnavailable (SNS).
    SlowDown,
    /// The connection closed before the request was forwarded.
    DroppedBefore,
    /// The request reached the emulator (its effect happened) and the answer was lost.
    DroppedAfter,
}

impl Fault {
    const ALL: [Fault; 4] = [Fault::ServerError, Fault::SlowDown, Fault::DroppedBefore, Fault::DroppedAfter];

    pub fn name(self) -> &'static str {
        match self {
            Fault::ServerError => "500 InternalError",
            Fault::SlowDown => "503 SlowDown/ServiceUnavailable",
            Fault::DroppedBefore => "connection dropped before the request",
            Fault::DroppedAfter => "connection dropped after the request",
        }
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    faults: [AtomicU64; 4],
}

struct Shared {
    upstream: SocketAddr,
    /// Faulted requests per 1,000 S3 and SNS requests.
    per_mille: AtomicU64,
    rng: Mutex<u64>,
    counters: Counters,
}

pub struct FaultProxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on 127.0.0.1 and a free port; faults `share` (0–1) of the S3 and SNS requests,
    /// chosen by a generator seeded with `seed` (one run's faults can be repeated).
    pub async fn start(upstream: SocketAddr, share: f64, seed: u64) -> Result<FaultProxy, Error> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            per_mille: AtomicU64::new((share.clamp(0.0, 1.0) * 1000.0).round() as u64),
            rng: Mutex::new(seed | 1),
            counters: Counters::default(),
        });
        let server_shared = shared.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = server_shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| handle(shared.clone(), request));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(FaultProxy { address, shared, server })
    }

    /// The value for `AWS_ENDPOINT_URL`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Changes the share of faulted requests from now on.
    pub fn set_share(&self, share: f64) {
        self.shared.per_mille.store((share.clamp(0.0, 1.0) * 1000.0).round() as u64, Ordering::Relaxed);
    }

    /// Requests seen (all services).
    pub fn requests(&self) -> u64 {
        self.shared.counters.requests.load(Ordering::Relaxed)
    }

    /// Faults injected so far, by kind.
    pub fn faults(&self) -> BTreeMap<Fault, u64> {
        Fault::ALL
            .iter()
            .enumerate()
            .map(|(i, f)| (*f, self.shared.counters.faults[i].load(Ordering::Relaxed)))
            .collect()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Service {
    S3,
    Sns,
    Sqs,
}

/// Path-style S3, SNS's query protocol (form-encoded POST), SQS's JSON protocol (X-Amz-Target).
fn service_of(request: &Request<Incoming>) -> Service {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    if header("x-amz-target").starts_with("AmazonSQS") {
        Service::Sqs
    } else if header("content-type").starts_with("application/x-www-form-urlencoded") && request.uri().path() == "/" {
        // Both SNS and (older) SQS use the query protocol; the SDK's SQS uses JSON.
        Service::Sns
    } else {
        Service::S3
    }
}

fn pick(shared: &Shared) -> Option<Fault> {
    let mut state = shared.rng.lock().ok()?;
    // xorshift64: enough for spreading faults, and repeatable from the seed.
    let mut next = || {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    };
    if next() % 1000 >= shared.per_mille.load(Ordering::Relaxed) {
        return None;
    }
    Some(Fault::ALL[(next() % 4) as usize])
}

/// The proxy's way of dropping a connection: hyper closes it when the service errs.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for Dropped {}

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Error> {
    shared.counters.requests.fetch_add(1, Ordering::Relaxed);
    let service = service_of(&request);
    let fault = if service == Service::Sqs { None } else { pick(&shared) };
    if let Some(fault) = fault {
        if let Some(counter) = Fault::ALL.iter().position(|f| *f == fault) {
            shared.counters.faults[counter].fetch_add(1, Ordering::Relaxed);
        }
    }
    match fault {
        Some(Fault::DroppedBefore) => Err(Box::new(Dropped)),
        Some(Fault::ServerError) => Ok(error_response(service, StatusCode::INTERNAL_SERVER_ERROR, "InternalError")),
        Some(Fault::SlowDown) => {
            let code = if service == Service::S3 { "SlowDown" } else { "ServiceUnavailable" };
            Ok(error_response(service, StatusCode::SERVICE_UNAVAILABLE, code))
        }
        Some(Fault::DroppedAfter) => {
            forward(shared.upstream, request).await?;
            Err(Box::new(Dropped))
        }
        None => forward(shared.upstream, request).await,
    }
}

async fn forward(upstream: SocketAddr, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Error> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let stream = tokio::net::TcpStream::connect(upstream).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let response = sender.send_request(Request::from_parts(parts, Full::new(body))).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, Full::new(body)))
}

/// The error body each service's SDK parses: S3's XML, SNS's query-protocol XML.
fn error_response(service: Service, status: StatusCode, code: &str) -> Response<Full<Bytes>> {
    let message = "injected by the soak's fault proxy";
    let body = match service {
        Service::S3 => format!("<Error><Code>{code}</Code><Message>{message}</Message></Error>"),
        _ => format!(
            "<ErrorResponse><Error><Type>Receiver</Type><Code>{code}</Code><Message>{message}</Message></Error></ErrorResponse>"
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = "text/xml".parse() {
        response.headers_mut().insert("content-type", value);
    }
    response
}
