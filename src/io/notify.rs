//! systemd `sd_notify`: datagrams to `$NOTIFY_SOCKET` (READY=1, STATUS=…,
//! WATCHDOG=1, STOPPING=1). Does nothing when the variable is unset. A failed
//! send is reported once and otherwise ignored: systemd integration must
//! never stop the worker.

use std::os::unix::net::UnixDatagram;

/// A connection to systemd's notification socket, if there is one.
pub struct Notifier {
    target: Option<String>,
    warned: bool,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`.
    pub fn from_env() -> Notifier {
        Notifier {
            target: std::env::var("NOTIFY_SOCKET")
                .ok()
                .filter(|s| !s.is_empty()),
            warned: false,
        }
    }

    /// True when running under systemd with `Type=notify`.
    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Sends one notification message, e.g. `READY=1` or `STATUS=…`.
    pub fn send(&mut self, message: &str) {
        let Some(target) = &self.target else { return };
        if let Err(e) = send_to(target, message) {
            if !self.warned {
                self.warned = true;
                log::warn!("WARNING sd_notify to {target} failed: {e}");
            }
        }
    }
}

fn send_to(target: &str, message: &str) -> std::io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    if let Some(name) = target.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        sock.send_to_addr(message.as_bytes(), &addr)?;
    } else {
        sock.send_to(message.as_bytes(), target)?;
    }
    Ok(())
}
