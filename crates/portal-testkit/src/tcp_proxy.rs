//! [`TcpProxy`]: a TCP proxy on loopback that a test places between a client and a server (the
//! portal and PostgreSQL, the portal and its SMTP relay) and then breaks on purpose, without
//! touching the server itself:
//!
//! - **cut** ([`TcpProxy::cut`], [`TcpProxy::restore`]): every connection is closed and new ones
//!   are refused, as a database that went away; restoring listens again on the same port.
//! - **partition** ([`TcpProxy::partition`], [`TcpProxy::heal`]): connections stay open, new ones
//!   are accepted, but no byte moves in either direction, as a network that drops packets.
//!   Healing delivers what was held, in order (TCP retransmitted it), and forwards again.
//! - **partition, then heal for new connections only** ([`TcpProxy::heal_new_connections`]):
//!   the connections the partition held stay silent for good, as after a stateful firewall or
//!   NAT lost track of them, while new connections work. A client that keeps using an old
//!   connection waits for the operating system's TCP timeouts (many minutes).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// A TCP proxy the test controls (see the module documentation). Dropping it closes every
/// connection and the listener.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    running: Option<(watch::Sender<bool>, JoinHandle<()>)>,
}

/// What the accepting task and the test share.
#[derive(Debug)]
struct Shared {
    /// Connections accepted since the start.
    accepted: AtomicUsize,
    /// The gate: `true` while bytes flow. Each connection watches the gate that was current
    /// when it was accepted.
    gate: Mutex<watch::Sender<bool>>,
    /// Gates replaced by [`TcpProxy::heal_new_connections`], kept closed (never dropped: a
    /// dropped sender would read as "open" to nobody, and the connections would end) until the
    /// proxy goes.
    abandoned: Mutex<Vec<watch::Sender<bool>>>,
}

impl Shared {
    fn gate(&self) -> std::sync::MutexGuard<'_, watch::Sender<bool>> {
        self.gate.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let addr = listener.local_addr().expect("the proxy's address");
        let shared = Arc::new(Shared {
            accepted: AtomicUsize::new(0),
            gate: Mutex::new(watch::Sender::new(true)),
            abandoned: Mutex::new(Vec::new()),
        });
        let mut proxy = Self { addr, upstream, shared, running: None };
        proxy.serve(listener);
        proxy
    }

    /// A proxy in front of the PostgreSQL server `url` names (`postgres://user@host:port/db`),
    /// and the same URL through the proxy.
    ///
    /// # Panics
    /// When the URL's host does not resolve.
    pub async fn for_postgres(url: &str) -> (Self, String) {
        let proxy = Self::start(postgres_address(url).await).await;
        let through = with_address(url, proxy.addr());
        (proxy, through)
    }

    /// The address clients connect to.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections the proxy accepted so far (also during a partition).
    #[must_use]
    pub fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    fn serve(&mut self, listener: TcpListener) {
        let (stop, mut stopped) = watch::channel(false);
        let upstream = self.upstream;
        let shared = Arc::clone(&self.shared);
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        if let Ok((client, _)) = accepted {
                            shared.accepted.fetch_add(1, Ordering::SeqCst);
                            let gate = shared.gate().subscribe();
                            connections.spawn(forward(client, upstream, gate));
                        }
                    }
                    _ = stopped.changed() => break,
                }
                while connections.try_join_next().is_some() {}
            }
            // Aborting the forwarding tasks closes both sides of every connection; the listener
            // goes with this task, so new connections are refused.
            connections.shutdown().await;
        });
        self.running = Some((stop, task));
    }

    /// Closes every connection and refuses new ones until [`TcpProxy::restore`].
    ///
    /// # Panics
    /// When the proxy's task panicked.
    pub async fn cut(&mut self) {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(true);
            task.await.expect("the proxy task");
        }
    }

    /// Listens again on the same port.
    ///
    /// # Panics
    /// When the port cannot be bound again within 10 s.
    pub async fn restore(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(error) => {
                    assert!(Instant::now() < deadline, "cannot listen on {} again: {error}", self.addr);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        self.serve(listener);
    }

    /// Stops moving bytes in both directions; connections stay open and new ones are accepted
    /// (and held just the same) until [`TcpProxy::heal`] or [`TcpProxy::heal_new_connections`].
    pub fn partition(&self) {
        self.shared.gate().send_replace(false);
    }

    /// Ends the partition: the bytes held are delivered in order, and forwarding goes on.
    pub fn heal(&self) {
        self.shared.gate().send_replace(true);
    }

    /// Ends the partition for new connections only: every connection accepted so far stays
    /// silent until the proxy is dropped, as after a firewall lost track of them.
    pub fn heal_new_connections(&self) {
        let old = std::mem::replace(&mut *self.shared.gate(), watch::Sender::new(true));
        old.send_replace(false);
        self.shared.abandoned.lock().unwrap_or_else(PoisonError::into_inner).push(old);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(true);
            task.abort();
        }
    }
}

async fn forward(client: TcpStream, upstream: SocketAddr, gate: watch::Receiver<bool>) {
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::join!(pump(client_read, server_write, gate.clone()), pump(server_read, client_write, gate));
}

/// Copies one direction while the gate is open. Bytes (and the end of the stream) read just as
/// a partition began are held until it ends, never dropped, so the stream stays whole.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut gate: watch::Receiver<bool>) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        if gate.wait_for(|open| *open).await.is_err() {
            return;
        }
        let read = from.read(&mut buffer).await;
        if gate.wait_for(|open| *open).await.is_err() {
            return;
        }
        match read {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => {
                if to.write_all(&buffer[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The `host:port` a PostgreSQL URL names (port 5432 when it names none), resolved.
///
/// # Panics
/// When the host does not resolve.
pub async fn postgres_address(url: &str) -> SocketAddr {
    let (_, host_port, _) = split_authority(url);
    let host_port = if host_port.contains(':') { host_port.to_owned() } else { format!("{host_port}:5432") };
    tokio::net::lookup_host(host_port.as_str()).await.expect("the PostgreSQL host resolves").next().expect("an address")
}

/// `url` pointing at `addr` instead (user, password, database and parameters kept).
#[must_use]
pub fn with_address(url: &str, addr: SocketAddr) -> String {
    let (before, _, after) = split_authority(url);
    format!("{before}{addr}{after}")
}

/// `postgres://user:password@host:port/db?x` as (`postgres://user:password@`, `host:port`,
/// `/db?x`).
fn split_authority(url: &str) -> (&str, &str, &str) {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..].find(['/', '?']).map_or(url.len(), |i| start + i);
    let host_start = url[start..end].rfind('@').map_or(start, |i| start + i + 1);
    (&url[..host_start], &url[host_start..end], &url[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_pointed_at_another_address_with_everything_else_kept() {
        let addr: SocketAddr = "127.0.0.1:6543".parse().unwrap();
        assert_eq!(with_address("postgres://u:p@db:5432/portal?x=1", addr), "postgres://u:p@127.0.0.1:6543/portal?x=1");
        assert_eq!(with_address("postgres://u@localhost/portal", addr), "postgres://u@127.0.0.1:6543/portal");
        assert_eq!(split_authority("postgres://h"), ("postgres://", "h", ""));
    }
}
