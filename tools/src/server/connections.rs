//! The accept loop: HTTP/1.1 connections under a cap, with header, idle and shutdown
//! deadlines, so that no client can hold the server (or its shutdown) hostage.
//!
//! - **Header timeout**: from the moment the server waits for a request (a new
//!   connection, or a kept-alive one after its last response) its complete header
//!   must arrive within `header_timeout`, or the connection is closed (hyper's
//!   `header_read_timeout`). A client sending half a header is cut at that point.
//! - **Idle timeout**: a connection with no request in flight and no byte received
//!   or sent for `idle_timeout` is closed.
//! - **Connection cap**: at most `max_connections` are open. At the cap, a new
//!   connection closes the idlest open one with no request in flight (nginx's way of
//!   reusing keep-alive connections), so idle or half-open clients never starve a
//!   request; only when every open connection has a request in flight is the new one
//!   answered `503` and closed at once. Running out of file descriptors (`EMFILE`)
//!   also closes the idlest connection instead of spinning.
//! - **Shutdown deadline**: on shutdown the listener closes, idle connections close
//!   at once, requests in flight may finish for `shutdown_timeout`; what is still
//!   open then is cut.
//!
//! The request body's own deadline is a middleware of the router (see
//! [`super::body_deadline`]), since hyper hands the body to the handler unread.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};
use tower::Service;

use super::AppState;

/// A connection with no request in flight counts as idle (may be closed to make
/// room, or at shutdown) only once it has been quiet this long: the last response
/// has then left, and a client that just connected has had time to send its request.
const SETTLE: Duration = Duration::from_millis(100);

/// How long the accept loop waits for a closed idle connection to free its slot.
const EVICTION_WAIT: Duration = Duration::from_millis(250);

/// The reply to a connection over the cap when no open one can be closed.
const BUSY_REPLY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
content-length: 56\r\nconnection: close\r\n\r\n{\"error\":\"too many connections with requests in flight\"}";

/// The connection limits of [`serve`].
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// Longest wait for a request's complete header.
    pub header_timeout: Duration,
    /// Longest quiet spell of a connection with no request in flight.
    pub idle_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// How long requests in flight may finish after shutdown begins.
    pub shutdown_timeout: Duration,
}

/// How [`serve`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Connections still open (requests unfinished) when the deadline passed, now cut.
    pub cut: usize,
}

/// One open connection, as the accept loop sees it.
struct Conn {
    /// Requests being answered (hyper has parsed the header and called the router).
    in_flight: AtomicUsize,
    /// Milliseconds since the registry's origin at the last byte read or written,
    /// or the last response produced.
    last_active_ms: AtomicU64,
    /// Asks the connection to close if it is idle.
    evict: Notify,
}

/// Every open connection, for eviction and shutdown.
struct Registry {
    origin: Instant,
    next_id: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
}

impl Registry {
    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    fn open(&self) -> (u64, Arc<Conn>) {
        let conn = Arc::new(Conn {
            in_flight: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(self.now_ms()),
            evict: Notify::new(),
        });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, conn.clone());
        (id, conn)
    }

    fn close(&self, id: u64) {
        self.lock().remove(&id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        // A panic while holding this lock leaves the map consistent (single inserts
        // and removes), so a poisoned lock is still usable.
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    /// Asks the connection quiet the longest with no request in flight to close;
    /// false when there is none.
    fn evict_idlest(&self) -> bool {
        let now = self.now_ms();
        let conns = self.lock();
        let idlest = conns
            .values()
            .filter(|c| c.is_idle(now, SETTLE))
            .min_by_key(|c| c.last_active_ms.load(Ordering::Relaxed));
        match idlest {
            Some(c) => {
                c.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

impl Conn {
    fn touch(&self, now_ms: u64) {
        self.last_active_ms.store(now_ms, Ordering::Relaxed);
    }

    fn quiet_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.last_active_ms.load(Ordering::Relaxed))
    }

    /// No request in flight and quiet for at least `quiet`.
    fn is_idle(&self, now_ms: u64, quiet: Duration) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
            && self.quiet_ms(now_ms) >= quiet.as_millis() as u64
    }
}

/// Counts a request in flight on a connection from creation to drop.
struct InFlight {
    conn: Arc<Conn>,
    registry: Arc<Registry>,
}

impl InFlight {
    fn enter(conn: &Arc<Conn>, registry: &Arc<Registry>) -> Self {
        conn.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight {
            conn: conn.clone(),
            registry: registry.clone(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.conn.touch(self.registry.now_ms());
        self.conn.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A TCP stream that records when bytes last moved, for the idle timeout.
struct Tracked {
    stream: TcpStream,
    conn: Arc<Conn>,
    registry: Arc<Registry>,
}

impl Tracked {
    fn touch(&self) {
        self.conn.touch(self.registry.now_ms());
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains within
/// `limits.shutdown_timeout`. Counters go to `state.stats`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    state: Arc<AppState>,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) -> ShutdownReport {
    let max = limits
        .max_connections
        .clamp(1, Semaphore::MAX_PERMITS.min(1 << 20));
    let slots = Arc::new(Semaphore::new(max));
    let registry = Arc::new(Registry {
        origin: Instant::now(),
        next_id: AtomicU64::new(0),
        conns: Mutex::new(HashMap::new()),
    });
    let (draining_tx, draining_rx) = watch::channel(false);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let builder = Arc::new(builder);

    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                // Out of file descriptors (or another transient failure): make room,
                // and let the pending connections wait in the backlog meanwhile.
                if is_out_of_descriptors(&e) && registry.evict_idlest() {
                    state
                        .stats
                        .connections_evicted
                        .fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                let freed = if registry.evict_idlest() {
                    state
                        .stats
                        .connections_evicted
                        .fetch_add(1, Ordering::Relaxed);
                    tokio::time::timeout(EVICTION_WAIT, slots.clone().acquire_owned())
                        .await
                        .ok()
                        .and_then(Result::ok)
                } else {
                    None
                };
                match freed {
                    Some(slot) => slot,
                    None => {
                        state
                            .stats
                            .connections_refused
                            .fetch_add(1, Ordering::Relaxed);
                        // The socket is fresh, so the short reply fits its buffer.
                        let _ = stream.try_write(BUSY_REPLY);
                        drop(stream);
                        continue;
                    }
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let (id, conn) = registry.open();
        let task = Connection {
            id,
            stream,
            app: app.clone(),
            conn,
            registry: registry.clone(),
            builder: builder.clone(),
            idle_timeout: limits.idle_timeout,
            draining: draining_rx.clone(),
        };
        tokio::spawn(async move {
            task.run().await;
            // The slot frees only once the connection is gone.
            drop(slot);
        });
    }

    // Shutdown: stop accepting, close idle connections, give requests in flight
    // until the deadline.
    drop(listener);
    let _ = draining_tx.send(true);
    let all = slots.clone().acquire_many_owned(max as u32);
    match tokio::time::timeout(limits.shutdown_timeout, all).await {
        Ok(_) => ShutdownReport { cut: 0 },
        Err(_) => ShutdownReport {
            cut: registry.len(),
        },
    }
}

/// One connection's task.
struct Connection {
    id: u64,
    stream: TcpStream,
    app: Router,
    conn: Arc<Conn>,
    registry: Arc<Registry>,
    builder: Arc<http1::Builder>,
    idle_timeout: Duration,
    draining: watch::Receiver<bool>,
}

impl Connection {
    async fn run(self) {
        let Connection {
            id,
            stream,
            app,
            conn,
            registry,
            builder,
            idle_timeout,
            mut draining,
        } = self;
        let io = TokioIo::new(Tracked {
            stream,
            conn: conn.clone(),
            registry: registry.clone(),
        });
        let service = {
            let (conn, registry) = (conn.clone(), registry.clone());
            hyper::service::service_fn(move |req: Request<Incoming>| {
                let in_flight = InFlight::enter(&conn, &registry);
                let mut app = app.clone();
                async move {
                    let response = app.call(req.map(axum::body::Body::new)).await;
                    drop(in_flight);
                    response
                }
            })
        };
        let http = builder.serve_connection(io, service);
        tokio::pin!(http);
        let mut is_draining = *draining.borrow();
        if is_draining {
            http.as_mut().graceful_shutdown();
        }
        loop {
            // When to look again whether the connection may be closed.
            let quiet_needed = if is_draining { SETTLE } else { idle_timeout };
            let now = registry.now_ms();
            let wait = if conn.in_flight.load(Ordering::Acquire) > 0 {
                quiet_needed
            } else {
                quiet_needed.saturating_sub(Duration::from_millis(conn.quiet_ms(now)))
            };
            tokio::select! {
                _ = http.as_mut() => break,
                () = conn.evict.notified() => {
                    if conn.is_idle(registry.now_ms(), SETTLE) {
                        break;
                    }
                }
                changed = draining.changed(), if !is_draining => {
                    is_draining = true;
                    if changed.is_ok() {
                        // Closes a kept-alive connection between requests; one in the
                        // middle of a request closes after its response.
                        http.as_mut().graceful_shutdown();
                    }
                }
                () = tokio::time::sleep(wait) => {
                    if conn.is_idle(registry.now_ms(), quiet_needed) {
                        break;
                    }
                }
            }
        }
        registry.close(id);
    }
}

/// EMFILE / ENFILE: the process or the system has no file descriptor left.
fn is_out_of_descriptors(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// The largest sensible default for the connection cap: the file-descriptor limit
/// less 64 kept for the index, the model, logs and the runtime, at least 16 and at
/// most 4096.
pub fn default_max_connections() -> usize {
    descriptor_limit().map_or(1024, |n| n.saturating_sub(64).clamp(16, 4096))
}

/// The soft limit on open file descriptors, where the platform has one.
pub fn descriptor_limit() -> Option<usize> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we pass and reads nothing else.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
        (ok && limit.rlim_cur != libc::RLIM_INFINITY)
            .then(|| usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX))
    }
    #[cfg(not(unix))]
    {
        None
    }
}
