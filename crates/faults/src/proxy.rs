//! A TCP proxy on 127.0.0.1 between the clients and the test service, controlled in-process:
//! blackholes (connections stay open, nothing passes), added latency, connections reset or
//! closed on either side, and new connections refused.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};

/// Which way bytes flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ToServer,
    ToClient,
    Both,
}

/// Which side of the proxied connections a cut hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
    Both,
}

/// What happens to the connections open at the time of the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// TCP RST on the given side(s); the other side sees an orderly close.
    Reset(Side),
    /// Orderly close (FIN) towards the given side(s) only: a half-open connection.
    Close(Side),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct State {
    hold_to_server: bool,
    hold_to_client: bool,
    latency: Duration,
    /// Latency only on every other connection (the others stay fast): one request can then be
    /// overtaken by the answer of another.
    selective: bool,
    refuse: bool,
}

struct Shared {
    state: watch::Sender<State>,
    cuts: broadcast::Sender<Cut>,
    accepted: AtomicU64,
    /// Every connection gets its own fixed extra delay towards the client, up to this: the
    /// network is never perfectly even, faults or not.
    jitter: Duration,
}

/// The running proxy; stops accepting when dropped (open connections end with their peers).
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Proxy {
    /// Listens on 127.0.0.1 (a free port) and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Proxy> {
        Proxy::with_jitter(upstream, Duration::ZERO).await
    }

    /// Like `start`, with a random fixed delay of up to `jitter` per connection (towards the
    /// client).
    pub async fn with_jitter(upstream: SocketAddr, jitter: Duration) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: watch::channel(State::default()).0,
            cuts: broadcast::channel(64).0,
            accepted: AtomicU64::new(0),
            jitter,
        });
        let sh = shared.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let n = sh.accepted.fetch_add(1, Ordering::Relaxed);
                if sh.state.borrow().refuse {
                    let _ = client.set_zero_linger();
                    drop(client);
                    continue;
                }
                let cuts = sh.cuts.subscribe();
                let state = sh.state.subscribe();
                let own = Conn {
                    slow: n % 2 == 1,
                    jitter: sh.jitter.mul_f64(rand::random::<f64>()),
                };
                tokio::spawn(serve(client, upstream, state, cuts, own));
            }
        });
        Ok(Proxy { addr, shared, accept })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far (refused ones included).
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Holds every byte flowing in `dir` (open and new connections) until healed.
    pub fn blackhole(&self, dir: Direction) {
        self.shared.state.send_modify(|s| {
            s.hold_to_server |= matches!(dir, Direction::ToServer | Direction::Both);
            s.hold_to_client |= matches!(dir, Direction::ToClient | Direction::Both);
        });
    }

    /// Lets held bytes through again.
    pub fn clear_blackhole(&self) {
        self.shared.state.send_modify(|s| {
            s.hold_to_server = false;
            s.hold_to_client = false;
        });
    }

    /// Delays every chunk by `latency` (in both directions); `selective`: only on every other
    /// connection.
    pub fn set_latency(&self, latency: Duration, selective: bool) {
        self.shared.state.send_modify(|s| {
            s.latency = latency;
            s.selective = selective;
        });
    }

    /// New connections are reset right after being accepted (like a partition).
    pub fn refuse_new(&self, refuse: bool) {
        self.shared.state.send_modify(|s| s.refuse = refuse);
    }

    /// Cuts every connection that is open now.
    pub fn cut(&self, cut: Cut) {
        let _ = self.shared.cuts.send(cut);
    }

    /// Back to a transparent proxy (open connections keep going, held bytes are delivered).
    pub fn heal(&self) {
        self.shared.state.send_replace(State::default());
    }
}

/// What is particular to one connection.
#[derive(Debug, Clone, Copy)]
struct Conn {
    slow: bool,
    jitter: Duration,
}

async fn serve(
    client: TcpStream,
    upstream: SocketAddr,
    state: watch::Receiver<State>,
    mut cuts: broadcast::Receiver<Cut>,
    own: Conn,
) {
    let server = match TcpStream::connect(upstream).await {
        Ok(s) => s,
        Err(_) => {
            let _ = client.set_zero_linger();
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let cut = {
        let (mut st1, mut st2) = (state.clone(), state);
        let up = pump(&mut cr, &mut sw, true, own, &mut st1);
        let down = pump(&mut sr, &mut cw, false, own, &mut st2);
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        loop {
            tokio::select! {
                _ = &mut up, if !up_done => up_done = true,
                _ = &mut down, if !down_done => down_done = true,
                c = cuts.recv() => match c {
                    Ok(c) => break Some(c),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break None,
                },
            }
            if up_done && down_done {
                break None;
            }
        }
    };
    match cut {
        Some(Cut::Reset(side)) => {
            if matches!(side, Side::Client | Side::Both) {
                let _ = cr.as_ref().set_zero_linger();
            }
            if matches!(side, Side::Server | Side::Both) {
                let _ = sr.as_ref().set_zero_linger();
            }
        }
        Some(Cut::Close(side)) => {
            // Half-open: only the named side hears of the close; the other keeps its
            // connection open with nothing arriving until it gives up.
            if matches!(side, Side::Client | Side::Both) {
                let _ = cw.shutdown().await;
            }
            if matches!(side, Side::Server | Side::Both) {
                let _ = sw.shutdown().await;
            }
            if side != Side::Both {
                // Like a middlebox that lost the connection's state: it stays dead for good
                // (healing does not revive it); only a later reset or the proxy's end frees it.
                // A client must notice by itself (timeouts) to ever get going again.
                loop {
                    match cuts.recv().await {
                        Ok(Cut::Reset(_)) | Err(broadcast::error::RecvError::Closed) => break,
                        _ => continue,
                    }
                }
            }
        }
        None => {}
    }
}

/// Copies `src` to `dst` chunk by chunk, honouring holds and latency; closes `dst` at the end.
async fn pump(
    src: &mut OwnedReadHalf,
    dst: &mut OwnedWriteHalf,
    to_server: bool,
    own: Conn,
    st: &mut watch::Receiver<State>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match src.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let latency = loop {
            let s = *st.borrow_and_update();
            let held = if to_server { s.hold_to_server } else { s.hold_to_client };
            if !held {
                let fault = if !s.selective || own.slow {
                    s.latency
                } else {
                    Duration::ZERO
                };
                break fault + if to_server { Duration::ZERO } else { own.jitter };
            }
            if st.changed().await.is_err() {
                return;
            }
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if dst.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = dst.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream that echoes every byte back.
    async fn echo() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn roundtrip(c: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
        c.write_all(msg).await.unwrap();
        let mut got = vec![0u8; msg.len()];
        c.read_exact(&mut got).await.unwrap();
        got
    }

    #[tokio::test]
    async fn passes_bytes_both_ways() {
        let p = Proxy::start(echo().await).await.unwrap();
        let mut c = TcpStream::connect(p.addr()).await.unwrap();
        assert_eq!(roundtrip(&mut c, b"hello").await, b"hello");
        assert_eq!(p.accepted(), 1);
    }

    #[tokio::test]
    async fn blackhole_holds_until_healed() {
        let p = Proxy::start(echo().await).await.unwrap();
        let mut c = TcpStream::connect(p.addr()).await.unwrap();
        assert_eq!(roundtrip(&mut c, b"a").await, b"a");
        p.blackhole(Direction::ToClient);
        c.write_all(b"b").await.unwrap();
        let mut one = [0u8; 1];
        let r = tokio::time::timeout(Duration::from_millis(300), c.read_exact(&mut one)).await;
        assert!(r.is_err(), "a byte passed the blackhole");
        p.heal();
        c.read_exact(&mut one).await.unwrap();
        assert_eq!(&one, b"b");
    }

    #[tokio::test]
    async fn reset_breaks_open_connections_only() {
        let p = Proxy::start(echo().await).await.unwrap();
        let mut c = TcpStream::connect(p.addr()).await.unwrap();
        assert_eq!(roundtrip(&mut c, b"x").await, b"x");
        p.cut(Cut::Reset(Side::Client));
        let mut buf = [0u8; 1];
        // Either an error (RST) or EOF: the connection is gone.
        let r = c.read(&mut buf).await;
        assert!(matches!(r, Err(_) | Ok(0)), "{r:?}");
        let mut c2 = TcpStream::connect(p.addr()).await.unwrap();
        assert_eq!(roundtrip(&mut c2, b"y").await, b"y");
    }

    #[tokio::test]
    async fn refused_connections_are_reset() {
        let p = Proxy::start(echo().await).await.unwrap();
        p.refuse_new(true);
        let mut c = TcpStream::connect(p.addr()).await.unwrap();
        let mut buf = [0u8; 1];
        let _ = c.write_all(b"z").await;
        let r = c.read(&mut buf).await;
        assert!(matches!(r, Err(_) | Ok(0)), "{r:?}");
        p.heal();
        let mut c2 = TcpStream::connect(p.addr()).await.unwrap();
        assert_eq!(roundtrip(&mut c2, b"w").await, b"w");
    }

    #[tokio::test]
    async fn half_close_reaches_one_side() {
        let p = Proxy::start(echo().await).await.unwrap();
        let mut c = TcpStream::connect(p.addr()).await.unwrap();
        assert_eq!(roundtrip(&mut c, b"q").await, b"q");
        p.cut(Cut::Close(Side::Client));
        let mut buf = [0u8; 1];
        assert_eq!(c.read(&mut buf).await.unwrap(), 0);
    }
}
