//! The HTTP/1 serve loop of `registryo serve`, over hyper and hyper-util.
//!
//! Why it exists: `axum::serve` has no header-read timeout, no idle timeout, no cap on
//! connections and no bound on a graceful stop. Under a 1,024 open-files limit 1,100 idle TCP
//! connections made the server unreachable, 1,000 slowloris connections (half a request line,
//! then nothing) were held for minutes, and one client that sent half a request kept SIGTERM
//! from stopping the server. This loop serves the same `axum::Router`, and:
//!
//! - **caps concurrent connections** ([`ServeOptions::max_connections`]): at the cap it stops
//!   accepting, so new connections wait in the kernel's listen backlog instead of failing the
//!   accept with `EMFILE`; [`raise_open_files_limit`] lifts the soft `RLIMIT_NOFILE` to the
//!   hard one at start and [`connection_cap`] keeps the cap below it;
//! - **bounds a request head** ([`ServeOptions::header_read_timeout`]): the request line and
//!   headers must be complete within it, counted from the head's first byte, or from the
//!   accept on a new connection ([`ConnClock`], checked by [`TimedIo`] on every read);
//! - **bounds idleness** ([`ServeOptions::idle_timeout`]): a kept-alive connection waiting for
//!   its next request is closed after it (hyper 1.12's own `header_read_timeout` starts
//!   whenever hyper waits for a head, on a new connection and again after every response, so
//!   it *is* the keep-alive idle timeout: it is set to `idle_timeout`, and the stricter head
//!   timeout above is ours), and so is a client that stops reading a response (no write
//!   progress for that long);
//! - **stops within a grace period** ([`ServeOptions::grace`]): on the shutdown signal it stops
//!   accepting, asks every connection to finish (hyper's graceful shutdown: an idle one closes
//!   at once, a request in flight gets its response with `Connection: close`), and drops every
//!   connection still open when the grace period ends.
//!
//! Each connection carries its peer address as axum's `ConnectInfo<SocketAddr>`, as
//! `axum::serve` did, for `registryo-http`'s client-address middleware. A request body that
//! trickles in slowly is bounded only by the connection cap and the grace period.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower_service::Service as _;

/// The limits of [`serve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// A request head (line and headers) must arrive within this, from its first byte (from
    /// the accept on a new connection).
    pub header_read_timeout: Duration,
    /// A connection between requests, or one whose client stopped reading, is closed after
    /// this.
    pub idle_timeout: Duration,
    /// The most connections served at once.
    pub max_connections: usize,
    /// How long requests in flight get to finish after the shutdown signal.
    pub grace: Duration,
}

/// File descriptors kept for everything but client connections: the database pool and its
/// WAL files, the registry and SMTP clients, the listener, the runtime, stdio.
pub const RESERVED_FDS: u64 = 128;

/// Raise the soft open-files limit (`RLIMIT_NOFILE`) to the hard one. Returns the soft limit
/// now in force (`None` where there is no such limit, or it cannot be read).
#[cfg(unix)]
pub fn raise_open_files_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let now = getrlimit(Resource::Nofile);
    // An unlimited hard limit cannot be the soft one for open files (Linux refuses more than
    // fs.nr_open, 1,048,576 by default): aim at that.
    let target = now.maximum.unwrap_or(1 << 20);
    match now.current {
        Some(soft) if soft >= target => return Some(soft),
        None => return None,
        Some(_) => {}
    }
    let raised = Rlimit {
        current: Some(target),
        maximum: now.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => Some(target),
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-files limit");
            now.current
        }
    }
}

/// Not on this platform.
#[cfg(not(unix))]
pub fn raise_open_files_limit() -> Option<u64> {
    None
}

/// The connection cap to use: `wanted`, lowered so that connections cannot exhaust the
/// open-files limit `nofile` (then with a warning).
pub fn connection_cap(wanted: usize, nofile: Option<u64>) -> usize {
    let Some(limit) = nofile else {
        return wanted.max(1);
    };
    let room = limit.saturating_sub(RESERVED_FDS).max(limit / 2).max(1);
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    if wanted > room {
        tracing::warn!(
            max_connections = wanted,
            open_files_limit = limit,
            "max_connections lowered to {room} to stay below the open-files limit"
        );
        room
    } else {
        wanted.max(1)
    }
}

/// Serve `app` on `listener` until `shutdown` completes, then stop within the grace period.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = done
                    && e.is_panic()
                {
                    tracing::error!(error = %e, "a connection task panicked");
                }
                continue;
            }
            accepted = accept(&listener, &permits) => accepted,
        };
        match accepted {
            Ok((stream, peer, permit)) => {
                let app = app.clone();
                let stop = stop_rx.clone();
                let tls = tls.clone();
                connections.spawn(async move {
                    connection(stream, peer, app, options, tls, stop).await;
                    drop(permit);
                });
            }
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                // Out of file descriptors (EMFILE/ENFILE) or memory: wait for connections to
                // close instead of spinning.
                tracing::warn!(error = %e, "accepting a connection failed; retrying shortly");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    let open = connections.len();
    let _ = stop_tx.send(true);
    tracing::info!(
        connections = open,
        "stopped accepting; finishing requests in flight"
    );
    let drained = tokio::time::timeout(options.grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "grace period over: dropping the connections left"
        );
        connections.shutdown().await;
    }
}

/// A permit, then a connection.
async fn accept(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
) -> io::Result<(TcpStream, SocketAddr, tokio::sync::OwnedSemaphorePermit)> {
    let permit = Arc::clone(permits)
        .acquire_owned()
        .await
        .map_err(|_| io::Error::other("connection semaphore closed"))?;
    let (stream, peer) = listener.accept().await?;
    Ok((stream, peer, permit))
}

/// Errors of one connection that was already gone when accepted.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serve one connection until it ends or, after the stop signal, until it finished what it
/// was doing (the caller drops it when the grace period ends).
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    options: ServeOptions,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let clock = Arc::new(ConnClock::new(options.header_read_timeout));
    let timed = TimedIo::new(stream, Arc::clone(&clock), options);
    let service = ConnService { app, peer, clock };
    match tls {
        // The handshake is part of the first request head: bounded by the same deadline.
        Some(acceptor) => match acceptor.accept(timed).await {
            Ok(stream) => http(TokioIo::new(stream), service, peer, options, stop).await,
            Err(e) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
        },
        None => http(TokioIo::new(timed), service, peer, options, stop).await,
    }
}

/// HTTP/1.1 on one connection's stream (plain or TLS).
async fn http<I>(
    io: TokioIo<I>,
    service: ConnService,
    peer: SocketAddr,
    options: ServeOptions,
    mut stop: watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(options.idle_timeout)
        .keep_alive(true)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection closed");
    }
}

/// The stop signal (or the loop gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Where a connection is between requests, shared by its reads and its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A request head is arriving (its first byte came, or the connection is new).
    Head { since: Instant },
    /// This many requests are being answered.
    Busy(u32),
    /// Waiting for the next request (hyper's keep-alive timer runs).
    Idle,
}

/// The phase of one connection, and the head deadline it implies.
#[derive(Debug)]
pub struct ConnClock {
    phase: Mutex<Phase>,
    header_read: Duration,
}

impl ConnClock {
    fn new(header_read: Duration) -> ConnClock {
        ConnClock {
            phase: Mutex::new(Phase::Head {
                since: Instant::now(),
            }),
            header_read,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Phase) -> T) -> T {
        let mut phase = self.phase.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut phase)
    }

    /// Bytes arrived: on an idle connection, they start a request head.
    fn bytes_read(&self) {
        self.with(|p| {
            if *p == Phase::Idle {
                *p = Phase::Head {
                    since: Instant::now(),
                };
            }
        });
    }

    /// When the head being read must be complete, if one is.
    fn head_deadline(&self) -> Option<Instant> {
        self.with(|p| match *p {
            Phase::Head { since } => Some(since + self.header_read),
            _ => None,
        })
    }

    /// A request's head is complete: the connection is busy until the guard drops (with the
    /// response body, once hyper has written it).
    fn request_started(self: &Arc<Self>) -> BusyGuard {
        self.with(|p| {
            *p = match *p {
                Phase::Busy(n) => Phase::Busy(n.saturating_add(1)),
                _ => Phase::Busy(1),
            }
        });
        BusyGuard(Arc::clone(self))
    }
}

/// Marks a request in flight on its connection.
#[derive(Debug)]
struct BusyGuard(Arc<ConnClock>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.with(|p| {
            *p = match *p {
                Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
                _ => Phase::Idle,
            }
        });
    }
}

/// The router as a hyper service for one connection: it adds the peer's `ConnectInfo` and
/// marks the connection busy until the response is written.
#[derive(Clone)]
struct ConnService {
    app: Router,
    peer: SocketAddr,
    clock: Arc<ConnClock>,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<GuardedBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        req.extensions_mut().insert(ConnectInfo(self.peer));
        let busy = self.clock.request_started();
        // The router is always ready (axum's `Router::poll_ready` never waits).
        let future = self.app.clone().call(req);
        Box::pin(async move {
            let response = match future.await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            Ok(response.map(|body| GuardedBody { body, _busy: busy }))
        })
    }
}

/// A response body that keeps its connection marked busy until hyper drops it.
struct GuardedBody {
    body: Body,
    _busy: BusyGuard,
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A TCP stream whose reads fail once a request head is overdue ([`ConnClock`]), and whose
/// writes fail after `idle_timeout` without progress (a client that stopped reading).
struct TimedIo {
    stream: TcpStream,
    clock: Arc<ConnClock>,
    idle: Duration,
    read_timer: Pin<Box<Sleep>>,
    read_deadline: Option<Instant>,
    write_timer: Option<(Instant, Pin<Box<Sleep>>)>,
}

impl TimedIo {
    fn new(stream: TcpStream, clock: Arc<ConnClock>, options: ServeOptions) -> TimedIo {
        let read_deadline = clock.head_deadline();
        let first = read_deadline.unwrap_or_else(|| Instant::now() + options.header_read_timeout);
        TimedIo {
            stream,
            clock,
            idle: options.idle_timeout,
            read_timer: Box::pin(tokio::time::sleep_until(first)),
            read_deadline,
            write_timer: None,
        }
    }

    /// The read is pending: fail it when the head deadline has passed.
    fn read_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(deadline) = self.clock.head_deadline() else {
            return Poll::Pending;
        };
        if self.read_deadline != Some(deadline) {
            self.read_timer.as_mut().reset(deadline);
            self.read_deadline = Some(deadline);
        }
        match self.read_timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request head did not arrive in time",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    /// A write is pending: fail it when nothing could be written for `idle`.
    fn write_pending<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let idle = self.idle;
        let (_, timer) = self.write_timer.get_or_insert_with(|| {
            let now = Instant::now();
            (now, Box::pin(tokio::time::sleep_until(now + idle)))
        });
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    /// A write's outcome: progress restarts the stall clock, a pending write runs it.
    fn wrote(
        &mut self,
        result: Poll<io::Result<usize>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        match result {
            Poll::Pending => self.write_pending(cx),
            Poll::Ready(Ok(n)) if n > 0 => {
                self.write_timer = None;
                Poll::Ready(Ok(n))
            }
            ready => ready,
        }
    }
}

impl AsyncRead for TimedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.clock.bytes_read();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.read_pending(cx),
        }
    }
}

impl AsyncWrite for TimedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_write(cx, data);
        this.wrote(result, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.wrote(result, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // A flush is no progress (a TCP stream's is always ready): it must not restart the
        // stall clock of a pending write.
        match Pin::new(&mut this.stream).poll_flush(cx) {
            Poll::Pending => this.write_pending(cx),
            ready => ready,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_below_the_open_files_limit() {
        assert_eq!(connection_cap(4096, None), 4096);
        assert_eq!(connection_cap(4096, Some(65_536)), 4096);
        assert_eq!(
            connection_cap(4096, Some(1024)),
            1024 - RESERVED_FDS as usize
        );
        assert_eq!(connection_cap(4096, Some(100)), 50);
        assert_eq!(connection_cap(0, Some(65_536)), 1);
    }

    #[test]
    fn a_head_is_timed_from_its_first_byte_and_a_busy_connection_is_not() {
        let ten = Duration::from_secs(10);
        let before = Instant::now();
        let clock = Arc::new(ConnClock::new(ten));
        let first = clock.head_deadline().unwrap();
        assert!(first >= before + ten && first <= Instant::now() + ten);
        let busy = clock.request_started();
        let second = clock.request_started();
        assert_eq!(clock.head_deadline(), None);
        clock.bytes_read(); // a request body, or the next pipelined head
        assert_eq!(clock.head_deadline(), None);
        drop(busy);
        assert_eq!(clock.head_deadline(), None, "still one request in flight");
        drop(second);
        assert_eq!(
            clock.head_deadline(),
            None,
            "idle: hyper's keep-alive timer runs"
        );
        let idle_until = Instant::now();
        clock.bytes_read();
        let next = clock.head_deadline().unwrap();
        assert!(
            next >= idle_until + ten && next <= Instant::now() + ten,
            "the next head has its own time-out from its first byte"
        );
        clock.bytes_read();
        assert_eq!(
            clock.head_deadline(),
            Some(next),
            "more bytes of it do not extend it"
        );
    }
}
