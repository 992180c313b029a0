//! The HTTP listeners of `serve`: serving until asked to stop, and the staff listener
//! (`--staff-bind`), a second address served from a runtime of its own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::server::ServeError;

/// Serves `endpoint` on `acceptor` until `stopped` fires, or its sender is dropped (the
/// [`RunningServer`](crate::server::RunningServer) was dropped), then lets requests in flight finish for up to
/// `shutdown_timeout`.
pub(crate) async fn serve_until_stopped<E: poem::Endpoint + 'static>(
    acceptor: poem::listener::TcpAcceptor,
    endpoint: Arc<E>,
    stopped: oneshot::Receiver<()>,
    shutdown_timeout: Duration,
) -> std::io::Result<()> {
    poem::Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(
            endpoint,
            async move {
                let _ = stopped.await;
            },
            Some(shutdown_timeout),
        )
        .await
}

/// Binds `addr` for the staff listener, as a std listener another runtime can take over.
pub(crate) async fn bind_std(addr: SocketAddr) -> Result<(SocketAddr, std::net::TcpListener), ServeError> {
    let bind_error = |source| ServeError::Bind { addr, source };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(bind_error)?;
    let local_addr = listener.local_addr().map_err(bind_error)?;
    Ok((local_addr, listener.into_std().map_err(bind_error)?))
}

/// The staff listener (`--staff-bind`): the same application served from a runtime of its own,
/// on its own threads. A runtime's workers take ready connections in turn, so on one runtime a
/// flood of sign-ins (each cheaply refused while the hashing pool is full) puts every round trip
/// of a staff request behind the flood's connections; on its own threads, the operating system
/// schedules a staff request as soon as it is ready, whatever the other runtime is doing.
pub(crate) struct StaffListener {
    pub(crate) local_addr: SocketAddr,
    stop: oneshot::Sender<()>,
    ended: oneshot::Receiver<std::io::Result<()>>,
}

impl StaffListener {
    /// Starts serving `endpoint` on `listener` from a new runtime on threads named
    /// `portal-staff` (half the cores, at least one).
    pub(crate) fn spawn<E>(
        local_addr: SocketAddr,
        listener: std::net::TcpListener,
        endpoint: Arc<E>,
        shutdown_timeout: Duration,
    ) -> std::io::Result<Self>
    where
        E: poem::Endpoint + 'static,
    {
        let workers = std::thread::available_parallelism().map_or(1, |cores| (cores.get() / 2).max(1));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("portal-staff")
            .enable_all()
            .build()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let (done, ended) = oneshot::channel();
        std::thread::Builder::new().name("portal-staff-main".to_owned()).spawn(move || {
            let outcome = runtime.block_on(async move {
                let acceptor = poem::listener::TcpAcceptor::from_std(listener)?;
                serve_until_stopped(acceptor, endpoint, stopped, shutdown_timeout).await
            });
            if let Err(error) = &outcome {
                tracing::error!(%error, "the staff listener stopped");
            }
            let _ = done.send(outcome);
        })?;
        Ok(Self { local_addr, stop, ended })
    }

    /// Stops accepting, lets its requests in flight finish (up to the shutdown timeout), and
    /// waits for that.
    pub(crate) async fn stop(self) -> std::io::Result<()> {
        let _ = self.stop.send(());
        self.ended.await.unwrap_or_else(|_| Err(std::io::Error::other("the staff listener's thread ended early")))
    }
}
