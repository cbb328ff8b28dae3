//! The devnet's HTTP/1.1 server on `std::net`: one acceptor thread per
//! listener, one thread per connection, `Connection: close`. It reads a
//! request, hands websocket upgrades to `ws.rs`, applies the listener's
//! pending HTTP fault, and otherwise writes what `routes.rs` answers
//! (`/devnet/fault` goes to `control.rs`; `/devnet/*` is never faulted).
//! A `Reply::dropped()` closes the connection without a response. It knows
//! no chain paths.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::faults::{Fault, HttpFault, HttpFaults, HTML_PAGE};
use super::{control, routes, ws, Shared};
use crate::error::{Error, Result};

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 4 * 1024 * 1024;
/// How long a hung request is held (longer than any client timeout).
const HANG: Duration = Duration::from_secs(30);

/// One listening port and its own faults.
pub struct Listener {
    pub addr: SocketAddr,
    faults: Mutex<HttpFaults>,
    /// Serial number of the next websocket connection.
    pub ws_serial: AtomicU64,
    /// Websocket connections with a smaller serial are dropped.
    pub ws_drop_below: AtomicU64,
    /// Websocket connections with a smaller serial go silent.
    pub ws_silent_below: AtomicU64,
}

impl Listener {
    pub fn new(addr: SocketAddr) -> Listener {
        Listener {
            addr,
            faults: Mutex::new(HttpFaults::default()),
            ws_serial: AtomicU64::new(0),
            ws_drop_below: AtomicU64::new(0),
            ws_silent_below: AtomicU64::new(0),
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Applies an HTTP or websocket fault; false if `fault` is a chain fault.
    pub fn inject(&self, fault: &Fault) -> bool {
        let now = self.ws_serial.load(Ordering::SeqCst);
        match fault {
            Fault::DropWebsocket => self.ws_drop_below.store(now, Ordering::SeqCst),
            Fault::SilentWebsocket => self.ws_silent_below.store(now, Ordering::SeqCst),
            _ => {
                return self
                    .faults
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .add(fault)
            }
        }
        true
    }

    fn take_fault(&self) -> Option<HttpFault> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// The HTTP faults still pending on this listener.
    pub fn pending(&self) -> Vec<Fault> {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pending()
    }

    /// Drops every pending HTTP fault of this listener.
    pub fn clear(&self) {
        *self.faults.lock().unwrap_or_else(|e| e.into_inner()) = HttpFaults::default();
    }
}

/// A parsed HTTP request.
#[derive(Debug, Default)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An answer: status, content type and body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    /// Status of `dropped()`: never written, the connection just closes.
    const DROPPED: u16 = 0;

    /// No answer at all: the connection closes without a response, as when
    /// a reply is lost on the way back (`reply-lost`, `broadcast-lost`).
    pub fn dropped() -> Reply {
        Reply {
            status: Reply::DROPPED,
            content_type: "text/plain",
            body: String::new(),
        }
    }

    pub fn json(status: u16, body: &serde_json::Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: body.to_string(),
        }
    }
}

/// Starts the acceptor thread of `listener`.
pub fn spawn_acceptor(
    shared: Arc<Shared>,
    me: Arc<Listener>,
    socket: TcpListener,
) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("devnet-accept".into())
        .spawn(move || {
            for stream in socket.incoming() {
                if shared.stopping() {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (shared2, me2) = (shared.clone(), me.clone());
                shared.spawn_conn(move || handle(&shared2, &me2, stream));
            }
        })
        .map_err(|e| Error::io("devnet: start the acceptor", e))
}

fn handle(shared: &Shared, me: &Listener, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let Some((head, rest)) = read_head(&mut stream) else {
        return;
    };
    let Some(mut req) = parse_head(&head) else {
        let _ = write_reply(
            &mut stream,
            &Reply {
                status: 400,
                content_type: "text/plain",
                body: "bad request".into(),
            },
        );
        return;
    };
    let upgrade = req
        .header("upgrade")
        .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    if upgrade && req.path == "/websocket" {
        let mut pre = head;
        pre.extend_from_slice(&rest);
        ws::serve(shared, me, stream, pre);
        return;
    }
    if read_body(&mut stream, &mut req, rest).is_none() {
        return;
    }
    if req.path.starts_with("/devnet/") {
        let reply = control::route(shared, me, &req).unwrap_or_else(|| routes::route(shared, &req));
        let _ = write_reply(&mut stream, &reply);
        return;
    }
    let fault = me.take_fault();
    if let Some(f) = fault {
        shared.chain().stats.fired(f.name());
    }
    let reply = match fault {
        None => routes::route(shared, &req),
        Some(HttpFault::ReplyLost) => {
            let reply = routes::route(shared, &req);
            log::debug!(
                "devnet: dropping the {} reply to {} {}",
                reply.status,
                req.method,
                req.path
            );
            Reply::dropped()
        }
        Some(HttpFault::Hang) => {
            log::debug!("devnet: hanging {} {}", req.method, req.path);
            shared.wait_stop(HANG);
            return;
        }
        Some(HttpFault::Http500) => Reply::json(
            500,
            &serde_json::json!({"code": 13, "message": "internal error (injected)", "details": []}),
        ),
        Some(HttpFault::HtmlPage) => Reply {
            status: 502,
            content_type: "text/html",
            body: HTML_PAGE.into(),
        },
        Some(HttpFault::EmptyBody) => Reply {
            status: 200,
            content_type: "application/json",
            body: String::new(),
        },
    };
    let _ = write_reply(&mut stream, &reply);
}

/// Reads up to the end of the head; returns (head bytes, bytes read past it).
fn read_head(stream: &mut TcpStream) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Some((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
    }
}

fn parse_head(head: &[u8]) -> Option<Request> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_string(), first.next()?);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Some(Request {
        method,
        path: percent_decode(path),
        query: parse_query(query),
        headers,
        body: Vec::new(),
    })
}

fn read_body(stream: &mut TcpStream, req: &mut Request, mut body: Vec<u8>) -> Option<()> {
    let len: usize = req
        .header("content-length")
        .map_or(Some(0), |v| v.parse().ok())?;
    if len > MAX_BODY {
        return None;
    }
    while body.len() < len {
        let mut chunk = vec![0u8; len - body.len()];
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(len);
    req.body = body;
    Some(())
}

/// Splits `a=1&b=2` into decoded pairs.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(&v.replace('+', " ")))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn write_reply(stream: &mut TcpStream, reply: &Reply) -> std::io::Result<()> {
    if reply.status == Reply::DROPPED {
        return stream.shutdown(Shutdown::Both);
    }
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.status,
        reason(reply.status),
        reply.content_type,
        reply.body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(reply.body.as_bytes())?;
    stream.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heads_and_queries() {
        let head = b"GET /emissions/v10/x?address=allo1%2Fa&denom=uallo HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n";
        let req = parse_head(head).unwrap();
        assert_eq!(req.method, "GET");
        assert_eq!(req.path, "/emissions/v10/x");
        assert_eq!(req.query("address"), Some("allo1/a"));
        assert_eq!(req.query("denom"), Some("uallo"));
        assert_eq!(req.header("upgrade"), Some("websocket"));
        assert_eq!(
            parse_query("q=tm.event%3D%27NewBlockEvents%27"),
            vec![("q".to_string(), "tm.event='NewBlockEvents'".to_string())]
        );
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }
}
