//! The hashing gate over a real socket: while the hashing pool is full, a request that would
//! hash is answered 503 `busy` before its body is read, so a body that never arrives costs
//! nothing, and after a pause, so a client that asks again at once cannot ask fast.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use poem::listener::{Acceptor as _, Listener as _, TcpListener};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::hashing::occupy_one_permit;
use crate::helpers::{TestApp, spawn_app_with, test_config};

/// The test application with one hashing permit and no queue, also served on a loopback port.
async fn served_with_one_permit() -> (TestApp, SocketAddr) {
    let mut config = test_config();
    config.hash_permits = 1;
    config.hash_queue = 0;
    let app = spawn_app_with(config.clone()).await;
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
    let endpoint = portal_http::app(Arc::clone(&app.service), config, Arc::new(|| {}), &app.hasher);
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(endpoint));
    (app, addr)
}

/// Sends a POST's head announcing a 200-byte body, and never the body.
async fn head_without_body(addr: SocketAddr, path: &str, content_type: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nContent-Length: 200\r\n\
         X-Forwarded-For: 192.0.2.7\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn a_full_pool_answers_503_busy_to_a_hashing_request_whose_body_never_arrives() {
    let (app, addr) = served_with_one_permit().await;
    let (release, hog) = occupy_one_permit(&app.hasher).await;
    assert!(app.hasher.is_saturated());

    let json = "application/json";
    let form = "application/x-www-form-urlencoded";
    for (path, content_type, answered_as) in [
        ("/api/v1/portal/sessions", json, "application/problem+json"),
        ("/api/v1/portal/registrations", json, "application/problem+json"),
        ("/api/v1/portal/password-resets", json, "application/problem+json"),
        ("/portal/sunrise/sign-in", form, "text/html; charset=utf-8"),
        ("/portal/invitation", form, "text/html; charset=utf-8"),
        ("/portal/password-reset", form, "text/html; charset=utf-8"),
    ] {
        let asked = std::time::Instant::now();
        let mut stream = head_without_body(addr, path, content_type).await;
        // The answer comes without the body; the server then closes the connection, since
        // the announced body never came.
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
            .await
            .unwrap_or_else(|_| panic!("{path}: no answer while the body is missing"))
            .unwrap();
        // Not at once: a client that asks again as soon as it is refused asks four times a
        // second at most.
        assert!(asked.elapsed() >= Duration::from_millis(250), "{path}: refused after {:?}", asked.elapsed());
        let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
        assert!(answer.starts_with("http/1.1 503"), "{path}: {answer}");
        assert!(answer.contains("\r\nretry-after: 1\r\n"), "{path}: {answer}");
        assert!(answer.contains(&format!("\r\ncontent-type: {answered_as}\r\n")), "{path}: {answer}");
        if answered_as.starts_with("application/problem+json") {
            assert!(answer.contains(r#""code":"busy""#), "{path}: {answer}");
        }
    }

    // With room in the pool the gate lets the same request through, and the server waits for
    // its body as usual.
    release.send(()).unwrap();
    hog.await.unwrap().unwrap();
    let mut stream = head_without_body(addr, "/api/v1/portal/sessions", json).await;
    let mut byte = [0_u8; 1];
    let waited = tokio::time::timeout(Duration::from_millis(300), stream.read(&mut byte)).await;
    assert!(waited.is_err(), "with room in the pool the server answered before the body came");
}

#[tokio::test]
async fn requests_that_do_not_hash_pass_a_full_pool() {
    let (app, addr) = served_with_one_permit().await;
    let (release, hog) = occupy_one_permit(&app.hasher).await;
    // A link check hashes nothing: it is answered on its merits (an unknown link), not `busy`.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let body = r#"{"token":"pit_unknown"}"#;
    let request = format!(
        "POST /api/v1/portal/invitations/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    release.send(()).unwrap();
    hog.await.unwrap().unwrap();
}
