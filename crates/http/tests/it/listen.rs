use std::io::{Read, Write};

use actix_web::{App, HttpServer};
use tm_http::{common, Listen};

#[actix_web::test]
async fn serves_on_a_unix_socket_and_replaces_a_stale_one() {
    let dir = std::env::temp_dir().join(format!("tm-http-uds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("tm.ipc");
    // A socket file left behind by a process that is gone.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("stale socket"));
    assert!(path.exists());

    let server = HttpServer::new(|| App::new().configure(common::configure)).workers(1);
    let bound = Listen::Unix(path.clone())
        .open()
        .expect("binds over the stale file");
    assert_eq!(bound.describe(), format!("unix:{}", path.display()));
    let server = tm_http::listen_on!(server, bound).expect("listens").run();
    let handle = server.handle();
    tokio::spawn(server);

    let request_path = path.clone();
    let response = tokio::task::spawn_blocking(move || {
        let mut stream = std::os::unix::net::UnixStream::connect(&request_path).expect("connects");
        stream
            .write_all(b"GET /upcheck HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .expect("writes");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("reads");
        response
    })
    .await
    .expect("joins");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("I'm up!"), "{response}");
    handle.stop(true).await;
    std::fs::remove_dir_all(&dir).expect("clean up");
}
