use std::io::{Read, Write};

use actix_web::{App, HttpServer};
use tm_http::{common, Listen};

#[test]
fn addresses_parse_like_tessera_server_configs() {
    assert_eq!(
        Listen::parse("http://localhost:9101", 80),
        Ok(Listen::Tcp("localhost:9101".into()))
    );
    assert_eq!(
        Listen::parse("http://127.0.0.1:9000/", 80),
        Ok(Listen::Tcp("127.0.0.1:9000".into()))
    );
    assert_eq!(
        Listen::parse("https://node.example", 443),
        Ok(Listen::Tcp("node.example:443".into()))
    );
    assert_eq!(
        Listen::parse("http://[::1]:9080", 80),
        Ok(Listen::Tcp("[::1]:9080".into()))
    );
    assert_eq!(
        Listen::parse("http://[::1]", 80),
        Ok(Listen::Tcp("[::1]:80".into()))
    );
    assert_eq!(
        Listen::parse("unix:/tmp/tm.ipc", 0),
        Ok(Listen::Unix("/tmp/tm.ipc".into()))
    );
    assert!(Listen::parse("unix:", 0).is_err());
    assert!(Listen::parse("http://host:notaport", 80).is_err());
    assert!(Listen::parse("http://", 80).is_err());
}

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
