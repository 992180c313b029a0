//! A TCP proxy the test controls, between the server and PostgreSQL: cutting it drops every
//! connection and refuses new ones (as a database that went away); restoring it listens again
//! on the same port. The shared PostgreSQL server itself is never touched.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

pub struct TcpProxy {
    pub addr: SocketAddr,
    upstream: SocketAddr,
    running: Option<(watch::Sender<bool>, JoinHandle<()>)>,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let addr = listener.local_addr().expect("the proxy's address");
        let mut proxy = Self { addr, upstream, running: None };
        proxy.serve(listener);
        proxy
    }

    fn serve(&mut self, listener: TcpListener) {
        let (stop, mut stopped) = watch::channel(false);
        let upstream = self.upstream;
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        if let Ok((client, _)) = accepted {
                            connections.spawn(forward(client, upstream));
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

    /// Drops every connection and refuses new ones until [`TcpProxy::restore`].
    pub async fn cut(&mut self) {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(true);
            task.await.expect("the proxy task");
        }
    }

    /// Listens again on the same port.
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
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(true);
            task.abort();
        }
    }
}

async fn forward(mut client: TcpStream, upstream: SocketAddr) {
    if let Ok(mut server) = TcpStream::connect(upstream).await {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
}
