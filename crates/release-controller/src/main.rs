use std::time::{SystemTime, UNIX_EPOCH};

use lambda_runtime::{service_fn, Error, LambdaEvent};
use media_edge_shared::aws::{load_sdk_config, s3_client, sns_client};
use release_controller::{run_once, Clients, ControllerConfig};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = ControllerConfig::from_env()?;
    let sdk = load_sdk_config().await;
    let clients = Clients {
        s3: s3_client(&sdk),
        sns: sns_client(&sdk),
        cloudwatch: aws_sdk_cloudwatch::Client::new(&sdk),
        cloudfront: aws_sdk_cloudfront::Client::new(&sdk),
        kvs: aws_sdk_cloudfrontkeyvaluestore::Client::new(&sdk),
        route53: aws_sdk_route53::Client::new(&sdk),
    };
    lambda_runtime::run(service_fn(|schedule: LambdaEvent<Value>| {
        let (clients, config) = (clients.clone(), config.clone());
        // CodeDeploy's pre-traffic hook runs a new version once with a scheduled event of this id
        // (infra/template.in.yaml): that it started, read its settings and ran is what it checks.
        let pre_traffic = schedule.payload["id"].as_str().is_some_and(|id| id.starts_with("codedeploy-pretraffic-"));
        async move {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            let report = run_once(&clients, &config, now).await;
            // A channel that could not be looked after fails the invocation, so it shows in the
            // function's Errors metric; the others' changes are made and announced regardless.
            // Not for the pre-traffic run: an outage of the edge store or SNS must not block a
            // deployment (perhaps the one that fixes it); its errors are in the report it returns.
            if !report.errors.is_empty() && !pre_traffic {
                return Err(Error::from(report.errors.join("; ")));
            }
            Ok::<_, Error>(serde_json::to_value(report)?)
        }
    }))
    .await
}
