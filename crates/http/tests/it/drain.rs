//! The graceful handover of a real server on loopback: while it drains, `/readiness` answers 503
//! and everything else is still served (each response closing its connection); then it stops
//! accepting and lets the request in flight finish.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse};
use tm_http::drain::{self, Draining};
use tm_http::listen::{serve_http, HttpSettings, Transport};
use tm_http::{Listener, Running};
use tokio::sync::Notify;

/// A slow request: tells the test it has arrived, then answers when the test says so.
#[derive(Default)]
struct Gate {
    arrived: Notify,
    release: Notify,
}

async fn slow(gate: web::Data<Gate>) -> HttpResponse {
    gate.arrived.notify_one();
    gate.release.notified().await;
    HttpResponse::Ok().body("done")
}

async fn readiness(draining: web::Data<Draining>) -> HttpResponse {
    if draining.is_draining() {
        Draining::not_ready()
    } else {
        HttpResponse::Ok().body("ready")
    }
}

/// A server on loopback with `/slow`, `/readiness` and the common endpoints, draining for
/// `period`; its port and gate.
fn serve(period: Duration) -> (Running, u16, Arc<Gate>) {
    let listener = Listener::loopback().expect("listener");
    let port = listener.port().expect("port");
    let draining = Draining::new();
    let gate = Arc::new(Gate::default());
    let app_gate = web::Data::from(gate.clone());
    let app_draining = web::Data::new(draining.clone());
    let server = serve_http(
        move || {
            App::new()
                .app_data(app_gate.clone())
                .app_data(app_draining.clone())
                .wrap(actix_web::middleware::from_fn(drain::close_while_draining))
                .configure(tm_http::common::configure)
                .route("/slow", web::get().to(slow))
                .route("/readiness", web::get().to(readiness))
        },
        listener,
        Transport::Plain,
        &HttpSettings::server(),
    )
    .expect("serving");
    let running =
        Running::spawn(server, format!("http://127.0.0.1:{port}")).with_drain(draining, period);
    (running, port, gate)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

async fn get(port: u16, path: &str) -> reqwest::Response {
    client()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await
        .expect("answered")
}

#[tokio::test]
async fn a_handover_drains_then_stops_accepting_and_finishes_what_is_in_flight() {
    // Long enough to look at the drain; the test never waits for all of it.
    let (running, port, gate) = serve(Duration::from_secs(4));
    assert_eq!(running.drain_period(), Duration::from_secs(4));
    assert_eq!(get(port, "/readiness").await.status(), 200);
    let in_flight = tokio::spawn(get(port, "/slow"));
    gate.arrived.notified().await;

    let handover = tokio::spawn(running.handover());
    let deadline = Instant::now() + Duration::from_secs(3);
    let refused = loop {
        let response = get(port, "/readiness").await;
        if response.status() == 503 {
            break response;
        }
        assert!(Instant::now() < deadline, "/readiness never answered 503");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        refused.text().await.expect("body"),
        "not ready: shutting down"
    );
    // Everything else is still served, each answer closing its connection.
    let served = get(port, "/upcheck").await;
    assert_eq!(served.status(), 200);
    assert_eq!(
        served
            .headers()
            .get("connection")
            .and_then(|v| v.to_str().ok()),
        Some("close")
    );

    // After the drain it accepts no connection, while the slow request is still in flight.
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
    {
        assert!(Instant::now() < deadline, "still accepting after the drain");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!in_flight.is_finished());
    gate.release.notify_one();
    let answer = in_flight.await.expect("client task");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.expect("body"), "done");
    handover
        .await
        .expect("handover ends once the request is answered");
}

#[tokio::test]
async fn stop_does_not_wait_for_the_drain() {
    let (running, port, _gate) = serve(Duration::from_secs(3600));
    assert_eq!(get(port, "/readiness").await.status(), 200);
    // A drain of an hour would outlast this bound many times over.
    tokio::time::timeout(Duration::from_secs(60), running.stop())
        .await
        .expect("stopped without draining");
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err());
}
