//! A role for functions created on the emulator: moto's Lambda refuses a function whose role its
//! IAM has not seen. One CreateRole call over IAM's query API (a form POST) instead of a whole IAM
//! SDK in the build; the emulator reads the service from the request's credential scope and does
//! not check signatures.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;

use crate::Error;

/// Creates role `name` on the emulator at `endpoint` (`AWS_ENDPOINT_URL`) and returns its ARN.
pub async fn create_role(endpoint: &str, name: &str) -> Result<String, Error> {
    let authority = endpoint.trim_start_matches("http://").trim_end_matches('/').to_string();
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let body = format!(
        "Action=CreateRole&Version=2010-05-08&RoleName={}&AssumeRolePolicyDocument={}",
        encode(name),
        encode(policy)
    );
    let request = Request::post("/")
        .header("host", &authority)
        .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(Full::new(Bytes::from(body)))?;
    let stream = tokio::net::TcpStream::connect(&authority).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await?;
    let status = response.status();
    let text = String::from_utf8_lossy(&response.into_body().collect().await?.to_bytes()).into_owned();
    let arn = text.split("<Arn>").nth(1).and_then(|rest| rest.split("</Arn>").next());
    match (status.is_success(), arn) {
        (true, Some(arn)) => Ok(arn.to_string()),
        _ => Err(format!("CreateRole {name}: {status} {text}").into()),
    }
}

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}
