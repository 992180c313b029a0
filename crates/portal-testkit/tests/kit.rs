//! The kit against real processes: the spawner runs a stand-in for `portal-server` (a small
//! Python HTTP server that prints a first-run block and stops on SIGTERM), and the SMTP sink is
//! spoken to over a socket; the TCP proxy stands between a client and an echo server.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use portal_testkit::{
    Email, LinkKind, ServerBuilder, ServerError, SinkBehaviour, SinkOptions, SmtpSink, TcpProxy, newest_link,
};

/// A stand-in for `portal-server serve`: what the spawner relies on, nothing more.
const FAKE_SERVER: &str = r#"#!/usr/bin/python3
import http.server, os, signal, sys
host, port = os.environ["PORTAL_BIND"].rsplit(":", 1)
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer((host, int(port)), Health)
def stop(*_):
    sys.stderr.write("shutting down\n"); sys.stderr.flush(); os._exit(0)
signal.signal(signal.SIGTERM, stop)
marker = os.path.join(os.environ["PORTAL_DATA_DIR"], "started")
if not os.path.exists(marker):
    open(marker, "w").close()
    print("\nportal is running. A first practice was created:\n")
    print("  practice     Sunrise Therapy (slug: sunrise-therapy)")
    print("  staff key    pst_fake-key_1\n")
    print("(the README walks through the rest).", flush=True)
sys.stderr.write("args %s, HOME %s, PORTAL_LOG %s\n" % (sys.argv[1:], os.environ.get("HOME"), os.environ.get("PORTAL_LOG")))
sys.stderr.flush()
server.serve_forever()
"#;

fn fake_server(dir: &Path) -> PathBuf {
    let path = dir.join("fake-portal-server");
    std::fs::write(&path, FAKE_SERVER).expect("the stand-in");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("executable");
    path
}

#[test]
fn a_server_is_started_read_and_stopped_and_a_restart_on_its_data_prints_no_key() {
    let bin = tempfile::tempdir().expect("a folder");
    let data = tempfile::tempdir().expect("a folder");
    let binary = fake_server(bin.path());

    let server = ServerBuilder::new(&binary)
        .data_dir(data.path())
        .arg("serve")
        .env("PORTAL_LOG", "debug")
        .start()
        .expect("the server answers /healthz");
    assert!(server.base_url().starts_with("http://127.0.0.1:"));
    assert_eq!(server.mail().path(), data.path().join("mail"));
    let first = server.first_run().expect("a first run");
    assert_eq!((first.staff_key.as_str(), first.slug.as_str()), ("pst_fake-key_1", "sunrise-therapy"));
    let (status, log) = server.terminate().expect("a stop");
    assert_eq!(status.code(), Some(0), "{log}");
    // Arguments and variables arrive; the test's own environment does not.
    assert!(log.contains("args ['serve'], HOME None, PORTAL_LOG debug"), "{log}");
    assert!(log.contains("shutting down"), "{log}");

    let log_file = bin.path().join("server.log");
    let again = ServerBuilder::new(&binary).data_dir(data.path()).log_to(&log_file).start().expect("a restart");
    assert!(again.stdout_lines(Duration::from_millis(300)).is_empty(), "a second start prints nothing");
    let pid = again.pid();
    drop(again);
    // Dropped: stopped with SIGTERM, which the stand-in logs before it exits.
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "the dropped server still runs");
    assert!(std::fs::read_to_string(&log_file).expect("the log file").contains("shutting down"));
}

#[test]
fn a_server_that_exits_at_start_is_reported_with_its_log() {
    let error = ServerBuilder::new("/bin/sh")
        .args(["-c", "echo 'portal-server: --invite-ttl is too long' >&2; exit 1"])
        .start()
        .expect_err("the start fails");
    let ServerError::ExitedEarly { status, log } = &error else { panic!("{error}") };
    assert_eq!(status.code(), Some(1));
    assert!(log.contains("--invite-ttl is too long"), "{error}");
    let missing = ServerBuilder::new("/nonexistent/portal-server").start().expect_err("no binary");
    assert!(matches!(missing, ServerError::Spawn { .. }), "{missing}");
}

/// Speaks SMTP to the sink; returns the reply to each line.
fn smtp_session(port: u16, lines: &[&str]) -> Vec<String> {
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("the sink listens");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("a timeout");
    let mut reader = BufReader::new(stream.try_clone().expect("a second handle"));
    let mut writer = stream;
    let mut read_reply = || {
        let mut reply = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("a reply");
            reply.push_str(&line);
            // The last line of a reply has a space after the code.
            if line.len() < 4 || line.as_bytes()[3] == b' ' {
                return reply;
            }
        }
    };
    let mut replies = vec![read_reply()];
    for line in lines {
        writer.write_all(format!("{line}\r\n").as_bytes()).expect("sent");
        replies.push(read_reply());
    }
    replies
}

const INVITATION: &str = "From: no-reply@example.org\r\nTo: ada@example.org\r\nMessage-ID: <7@example.org>\r\n\
    Subject: Your account invitation\r\n\r\nOpen http://127.0.0.1:9/portal/invitation?token=abcDEF-_0 please.\r\n.";

#[test]
fn the_sink_accepts_refuses_or_asks_for_a_password_as_told() {
    let sink = SmtpSink::start();
    let replies = smtp_session(
        sink.port(),
        &["EHLO test", "MAIL FROM:<no-reply@example.org>", "RCPT TO:<ada@example.org>", "DATA", INVITATION, "QUIT"],
    );
    assert!(replies[5].starts_with("250"), "{replies:?}");
    let received = sink.wait_for(1);
    let email = Email::parse(&received[0]).expect("a message");
    assert_eq!((email.to.as_str(), email.message_id.as_str()), ("ada@example.org", "7@example.org"));
    let link = newest_link(&sink, LinkKind::Invitation, Some("ada@example.org")).expect("a link");
    assert_eq!(link.url, "http://127.0.0.1:9/portal/invitation?token=abcDEF-_0");
    assert_eq!(sink.url(), format!("smtp://127.0.0.1:{}?tls=none", sink.port()));

    let rejecting =
        SmtpSink::start_with(SinkOptions { behaviour: SinkBehaviour::RejectRecipients, ..SinkOptions::default() });
    let replies =
        smtp_session(rejecting.port(), &["EHLO test", "MAIL FROM:<a@example.org>", "RCPT TO:<b@example.org>"]);
    assert!(replies[3].starts_with("550 5.1.1"), "{replies:?}");

    let login = SinkBehaviour::RequireAuth { login: "relay", password: "secret" };
    let guarded = SmtpSink::start_with(SinkOptions { behaviour: login, ..SinkOptions::default() });
    let replies = smtp_session(guarded.port(), &["EHLO test", "MAIL FROM:<a@example.org>"]);
    assert!(replies[1].contains("AUTH"), "{replies:?}");
    assert!(replies[2].starts_with("530"), "{replies:?}");
    // AUTH PLAIN with base64("\0relay\0secret").
    let replies =
        smtp_session(guarded.port(), &["EHLO test", "AUTH PLAIN AHJlbGF5AHNlY3JldA==", "MAIL FROM:<a@example.org>"]);
    assert!(replies[2].starts_with("235"), "{replies:?}");
    assert!(replies[3].starts_with("250"), "{replies:?}");
}

/// An echo server on loopback: what goes in comes back.
async fn echo_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = stream.into_split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
            });
        }
    });
    addr
}

/// Sends `text` and returns what comes back within `wait` (empty when nothing did).
async fn round_trip(stream: &mut tokio::net::TcpStream, text: &str, wait: Duration) -> String {
    use tokio::io::AsyncWriteExt as _;
    stream.write_all(text.as_bytes()).await.expect("a write");
    read_within(stream, text.len(), wait).await
}

async fn read_within(stream: &mut tokio::net::TcpStream, len: usize, wait: Duration) -> String {
    use tokio::io::AsyncReadExt as _;
    let mut buffer = vec![0u8; len];
    match tokio::time::timeout(wait, stream.read_exact(&mut buffer)).await {
        Ok(Ok(_)) => String::from_utf8(buffer).expect("text"),
        Ok(Err(_)) | Err(_) => String::new(),
    }
}

#[tokio::test]
async fn a_partition_holds_bytes_both_ways_and_healing_delivers_them_in_order() {
    let proxy = TcpProxy::start(echo_server().await).await;
    let mut open = tokio::net::TcpStream::connect(proxy.addr()).await.expect("a connection");
    assert_eq!(round_trip(&mut open, "before", Duration::from_secs(5)).await, "before");

    proxy.partition();
    assert_eq!(round_trip(&mut open, "during", Duration::from_millis(300)).await, "", "nothing moves");
    // A connection made during the partition is accepted, and just as silent.
    let mut new = tokio::net::TcpStream::connect(proxy.addr()).await.expect("accepted during the partition");
    assert_eq!(round_trip(&mut new, "new", Duration::from_millis(300)).await, "");
    assert_eq!(proxy.connections(), 2);

    proxy.heal();
    assert_eq!(read_within(&mut open, "during".len(), Duration::from_secs(5)).await, "during", "held, not lost");
    assert_eq!(read_within(&mut new, "new".len(), Duration::from_secs(5)).await, "new");
    assert_eq!(round_trip(&mut open, "after", Duration::from_secs(5)).await, "after");
}

#[tokio::test]
async fn healing_for_new_connections_leaves_the_held_ones_silent_for_good() {
    let proxy = TcpProxy::start(echo_server().await).await;
    let mut old = tokio::net::TcpStream::connect(proxy.addr()).await.expect("a connection");
    assert_eq!(round_trip(&mut old, "hello", Duration::from_secs(5)).await, "hello");
    proxy.partition();
    proxy.heal_new_connections();
    assert_eq!(round_trip(&mut old, "lost", Duration::from_millis(500)).await, "");
    let mut new = tokio::net::TcpStream::connect(proxy.addr()).await.expect("a connection");
    assert_eq!(round_trip(&mut new, "fresh", Duration::from_secs(5)).await, "fresh");
    // A later partition and heal concern the new connections only.
    proxy.partition();
    proxy.heal();
    assert_eq!(round_trip(&mut new, "again", Duration::from_secs(5)).await, "again");
    assert_eq!(read_within(&mut old, "lost".len(), Duration::from_millis(300)).await, "");
}

#[tokio::test]
async fn a_cut_closes_connections_and_refuses_new_ones_until_restored() {
    let mut proxy = TcpProxy::start(echo_server().await).await;
    let mut open = tokio::net::TcpStream::connect(proxy.addr()).await.expect("a connection");
    assert_eq!(round_trip(&mut open, "one", Duration::from_secs(5)).await, "one");
    proxy.cut().await;
    assert_eq!(read_within(&mut open, 1, Duration::from_secs(5)).await, "", "closed");
    assert!(tokio::net::TcpStream::connect(proxy.addr()).await.is_err(), "refused");
    proxy.restore().await;
    let mut again = tokio::net::TcpStream::connect(proxy.addr()).await.expect("listening again");
    assert_eq!(round_trip(&mut again, "two", Duration::from_secs(5)).await, "two");
}
