use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use tm_http::metrics::{self, Metrics};
use tm_http::{common, ApiError, Listen};

async fn fails() -> Result<String, ApiError> {
    Err(ApiError::not_found("Message with hash abc was not found"))
}

/// Starts a server with the common endpoints, metrics and one failing route.
async fn start() -> (String, actix_web::dev::ServerHandle) {
    let metrics = Metrics::new("test");
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(metrics.clone()))
            .wrap(from_fn(metrics::track))
            .configure(common::configure)
            .configure(metrics::configure)
            .route("/transaction/{hash}", web::get().to(fails))
    })
    .workers(1);
    let bound = Listen::Tcp("127.0.0.1:0".into()).open().expect("binds");
    let address = bound.describe();
    let server = tm_http::listen_on!(server, bound).expect("listens").run();
    let handle = server.handle();
    tokio::spawn(server);
    (address, handle)
}

#[actix_web::test]
async fn common_endpoints_answer_as_tessera_does() {
    let (base, handle) = start().await;
    let client = reqwest::Client::new();

    let up = client
        .get(format!("{base}/upcheck"))
        .send()
        .await
        .expect("upcheck");
    assert_eq!(up.status(), 200);
    assert!(up.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .starts_with("text/plain"));
    assert_eq!(up.text().await.expect("body"), "I'm up!");

    let root = client.get(format!("{base}/")).send().await.expect("root");
    assert_eq!(root.status(), 200);
    assert_eq!(root.text().await.expect("body"), "");

    let versions = client
        .get(format!("{base}/version/api"))
        .send()
        .await
        .expect("versions");
    assert_eq!(
        versions.text().await.expect("body"),
        r#"["1.0","2.0","2.1","3.0","4.0","5.0"]"#
    );

    let version = client
        .get(format!("{base}/version"))
        .send()
        .await
        .expect("version");
    assert_eq!(
        version.text().await.expect("body"),
        tm_http::DISTRIBUTION_VERSION
    );

    let missing = client
        .get(format!("{base}/transaction/abc"))
        .send()
        .await
        .expect("404");
    assert_eq!(missing.status(), 404);
    assert!(missing.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .starts_with("text/plain"));
    assert_eq!(
        missing.text().await.expect("body"),
        "Message with hash abc was not found"
    );

    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics");
    let text = metrics.text().await.expect("body");
    assert!(
        text.contains(
            r#"tm_http_request_duration_seconds_count{app="test",method="GET",route="/upcheck",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"tm_http_request_duration_seconds_bucket{app="test",method="GET",route="/upcheck",status="200",le="10"} 1"#),
        "buckets: {text}"
    );
    assert!(
        text.contains(r#"route="/transaction/{hash}",status="404"} 1"#),
        "route patterns, not raw paths: {text}"
    );
    handle.stop(true).await;
}
