use edge_router::{Router, RouterConfig};
use lambda_http::{service_fn, Error, Request};
use media_edge_shared::aws::{load_sdk_config, s3_client};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = RouterConfig::from_env()?;
    let router = Router::new(s3_client(&load_sdk_config().await), config);
    lambda_http::run(service_fn(|request: Request| {
        let router = router.clone();
        async move { Ok::<_, Error>(router.route(request).await) }
    }))
    .await
}
