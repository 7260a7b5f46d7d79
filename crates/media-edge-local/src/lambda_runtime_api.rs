//! A local Lambda Runtime API, so a function's real `bootstrap` (as deployment builds it) can be
//! run and invoked here: the same HTTP protocol Lambda speaks to a custom runtime
//! (`/2018-06-01/runtime/invocation/next`, `…/{id}/response`, `…/{id}/error`, `…/init/error`).
//!
//! [`LocalLambda`] starts the binary against it and tells a response or an error from a process
//! that died (a panic with `panic = "abort"`, a segfault, OOM): what Lambda would report as a
//! runtime exit and retry the whole batch for.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::{oneshot, Notify};

use crate::Error;

const PREFIX: &str = "/2018-06-01/runtime/";

/// How an invocation ended.
#[derive(Debug)]
pub enum Invocation {
    /// The handler returned this JSON.
    Response(serde_json::Value),
    /// The runtime reported an error (the handler returned `Err`, or a panic it caught).
    Error(serde_json::Value),
    /// The process exited during the invocation.
    Exited(ExitStatus),
    /// No answer in time.
    TimedOut,
}

enum Completion {
    Response(Bytes),
    Error(Bytes),
}

struct Queued {
    id: String,
    event: Bytes,
    deadline_ms: u64,
    done: oneshot::Sender<Completion>,
}

#[derive(Default)]
struct State {
    queued: Mutex<VecDeque<Queued>>,
    arrived: Notify,
    running: Mutex<HashMap<String, oneshot::Sender<Completion>>>,
    init_error: Mutex<Option<String>>,
}

/// The Runtime API server, on 127.0.0.1 and a free port.
pub struct RuntimeApi {
    address: SocketAddr,
    state: Arc<State>,
    server: tokio::task::JoinHandle<()>,
    next_id: std::sync::atomic::AtomicU64,
}

impl RuntimeApi {
    pub async fn start() -> Result<RuntimeApi, Error> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let state = Arc::new(State::default());
        let server_state = state.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = server_state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| serve(state.clone(), request));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(RuntimeApi { address, state, server, next_id: Default::default() })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// What the function reported through `/init/error`, if anything.
    pub fn init_error(&self) -> Option<String> {
        self.state.init_error.lock().ok().and_then(|e| e.clone())
    }

    /// Queues `event` for the function's next `/invocation/next` and waits for its answer.
    /// `timeout` is also the deadline the function is given.
    pub async fn invoke(&self, event: &serde_json::Value, timeout: Duration) -> Invocation {
        let n = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (done, answer) = oneshot::channel();
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        let queued = Queued {
            id: format!("local-invocation-{n}"),
            event: Bytes::from(event.to_string()),
            deadline_ms: now_ms + timeout.as_millis() as u64,
            done,
        };
        if let Ok(mut queue) = self.state.queued.lock() {
            queue.push_back(queued);
        }
        self.state.arrived.notify_one();
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(Completion::Response(body))) => Invocation::Response(json(&body)),
            Ok(Ok(Completion::Error(body))) => Invocation::Error(json(&body)),
            Ok(Err(_)) | Err(_) => Invocation::TimedOut,
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(body).into()))
}

fn reply(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
}

async fn serve(state: Arc<State>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Ok(reply(StatusCode::NOT_FOUND, Bytes::new()));
    };
    if method == Method::GET && rest == "invocation/next" {
        return Ok(next_invocation(&state).await);
    }
    let body = request.into_body().collect().await?.to_bytes();
    if method == Method::POST && rest == "init/error" {
        if let Ok(mut error) = state.init_error.lock() {
            *error = Some(String::from_utf8_lossy(&body).into_owned());
        }
        return Ok(reply(StatusCode::ACCEPTED, Bytes::new()));
    }
    let completion = match rest.strip_prefix("invocation/").and_then(|r| r.rsplit_once('/')) {
        Some((id, "response")) if method == Method::POST => Some((id.to_string(), Completion::Response(body))),
        Some((id, "error")) if method == Method::POST => Some((id.to_string(), Completion::Error(body))),
        _ => None,
    };
    let Some((id, completion)) = completion else {
        return Ok(reply(StatusCode::NOT_FOUND, Bytes::new()));
    };
    let waiting = state.running.lock().ok().and_then(|mut running| running.remove(&id));
    match waiting {
        Some(done) => {
            let _ = done.send(completion);
            Ok(reply(StatusCode::ACCEPTED, Bytes::new()))
        }
        None => Ok(reply(StatusCode::BAD_REQUEST, Bytes::from_static(b"unknown request id"))),
    }
}

/// Long-polls, as Lambda does, until an invocation is queued.
async fn next_invocation(state: &State) -> Response<Full<Bytes>> {
    loop {
        let arrived = state.arrived.notified();
        let next = state.queued.lock().ok().and_then(|mut queue| queue.pop_front());
        if let Some(queued) = next {
            if let Ok(mut running) = state.running.lock() {
                running.insert(queued.id.clone(), queued.done);
            }
            let mut response = reply(StatusCode::OK, queued.event);
            let headers = response.headers_mut();
            let pairs = [
                ("lambda-runtime-aws-request-id", queued.id),
                ("lambda-runtime-deadline-ms", queued.deadline_ms.to_string()),
                ("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:local".into()),
                ("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000;Sampled=0".into()),
                ("content-type", "application/json".into()),
            ];
            for (name, value) in pairs {
                if let Ok(value) = value.parse() {
                    headers.insert(name, value);
                }
            }
            return response;
        }
        arrived.await;
    }
}

/// A function's `bootstrap` running against a local Runtime API.
pub struct LocalLambda {
    api: RuntimeApi,
    child: tokio::process::Child,
    /// What it wrote to stdout (its logs and metrics), line by line.
    stdout: Arc<Mutex<Vec<String>>>,
}

impl LocalLambda {
    /// Starts `bootstrap` with this process's environment (endpoint and credentials), the variables
    /// Lambda sets for a custom runtime, and `env`.
    pub async fn start(bootstrap: &Path, env: &[(&str, String)]) -> Result<LocalLambda, Error> {
        let api = RuntimeApi::start().await?;
        let mut command = tokio::process::Command::new(bootstrap);
        command
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", "local")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "3008")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().map_err(|e| format!("starting {}: {e}", bootstrap.display()))?;
        let stdout = Arc::new(Mutex::new(Vec::new()));
        if let Some(pipe) = child.stdout.take() {
            let lines = stdout.clone();
            tokio::spawn(async move {
                use tokio::io::AsyncBufReadExt;
                let mut reader = tokio::io::BufReader::new(pipe).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    if let Ok(mut lines) = lines.lock() {
                        lines.push(line);
                    }
                }
            });
        }
        Ok(LocalLambda { api, child, stdout })
    }

    /// The lines the function has written to stdout so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().map(|lines| lines.clone()).unwrap_or_default()
    }

    /// One invocation; [`Invocation::Exited`] if the process dies before it answers.
    pub async fn invoke(&mut self, event: &serde_json::Value, timeout: Duration) -> Invocation {
        tokio::select! {
            answer = self.api.invoke(event, timeout) => answer,
            status = self.child.wait() => match status {
                Ok(status) => Invocation::Exited(status),
                Err(_) => Invocation::TimedOut,
            },
        }
    }

    pub fn init_error(&self) -> Option<String> {
        self.api.init_error()
    }

    /// SIGKILL, as Lambda ends a sandbox that timed out (or as a crash would): no chance to answer.
    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}
