//! Fault injection: the `Fault` values tests and the `devnet` command ask
//! for, and the per-listener HTTP fault counters that decide how the next
//! request is answered. Chain-level faults (sequence, fee, mempool hold,
//! skipped window, wrong chain id) are applied by `chain.rs`; websocket
//! faults by `ws.rs`; halts and upgrades by the block producer (`mod.rs`). This file decides nothing about the chain itself.

/// A fault to inject. HTTP faults count down per listener; the others act
/// once (or, for `WrongChainId`, until switched off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The next N HTTP requests answer HTTP 500 with a gRPC-style JSON error.
    Http500(u32),
    /// The next N HTTP requests answer HTTP 502 with an HTML error page.
    HtmlPage(u32),
    /// The next N HTTP requests answer HTTP 200 with an empty body.
    EmptyBody(u32),
    /// The next N HTTP requests are read and never answered (30 s or shutdown).
    Hang(u32),
    /// Close every open websocket connection now, without a close frame.
    DropWebsocket,
    /// Every open websocket connection stops sending frames and answering
    /// pings but keeps the TCP connection open; new connections are normal.
    SilentWebsocket,
    /// The next broadcast finds its account's sequence moved on by one, as if
    /// another client had used the key: CheckTx answers sdk/32.
    SequenceMismatchOnce,
    /// The next broadcast needs twice the fee it pays: CheckTx answers sdk/13.
    InsufficientFeeOnce,
    /// The next accepted tx stays in the mempool for this many extra blocks.
    HoldInMempool(u64),
    /// The next worker window of the topic does not open.
    SkipNextWindow,
    /// Report a different chain id in node_info, /status and block headers.
    WrongChainId(bool),
    // Part B (edges) faults: HTTP replies lost after processing.
    /// The next N HTTP requests are processed in full, then the connection
    /// closes without a response (the reply was lost on the way back).
    ReplyLost(u32),
    /// No blocks for this many seconds; RPC and LCD keep answering with the
    /// old height.
    Halt(u64),
    /// A v9 chain switches to emissions v10 at this height (the upgrade
    /// plan is announced until then).
    UpgradeV10At(u64),
    // Chain faults that accept first and fail after (issue 12, part A).
    /// The next N broadcasts CheckTx accepts lose their reply (dropped
    /// connection, then 503, then 504, in turn); the txs are included.
    BroadcastLost(u64),
    /// Txs included from now on are found by hash only K blocks after inclusion (0 = off).
    IndexLag(u64),
    /// The listener it is injected on (`inject_on`) never finds a tx by hash.
    NoIndex,
    /// The base gas price rises by PCT percent at the next block; DeliverTx re-checks fees.
    FeeRise(u64),
    /// The next N deliveries use more gas than their limit: sdk/11, fee charged.
    GasSpike(u64),
    /// Every tx uses this much more gas, in simulate and delivery alike.
    GasExtra(u64),
    /// The next N successful payloads are not admitted: code 0, no event.
    NotAdmitted(u64),
    /// Adds a worker to the topic's whitelist (`--whitelist`).
    Whitelist(String),
}

impl Fault {
    /// Parses a `--fault` flag value: `http500:N`, `html:N`, `empty:N`,
    /// `hang:N`, `drop-ws`, `silent-ws`, `sequence-mismatch`,
    /// `insufficient-fee`, `hold:K`, `skip-window`, `wrong-chain-id`,
    /// `reply-lost:N`, `halt:SECS`, `upgrade-v10-at:H`, `broadcast-lost:N`, `index-lag:K`, `no-index`, `fee-rise:PCT`,
    /// `gas-spike:N`, `gas-extra:GAS`, `not-admitted:N`, `whitelist:ADDR`.
    pub fn parse(spec: &str) -> Result<Fault, String> {
        let (name, arg) = spec.split_once(':').unwrap_or((spec, ""));
        let n = || -> Result<u64, String> {
            match arg {
                "" => Ok(1),
                a => a
                    .parse()
                    .map_err(|_| format!("fault {spec:?}: {a:?} is not a count")),
            }
        };
        let count = || {
            n().and_then(|v| {
                u32::try_from(v).map_err(|_| format!("fault {spec:?}: count too large"))
            })
        };
        Ok(match name {
            "http500" => Fault::Http500(count()?),
            "html" => Fault::HtmlPage(count()?),
            "empty" => Fault::EmptyBody(count()?),
            "hang" => Fault::Hang(count()?),
            "drop-ws" => Fault::DropWebsocket,
            "silent-ws" => Fault::SilentWebsocket,
            "sequence-mismatch" => Fault::SequenceMismatchOnce,
            "insufficient-fee" => Fault::InsufficientFeeOnce,
            "hold" => Fault::HoldInMempool(n()?),
            "skip-window" => Fault::SkipNextWindow,
            "wrong-chain-id" => Fault::WrongChainId(true),
            "reply-lost" => Fault::ReplyLost(count()?),
            "halt" => Fault::Halt(n()?),
            "upgrade-v10-at" if !arg.is_empty() => Fault::UpgradeV10At(n()?),
            "upgrade-v10-at" => {
                return Err(format!("fault {spec:?}: needs a height (upgrade-v10-at:H)"))
            }
            "broadcast-lost" => Fault::BroadcastLost(n()?),
            "index-lag" => Fault::IndexLag(n()?),
            "no-index" => Fault::NoIndex,
            "fee-rise" => Fault::FeeRise(n()?),
            "gas-spike" => Fault::GasSpike(n()?),
            "gas-extra" => Fault::GasExtra(n()?),
            "not-admitted" => Fault::NotAdmitted(n()?),
            "whitelist" if !arg.is_empty() => Fault::Whitelist(arg.to_string()),
            _ => return Err(format!("unknown fault {spec:?}")),
        })
    }
}

impl Fault {
    /// The SPEC `parse` reads back into this fault (`/devnet/fault` lists these).
    pub fn spec(&self) -> String {
        match self {
            Fault::Http500(n) => format!("http500:{n}"),
            Fault::HtmlPage(n) => format!("html:{n}"),
            Fault::EmptyBody(n) => format!("empty:{n}"),
            Fault::Hang(n) => format!("hang:{n}"),
            Fault::DropWebsocket => "drop-ws".into(),
            Fault::SilentWebsocket => "silent-ws".into(),
            Fault::SequenceMismatchOnce => "sequence-mismatch".into(),
            Fault::InsufficientFeeOnce => "insufficient-fee".into(),
            Fault::HoldInMempool(k) => format!("hold:{k}"),
            Fault::SkipNextWindow => "skip-window".into(),
            Fault::WrongChainId(_) => "wrong-chain-id".into(),
            Fault::ReplyLost(n) => format!("reply-lost:{n}"),
            Fault::Halt(secs) => format!("halt:{secs}"),
            Fault::UpgradeV10At(h) => format!("upgrade-v10-at:{h}"),
            Fault::BroadcastLost(n) => format!("broadcast-lost:{n}"),
            Fault::IndexLag(k) => format!("index-lag:{k}"),
            Fault::NoIndex => "no-index".into(),
            Fault::FeeRise(pct) => format!("fee-rise:{pct}"),
            Fault::GasSpike(n) => format!("gas-spike:{n}"),
            Fault::GasExtra(gas) => format!("gas-extra:{gas}"),
            Fault::NotAdmitted(n) => format!("not-admitted:{n}"),
            Fault::Whitelist(addr) => format!("whitelist:{addr}"),
        }
    }

    /// The fault's name in `faults_fired` (the SPEC without its argument).
    pub fn name(&self) -> String {
        let spec = self.spec();
        spec.split(':').next().unwrap_or_default().to_string()
    }
}

/// How the next HTTP request on a listener is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpFault {
    Http500,
    HtmlPage,
    EmptyBody,
    Hang,
    ReplyLost,
}

impl HttpFault {
    /// The fault's name in `faults_fired`.
    pub fn name(self) -> &'static str {
        match self {
            HttpFault::Http500 => "http500",
            HttpFault::HtmlPage => "html",
            HttpFault::EmptyBody => "empty",
            HttpFault::Hang => "hang",
            HttpFault::ReplyLost => "reply-lost",
        }
    }
}

/// Pending HTTP fault counts of one listener, consumed in a fixed order.
#[derive(Debug, Default)]
pub struct HttpFaults {
    http500: u32,
    html: u32,
    empty: u32,
    hang: u32,
    reply_lost: u32,
}

impl HttpFaults {
    /// Adds an HTTP fault; returns false for faults that are not HTTP faults.
    pub fn add(&mut self, fault: &Fault) -> bool {
        match fault {
            Fault::Http500(n) => self.http500 += n,
            Fault::HtmlPage(n) => self.html += n,
            Fault::EmptyBody(n) => self.empty += n,
            Fault::Hang(n) => self.hang += n,
            Fault::ReplyLost(n) => self.reply_lost += n,
            _ => return false,
        }
        true
    }

    /// The pending faults, as values `add` would take.
    pub fn pending(&self) -> Vec<Fault> {
        [
            (self.hang, Fault::Hang as fn(u32) -> Fault),
            (self.http500, Fault::Http500),
            (self.html, Fault::HtmlPage),
            (self.empty, Fault::EmptyBody),
            (self.reply_lost, Fault::ReplyLost),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, f)| f(n))
        .collect()
    }

    /// Takes one pending fault for the next request, if any.
    pub fn take(&mut self) -> Option<HttpFault> {
        let slots = [
            (&mut self.hang, HttpFault::Hang),
            (&mut self.http500, HttpFault::Http500),
            (&mut self.html, HttpFault::HtmlPage),
            (&mut self.empty, HttpFault::EmptyBody),
            (&mut self.reply_lost, HttpFault::ReplyLost),
        ];
        for (count, fault) in slots {
            if *count > 0 {
                *count -= 1;
                return Some(fault);
            }
        }
        None
    }
}

/// The HTML page a misconfigured proxy answers with.
pub const HTML_PAGE: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n\
<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n\
</body>\r\n</html>\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fault_flags() {
        let check = |spec: &str, expected: Result<Fault, ()>| {
            assert_eq!(Fault::parse(spec).map_err(|_| ()), expected, "{spec}");
        };
        check("http500:3", Ok(Fault::Http500(3)));
        check("hang", Ok(Fault::Hang(1)));
        check("hold:4", Ok(Fault::HoldInMempool(4)));
        check("wrong-chain-id", Ok(Fault::WrongChainId(true)));
        check("silent-ws", Ok(Fault::SilentWebsocket));
        check("reply-lost:2", Ok(Fault::ReplyLost(2)));
        check("halt:3", Ok(Fault::Halt(3)));
        check("upgrade-v10-at:40", Ok(Fault::UpgradeV10At(40)));
        check("upgrade-v10-at", Err(()));
        for spec in [
            "http500:3",
            "hold:4",
            "reply-lost:1",
            "skip-window",
            "drop-ws",
        ] {
            assert_eq!(Fault::parse(spec).unwrap().spec(), spec);
        }
        check("broadcast-lost", Ok(Fault::BroadcastLost(1)));
        check("fee-rise:50", Ok(Fault::FeeRise(50)));
        check("whitelist:allo1x", Ok(Fault::Whitelist("allo1x".into())));
        check("whitelist", Err(()));
        check("html:x", Err(()));
        check("nope", Err(()));
    }

    #[test]
    fn counts_down_in_order() {
        let mut f = HttpFaults::default();
        assert!(f.add(&Fault::Http500(2)));
        assert!(f.add(&Fault::EmptyBody(1)));
        assert!(!f.add(&Fault::DropWebsocket));
        let taken: Vec<_> = std::iter::from_fn(|| f.take()).collect();
        assert_eq!(
            taken,
            vec![HttpFault::Http500, HttpFault::Http500, HttpFault::EmptyBody]
        );
    }
}
