//! A local simulated Allora node for tests, `allora-worker devnet` and the
//! demo: LCD REST, CometBFT RPC and `/websocket`, a Tiingo-shaped market
//! endpoint and `/devnet/stats`, all on one loopback port, over a chain that
//! produces blocks, opens worker windows and verifies every broadcast as the
//! chain does. Uses threads (one acceptor per listener, one per connection,
//! one block producer in `producer.rs`). Nothing in the worker may depend on
//! this module.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::io::clock;
use crate::logic::emissions::Emissions;
use crate::logic::secret::Secret;
use crate::logic::wallet::{sha256, Wallet};

pub mod chain;
mod control;
pub mod faults;
mod http;
pub mod market;
pub mod mempool;
mod msg_server;
mod producer;
mod routes;
pub mod scheduler;
mod state;
pub mod topics;
mod tx_routes;
mod txcache;
pub mod txlog;
pub mod verifier;
mod ws;

pub use faults::Fault;

use chain::Chain;
use http::Listener;
use market::Market;

/// An account in the genesis with an explicit number and sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct GenesisAccount {
    pub address: String,
    pub account_number: u64,
    pub sequence: u64,
    pub balance: u128,
}

/// Everything the devnet is configured with.
#[derive(Debug, Clone)]
pub struct DevnetConfig {
    /// 0 = any free port on 127.0.0.1.
    pub port: u16,
    pub block_ms: u64,
    pub epoch_blocks: u64,
    pub window_blocks: u64,
    pub topic_id: u64,
    /// `--topics`: further topics served alike (each active, same epoch and
    /// window); empty = `topic_id` alone.
    pub topics: Vec<u64>,
    /// Every topic's `ground_truth_lag` (`--ground-truth-lag`).
    pub ground_truth_lag: u64,
    /// Every topic's `loss_method` and `output_arity` in its topic JSON
    /// (tests; the message server still checks single-arity labels).
    pub loss_method: String,
    pub output_arity: String,
    pub emissions: Emissions,
    pub chain_id: String,
    /// uallo per gas.
    pub min_gas_price: f64,
    pub registration_fee: u128,
    pub data_sending_fee: u128,
    /// Funded accounts (address, uallo), numbered in order.
    pub genesis: Vec<(String, u128)>,
    /// Accounts with explicit number and sequence (e.g. to replay vectors).
    pub accounts: Vec<GenesisAccount>,
    /// Addresses pre-registered as workers in every served topic.
    pub registered: Vec<String>,
    /// Bars for the market endpoint; None = synthetic path from `seed`.
    pub prices_csv: Option<PathBuf>,
    pub seed: u64,
    /// The first block is `start_height + 1`.
    pub start_height: u64,
    /// Server websocket ping interval (CometBFT: 27 s).
    pub ws_ping_ms: u64,
    /// A websocket client that sends nothing, not even a pong, this long is
    /// dropped (CometBFT's `readWait`: 30 s).
    pub ws_read_wait_ms: u64,
    /// Block windows (`epoch_blocks`) or scheduler epochs in seconds.
    pub scheduler: scheduler::Scheduler,
    /// `--state FILE`: the chain is saved there and restored from it at start.
    pub state_file: Option<PathBuf>,
    /// CometBFT's tx cache size (0 = no cache).
    pub tx_cache: usize,
    /// Only whitelisted workers may submit (`whitelist:ADDR` adds one).
    pub whitelist: bool,
}

impl Default for DevnetConfig {
    fn default() -> DevnetConfig {
        DevnetConfig {
            port: 0,
            block_ms: 1000,
            epoch_blocks: 20,
            window_blocks: 15,
            topic_id: 67,
            topics: Vec::new(),
            ground_truth_lag: 120_960,
            loss_method: "czar".into(),
            output_arity: "TOPIC_OUTPUT_ARITY_SINGLE".into(),
            emissions: Emissions::V10,
            chain_id: "devnet-1".into(),
            min_gas_price: 10.0,
            registration_fee: 1_000_000,
            data_sending_fee: 1_000,
            genesis: Vec::new(),
            accounts: Vec::new(),
            registered: Vec::new(),
            prices_csv: None,
            seed: 1,
            start_height: 0,
            ws_ping_ms: 27_000,
            ws_read_wait_ms: 30_000,
            scheduler: scheduler::Scheduler::Blocks,
            state_file: None,
            tx_cache: 10_000,
            whitelist: false,
        }
    }
}

/// State shared by every thread of one devnet.
pub(crate) struct Shared {
    pub cfg: DevnetConfig,
    chain: Mutex<Chain>,
    pub market: Market,
    stop: Mutex<bool>,
    stop_cv: Condvar,
    conns: Mutex<Vec<JoinHandle<()>>>,
    /// Every listening port, in the order they were opened.
    listeners: Mutex<Vec<Arc<Listener>>>,
    /// Halts and upgrades (`producer.rs`).
    lifecycle: Mutex<producer::Lifecycle>,
}

impl Shared {
    /// The chain, locked (a panicked holder does not poison the devnet).
    pub fn chain(&self) -> MutexGuard<'_, Chain> {
        self.chain.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn stopping(&self) -> bool {
        *self.stop.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits up to `d` or until shutdown; true when shutting down.
    pub fn wait_stop(&self, d: Duration) -> bool {
        let guard = self.stop.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = self
            .stop_cv
            .wait_timeout_while(guard, d, |stop| !*stop)
            .unwrap_or_else(|e| e.into_inner());
        *guard
    }

    /// The listening ports, first one first.
    pub fn listeners(&self) -> Vec<Arc<Listener>> {
        self.listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Injects `fault` on every listener (HTTP and websocket faults) or on the chain.
    pub fn inject(&self, fault: &Fault) {
        if self.inject_lifecycle(fault) {
            return;
        }
        let mut chain_fault = true;
        for l in self.listeners() {
            chain_fault = !l.inject(fault);
            if chain_fault {
                break;
            }
        }
        if chain_fault {
            self.inject_chain(fault);
        }
    }

    fn inject_chain(&self, fault: &Fault) {
        let mut chain = self.chain();
        let f = &mut chain.faults;
        match fault {
            Fault::SequenceMismatchOnce => f.sequence_mismatch_once = true,
            Fault::InsufficientFeeOnce => f.insufficient_fee_once = true,
            Fault::HoldInMempool(k) => f.hold_blocks = *k,
            Fault::SkipNextWindow => f.skip_next_window = true,
            Fault::WrongChainId(on) => f.wrong_chain_id = *on,
            Fault::BroadcastLost(n) => f.broadcast_lost += n,
            Fault::IndexLag(k) => f.index_lag = *k,
            Fault::FeeRise(pct) => f.fee_rise_pct = *pct,
            Fault::GasSpike(n) => f.gas_spike += n,
            Fault::GasExtra(g) => f.extra_gas = *g,
            Fault::NotAdmitted(n) => f.not_admitted += n,
            Fault::Whitelist(addr) => {
                for topic in chain.topics.values_mut() {
                    if let Some(w) = topic.whitelist.as_mut() {
                        w.insert(addr.clone());
                    }
                }
            }
            _ => {}
        }
    }

    /// Runs `f` on a new connection thread that shutdown joins.
    pub fn spawn_conn(&self, f: impl FnOnce() + Send + 'static) {
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        conns.retain(|h| !h.is_finished());
        match std::thread::Builder::new()
            .name("devnet-conn".into())
            .spawn(f)
        {
            Ok(h) => conns.push(h),
            Err(e) => log::warn!("devnet: cannot start a connection thread: {e}"),
        }
    }
}

/// A running devnet; shuts down on `shutdown()` or drop.
pub struct Devnet {
    shared: Arc<Shared>,
    /// The acceptor thread of each listener, in `Shared::listeners` order.
    acceptors: Mutex<Vec<JoinHandle<()>>>,
    producer: Option<JoinHandle<()>>,
}

impl Devnet {
    /// Binds 127.0.0.1:`cfg.port`, creates the genesis block and starts producing blocks.
    pub fn start(cfg: DevnetConfig) -> Result<Devnet> {
        let market = Market::load(cfg.prices_csv.as_deref(), cfg.seed)?;
        let mut chain = Chain::new(&cfg, clock::system_now_utc());
        if let Some(path) = &cfg.state_file {
            if let Some(saved) = state::load(path)? {
                state::restore(&mut chain, &saved)?;
                log::info!(
                    "devnet: restored {} at height {} from {}",
                    chain.chain_id,
                    chain.height(),
                    path.display()
                );
            }
        }
        let shared = Arc::new(Shared {
            cfg,
            chain: Mutex::new(chain),
            market,
            stop: Mutex::new(false),
            stop_cv: Condvar::new(),
            conns: Mutex::new(Vec::new()),
            listeners: Mutex::new(Vec::new()),
            lifecycle: Mutex::new(producer::Lifecycle::default()),
        });
        let devnet = Devnet {
            shared: shared.clone(),
            acceptors: Mutex::new(Vec::new()),
            producer: Some(producer::spawn(shared.clone())?),
        };
        devnet.listen(shared.cfg.port)?;
        Ok(devnet)
    }

    fn listen(&self, port: u16) -> Result<String> {
        let socket = TcpListener::bind(("127.0.0.1", port))
            .map_err(|e| Error::io(format!("devnet: bind 127.0.0.1:{port}"), e))?;
        let listener = Arc::new(Listener::new(
            socket
                .local_addr()
                .map_err(|e| Error::io("devnet: local address", e))?,
        ));
        let handle = http::spawn_acceptor(self.shared.clone(), listener.clone(), socket)?;
        let url = listener.base_url();
        self.lock_acceptors().push(handle);
        self.shared
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(listener);
        Ok(url)
    }

    fn lock_acceptors(&self) -> MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.acceptors.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn first_addr(&self) -> SocketAddr {
        self.shared.listeners()[0].addr
    }

    /// `http://127.0.0.1:PORT`: LCD REST, CometBFT RPC and `/devnet/stats`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.first_addr())
    }

    /// `ws://127.0.0.1:PORT/websocket`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/websocket", self.first_addr())
    }

    /// The LCD URLs, comma-separated: the `no-index` listeners first, then `base_url`.
    pub fn lcd_urls(&self) -> String {
        let chain = self.shared.chain();
        let mut urls: Vec<String> = chain
            .no_index
            .iter()
            .map(|h| format!("http://{h}"))
            .collect();
        urls.push(self.base_url());
        urls.join(",")
    }

    /// The Tiingo-compatible base URL.
    pub fn market_url(&self) -> String {
        self.base_url()
    }

    /// Opens a second port serving the same chain; returns its base URL.
    pub fn extra_listener(&self) -> Result<String> {
        self.listen(0)
    }

    /// Injects `fault` on every listener (HTTP and websocket faults) or on the chain.
    pub fn inject(&self, fault: Fault) {
        self.shared.inject(&fault);
    }

    /// Injects an HTTP or websocket `fault` on the listener at `base_url` only.
    pub fn inject_on(&self, base_url: &str, fault: Fault) {
        match self
            .shared
            .listeners()
            .iter()
            .find(|l| l.base_url() == base_url.trim_end_matches('/'))
        {
            Some(l) if fault == Fault::NoIndex => {
                self.shared.chain().no_index.insert(l.addr.to_string());
            }
            Some(l) => {
                if !l.inject(&fault) {
                    self.shared.inject_chain(&fault);
                }
            }
            None => log::warn!("devnet: no listener at {base_url}; fault {fault:?} not injected"),
        }
    }

    /// Opens a second LCD port that never finds a tx by hash (`no-index`); returns its base URL.
    pub fn no_index_listener(&self) -> Result<String> {
        let url = self.extra_listener()?;
        self.inject_on(&url, Fault::NoIndex);
        Ok(url)
    }

    /// The `/devnet/stats` document.
    pub fn stats(&self) -> serde_json::Value {
        self.shared.chain().stats_json()
    }

    /// The latest block height.
    pub fn height(&self) -> u64 {
        self.shared.chain().height()
    }

    /// Stops every thread and frees the ports.
    /// Removes `addr`'s registration in `topic` (tests: a wallet registered
    /// in some topics only); false when the topic is not served.
    pub fn unregister(&self, topic: u64, addr: &str) -> bool {
        let mut chain = self.shared.chain();
        match chain.topics.get_mut(&topic) {
            Some(t) => {
                t.registered.remove(addr);
                true
            }
            None => false,
        }
    }

    /// Changes every topic's `loss_method` and `output_arity` (tests: the
    /// chain's topic updated while a worker serves it).
    pub fn set_topic_fields(&self, loss_method: &str, output_arity: &str) {
        let mut chain = self.shared.chain();
        chain.loss_method = loss_method.to_string();
        chain.output_arity = output_arity.to_string();
    }

    pub fn shutdown(self) {}

    fn stop(&mut self) {
        *self.shared.stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.shared.stop_cv.notify_all();
        let acceptors = std::mem::take(&mut *self.lock_acceptors());
        for (l, handle) in self.shared.listeners().iter().zip(acceptors) {
            // Wake the blocking accept so the acceptor sees the stop flag.
            let _ = TcpStream::connect_timeout(&l.addr, Duration::from_millis(500));
            let _ = handle.join();
        }
        if let Some(h) = self.producer.take() {
            let _ = h.join();
        }
        let conns =
            std::mem::take(&mut *self.shared.conns.lock().unwrap_or_else(|e| e.into_inner()));
        for h in conns {
            let _ = h.join();
        }
        state::save_shared(&self.shared);
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A throwaway 24-word mnemonic derived from `seed` (never fund it on a real
/// chain) and its wallet, for `devnet` and `demo`.
pub fn throwaway_wallet(seed: u64) -> Result<(Secret<String>, Wallet)> {
    let entropy = sha256(format!("allora-worker devnet throwaway key {seed}").as_bytes());
    let mnemonic = bip39::Mnemonic::from_entropy(&entropy)
        .map_err(|e| Error::Wallet(format!("cannot build the devnet mnemonic: {e}")))?;
    let words = Secret::new(mnemonic.to_string());
    let wallet = Wallet::from_mnemonic(&words)?;
    Ok((words, wallet))
}
