//! The CometBFT websocket: connect (ws, or wss through an explicit rustls
//! `ClientConfig` with the ring provider and webpki roots), subscribe to the
//! topic's `EventWorkerSubmissionWindowOpened`, read with a socket timeout so
//! the single-threaded loop keeps control, answer pings, and reconnect and
//! resubscribe when the socket drops or stays silent.
//!
//! When to reconnect and how long to wait come from `logic::submit::backoff`;
//! frames are decoded by `logic::chain_json`. No threads.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tungstenite::client::IntoClientRequest;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Connector, Message, WebSocket};

use crate::config::redact_url;
use crate::error::{Error, Result};
use crate::logic::chain_json::{self, WindowOpened};
use crate::logic::emissions::Emissions;
use crate::logic::submit;

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// Longest single socket read, so silence is noticed in time.
const READ_SLICE: Duration = Duration::from_millis(500);

/// What `next_event` hands back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsEvent {
    /// A window opened for our topic.
    Window(WindowOpened),
    /// (Re)connected and subscribed: ask the window status now, since a
    /// window may have opened while we were away.
    Connected,
}

/// The websocket client and its reconnect state.
pub struct WsClient {
    url: String,
    topics: Vec<u64>,
    emissions: Emissions,
    connect_timeout: Duration,
    silence: Duration,
    tls: Arc<rustls::ClientConfig>,
    socket: Option<Socket>,
    last_heard: Instant,
    ping_sent: bool,
    attempt: u32,
    retry_at: Instant,
    seed: u64,
    pending: VecDeque<WsEvent>,
    /// Connections made so far (1 after the first connect).
    pub connects: u32,
}

/// The rustls client configuration: ring provider, webpki roots.
pub fn tls_config() -> Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Decode(format!("tls configuration: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The subscribe request for the window-opened events of `topics`: one
/// subscription whatever their number (a node allows 5 per client and its
/// queries have no OR), so several topics subscribe to every topic's event
/// (`topic_id EXISTS`) and `ws_windows` keeps ours.
pub fn subscribe_request(emissions: Emissions, topics: &[u64]) -> String {
    let event = format!("{}.EventWorkerSubmissionWindowOpened", emissions.package());
    let query = match topics {
        [topic] => format!("tm.event='NewBlockEvents' AND {event}.topic_id='\"{topic}\"'"),
        _ => format!("tm.event='NewBlockEvents' AND {event}.topic_id EXISTS"),
    };
    serde_json::json!({"jsonrpc": "2.0", "method": "subscribe", "id": "allora-worker",
        "params": {"query": query}})
    .to_string()
}

impl WsClient {
    /// Connects and subscribes; the first `next_event` returns `Connected`.
    pub fn connect(
        url: &str,
        topics: &[u64],
        emissions: Emissions,
        connect_timeout: Duration,
        silence: Duration,
    ) -> Result<WsClient> {
        let now = Instant::now();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let mut client = WsClient {
            url: url.to_string(),
            topics: topics.to_vec(),
            emissions,
            connect_timeout,
            silence,
            tls: tls_config()?,
            socket: None,
            last_heard: now,
            ping_sent: false,
            attempt: 0,
            retry_at: now,
            seed: nanos ^ u64::from(std::process::id()),
            pending: VecDeque::new(),
            connects: 0,
        };
        client.reconnect()?;
        Ok(client)
    }

    /// Waits for the next event until `deadline`; `None` when it passed.
    /// Drops, silences and reconnects are handled inside.
    pub fn next_event(&mut self, deadline: Instant) -> Result<Option<WsEvent>> {
        loop {
            crate::io::notify::watchdog();
            if let Some(e) = self.pending.pop_front() {
                return Ok(Some(e));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            if self.socket.is_some() {
                self.read_step(deadline - now);
            } else if now >= self.retry_at {
                if let Err(e) = self.reconnect() {
                    log::warn!("websocket reconnect failed: {e}");
                    self.schedule_retry();
                }
            } else {
                crate::io::signals::sleep_until(self.retry_at.min(deadline));
            }
        }
    }

    /// True while a socket is open.
    pub fn is_connected(&self) -> bool {
        self.socket.is_some()
    }

    fn schedule_retry(&mut self) {
        let wait = submit::backoff(self.attempt, self.seed);
        self.attempt = self.attempt.saturating_add(1);
        self.retry_at = Instant::now() + wait;
        log::info!("websocket: reconnecting in {} ms", wait.as_millis());
    }

    fn drop_socket(&mut self, why: &str) {
        log::warn!("websocket {}: {why}; reconnecting", redact_url(&self.url));
        if let Some(mut s) = self.socket.take() {
            let _ = s.close(None);
        }
        self.schedule_retry();
    }

    fn reconnect(&mut self) -> Result<()> {
        let mut socket = open(&self.url, self.connect_timeout, self.tls.clone())?;
        socket
            .send(Message::text(subscribe_request(
                self.emissions,
                &self.topics,
            )))
            .map_err(|e| self.fail(format!("subscribe: {e}")))?;
        self.socket = Some(socket);
        self.last_heard = Instant::now();
        self.ping_sent = false;
        self.attempt = 0;
        self.connects += 1;
        self.pending.push_back(WsEvent::Connected);
        Ok(())
    }

    fn fail(&self, problem: String) -> Error {
        Error::Http {
            endpoint: redact_url(&self.url),
            path: String::new(),
            problem,
        }
    }

    fn read_step(&mut self, remaining: Duration) {
        let Some(socket) = self.socket.as_mut() else {
            return;
        };
        let slice = remaining.clamp(Duration::from_millis(5), READ_SLICE);
        if let Some(tcp) = tcp_of(socket) {
            let _ = tcp.set_read_timeout(Some(slice));
        }
        match socket.read() {
            Ok(msg) => self.on_message(msg),
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    // EINTR: a signal (SIGTERM, SIGHUP) hit the timed read.
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                self.on_quiet()
            }
            Err(e) => self.drop_socket(&e.to_string()),
        }
    }

    fn on_message(&mut self, msg: Message) {
        self.last_heard = Instant::now();
        self.ping_sent = false;
        match msg {
            Message::Text(t) => {
                match chain_json::ws_windows(t.as_str(), self.emissions, &self.topics) {
                    Ok(ws) => self.pending.extend(ws.into_iter().map(WsEvent::Window)),
                    Err(e) => self.drop_socket(&format!("bad frame: {e}")),
                }
            }
            Message::Close(_) => self.drop_socket("closed by the server"),
            _ => {
                // Pings are answered by tungstenite on the next write or flush.
                if let Some(s) = self.socket.as_mut() {
                    let _ = s.flush();
                }
            }
        }
    }

    fn on_quiet(&mut self) {
        let quiet = self.last_heard.elapsed();
        if quiet >= self.silence {
            let why = format!("no frame or pong for {} s", quiet.as_secs());
            self.drop_socket(&why);
        } else if quiet >= self.silence / 2 && !self.ping_sent {
            self.ping_sent = true;
            if let Some(s) = self.socket.as_mut() {
                if let Err(e) = s.send(Message::Ping(Vec::new().into())) {
                    let why = format!("ping failed: {e}");
                    self.drop_socket(&why);
                }
            }
        }
    }
}

fn tcp_of(socket: &mut Socket) -> Option<&mut TcpStream> {
    match socket.get_mut() {
        MaybeTlsStream::Plain(s) => Some(s),
        MaybeTlsStream::Rustls(s) => Some(&mut s.sock),
        _ => None,
    }
}

/// TCP connect with a timeout, then the (TLS and) websocket handshake.
fn open(url: &str, timeout: Duration, tls: Arc<rustls::ClientConfig>) -> Result<Socket> {
    let fail = |problem: String| Error::Http {
        endpoint: redact_url(url),
        path: String::new(),
        problem,
    };
    let request = url
        .into_client_request()
        .map_err(|e| fail(format!("bad websocket URL: {e}")))?;
    let uri = request.uri();
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_string();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("wss") {
            443
        } else {
            80
        });
    let addrs = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| fail(format!("resolve {host}: {e}")))?;
    let mut last = format!("no address for {host}");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(tcp) => {
                let _ = tcp.set_read_timeout(Some(timeout));
                let _ = tcp.set_write_timeout(Some(timeout));
                let _ = tcp.set_nodelay(true);
                let (socket, _) = tungstenite::client_tls_with_config(
                    request,
                    tcp,
                    None,
                    Some(Connector::Rustls(tls)),
                )
                .map_err(|e| fail(format!("handshake: {e}")))?;
                return Ok(socket);
            }
            Err(e) => last = format!("connect {addr}: {e}"),
        }
    }
    Err(fail(last))
}
