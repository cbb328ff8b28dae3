//! The chain client: start-up probes (chain id, emissions version), the
//! queries the worker needs, and (in `submission.rs`) the three actions of
//! the submission machine: sign, broadcast once, look up.
//!
//! What to do with an answer is decided in `logic::submission` and
//! `logic::submit`; decoding is in `logic::chain_json`.

use std::time::{Duration, Instant};

use base64::Engine;
use time::OffsetDateTime;

use crate::config::{Config, Network};
use crate::error::{Error, Result};
use crate::io::http::{Http, Kind, Reply};
use crate::logic::chain_json::{
    self as cj, Account, Header, LatestInference, Params, Topic, TxResponse, WindowStatus,
};
use crate::logic::emissions::Emissions;
use crate::logic::submit;
use crate::logic::topic_fit::SchedulerMode;
use crate::logic::tx::Payload;

/// The testnet faucet, named when an account is unfunded.
pub const TESTNET_FAUCET: &str = "https://faucet.testnet.allora.run";

/// What a transaction carries.
#[derive(Debug, Clone, Copy)]
pub enum TxKind<'a> {
    /// An `InsertWorkerPayloadRequest`.
    Payload(&'a Payload),
    /// A `RegisterRequest` for the configured topic.
    Register,
}

/// One endpoint's health for `check`.
#[derive(Debug, Clone)]
pub struct EndpointReport {
    pub kind: Kind,
    pub url: String,
    pub latency: Duration,
    pub result: Result<u64, String>,
}

/// The chain client.
pub struct Client {
    http: Http,
    chain_id: String,
    network: Network,
    topic_id: u64,
    emissions: Option<Emissions>,
    pinned: bool,
    redetect: bool,
    min_gas_price: f64,
    gas_adjustment: f64,
    gas_margin: f64,
    fee_cap: u128,
    tx_timeout: Duration,
    /// The last feemarket price seen (every submission asks for it).
    feemarket_seen: Option<f64>,
    /// Seconds per block and when they were measured (once an hour at most).
    block_time: Option<(f64, Instant)>,
    /// The fee (uallo) of the last tx `sign` built.
    last_fee: Option<u128>,
    /// The lowest sequence `sign` may use (one past a tx CheckTx accepted
    /// that is still pending: the account's committed sequence lags it).
    sequence_floor: Option<u64>,
    /// The last block time `block_time` read: (height, time).
    last_block_time: Option<(u64, OffsetDateTime)>,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl Client {
    /// A client for `config` (no request is made yet).
    pub fn new(config: &Config) -> Result<Client> {
        Ok(Client {
            http: Http::new(config),
            chain_id: config.chain_id.clone(),
            network: config.network,
            topic_id: config.topic_id,
            emissions: config.emissions,
            pinned: config.emissions.is_some(),
            redetect: false,
            min_gas_price: config.gas_price,
            gas_adjustment: config.gas_adjustment,
            gas_margin: config.gas_margin,
            fee_cap: config.fee_cap,
            tx_timeout: config.tx_timeout,
            last_fee: None,
            sequence_floor: None,
            last_block_time: None,
            feemarket_seen: None,
            block_time: None,
        })
    }

    /// The topic the topic-scoped queries and `register` ask about (one
    /// client serves every configured topic: one account sequence).
    pub fn set_topic(&mut self, topic_id: u64) {
        self.topic_id = topic_id;
    }

    /// The topic the topic-scoped queries ask about now.
    pub fn topic_id(&self) -> u64 {
        self.topic_id
    }

    /// The lowest sequence the next `sign` may use (`None`: the account's).
    pub fn set_sequence_floor(&mut self, floor: Option<u64>) {
        self.sequence_floor = floor;
    }

    /// Opens a step budget (see `io::http`): the agent loop calls this at
    /// the start of every step; without it a call gets its whole bound.
    pub fn open_step(&mut self, now: Instant) {
        self.http.open_step(now);
    }

    /// Start-up: the chain id must match, then the emissions version is
    /// detected (unless pinned).
    pub fn probe(&mut self) -> Result<Emissions> {
        self.check_chain_id()?;
        self.emissions()
    }

    /// The node's network must equal the configured chain id (fatal otherwise).
    pub fn check_chain_id(&mut self) -> Result<String> {
        let got = cj::node_network(
            &self
                .ok(Kind::Lcd, "/cosmos/base/tendermint/v1beta1/node_info")?
                .body,
        )?;
        if got != self.chain_id {
            return Err(Error::config(
                "ALLORA_CHAIN_ID",
                format!(
                    "the endpoint reports chain id {got:?} but {:?} is configured",
                    self.chain_id
                ),
            ));
        }
        Ok(got)
    }

    /// The emissions version: pinned, or detected once and again after an
    /// error that smells of a chain upgrade.
    pub fn emissions(&mut self) -> Result<Emissions> {
        match self.emissions {
            Some(e) if !self.redetect || self.pinned => Ok(e),
            _ => self.detect_emissions(),
        }
    }

    /// Probes `/emissions/v{11,10,9}/params`, newest first.
    pub fn detect_emissions(&mut self) -> Result<Emissions> {
        let mut probes = Vec::new();
        for n in [11u32, 10, 9] {
            let answered = match self.http.get(Kind::Lcd, &format!("/emissions/v{n}/params")) {
                // Not asked is not "not served": detect at the next turn.
                Err(e @ Error::StepBudget { .. }) => return Err(e),
                reply => matches!(reply, Ok(r) if r.ok()),
            };
            probes.push((n, answered));
            if answered {
                break;
            }
        }
        let e = submit::emissions_from_probes(&probes)?;
        log::info!("chain serves emissions {}", e.name());
        self.emissions = Some(e);
        self.redetect = false;
        Ok(e)
    }

    /// A GET that must answer 2xx; other statuses become `Error::Chain`.
    fn ok(&mut self, kind: Kind, path: &str) -> Result<Reply> {
        let reply = self.http.get(kind, path);
        self.note_upgrade(path, &reply);
        let reply = reply?;
        if reply.ok() {
            return Ok(reply);
        }
        Err(status_error(path, &reply))
    }

    fn note_upgrade(&mut self, path: &str, reply: &Result<Reply>) {
        let (status, text) = match reply {
            Ok(r) => (
                r.status,
                cj::api_error(&r.body).map_or_else(String::new, |e| e.message),
            ),
            Err(e) => (
                if e.to_string().contains("HTTP 501") {
                    501
                } else {
                    0
                },
                e.to_string(),
            ),
        };
        if !self.pinned && submit::smells_of_upgrade(path, status, &text) {
            log::warn!("{path} answered {status}: the chain may have upgraded; re-detecting the emissions version");
            self.redetect = true;
        }
    }

    /// `GET /emissions/vN/<rest>` answering 2xx.
    fn emissions_get(&mut self, rest: &str) -> Result<String> {
        let prefix = self.emissions()?.rest_prefix();
        Ok(self.ok(Kind::Lcd, &format!("{prefix}{rest}"))?.body)
    }

    /// The configured topic.
    pub fn topic(&mut self) -> Result<Topic> {
        cj::topic(&self.emissions_get(&format!("/topics/{}", self.topic_id))?)
    }

    /// The chain's scheduler mode: seconds when `GET …/epochs/{topic}`
    /// answers 200 with an epochs list (§12 C12), blocks when the route is unknown (404, 501).
    /// Read without `note_upgrade`: in block mode the route's 404 "Not
    /// Found" is normal, not the smell of an upgrade.
    pub fn scheduler_mode(&mut self) -> Result<SchedulerMode> {
        let prefix = self.emissions()?.rest_prefix();
        let path = format!("{prefix}/epochs/{}", self.topic_id);
        let reply = self.http.get(Kind::Lcd, &path)?;
        match reply.status {
            // A proxy's HTML page is not the route.
            200..=299 => cj::epochs(&reply.body).map(|_| SchedulerMode::Seconds),
            404 | 501 => Ok(SchedulerMode::Blocks),
            _ => Err(status_error(&path, &reply)),
        }
    }

    /// The worker windows of the epochs the chain lists (seconds mode).
    pub fn epoch_windows(&mut self) -> Result<Vec<cj::EpochWindow>> {
        cj::epoch_windows(&self.emissions_get(&format!("/epochs/{}", self.topic_id))?)
    }

    /// Whether the topic is active.
    pub fn topic_active(&mut self) -> Result<bool> {
        cj::flag(
            &self.emissions_get(&format!("/is_topic_active/{}", self.topic_id))?,
            "is_active",
        )
    }

    /// Emissions module parameters (registration and data-sending fees).
    pub fn params(&mut self) -> Result<Params> {
        cj::params(&self.emissions_get("/params")?)
    }

    /// Unfulfilled worker nonces of the topic.
    pub fn unfulfilled_nonces(&mut self) -> Result<Vec<i64>> {
        cj::nonces(&self.emissions_get(&format!("/unfulfilled_worker_nonces/{}", self.topic_id))?)
    }

    /// The topic's worker window status for `addr`.
    pub fn window_status(&mut self, addr: &str) -> Result<WindowStatus> {
        let rest = format!(
            "/worker_submission_window_status/{}?address={addr}",
            self.topic_id
        );
        cj::window_status(&self.emissions_get(&rest)?)
    }

    /// Whether `addr` is registered as a worker in the topic.
    pub fn is_registered(&mut self, addr: &str) -> Result<bool> {
        let body = self.emissions_get(&format!("/worker_registered/{}/{addr}", self.topic_id))?;
        cj::flag(&body, "is_registered")
    }

    /// Whether `addr` may submit (whitelists).
    pub fn can_submit(&mut self, addr: &str) -> Result<bool> {
        let body = self.emissions_get(&format!(
            "/can_submit_worker_payload/{}/{addr}",
            self.topic_id
        ))?;
        cj::flag(&body, "can_submit_worker_payload")
    }

    /// This worker's latest inference in the topic, if any.
    pub fn latest_inference(&mut self, addr: &str) -> Result<Option<LatestInference>> {
        let leaf = match self.emissions()? {
            Emissions::V10 => "latest_input_inference",
            Emissions::V9 => "latest_inference",
        };
        let rest = format!("/topics/{}/workers/{addr}/{leaf}", self.topic_id);
        match self.emissions_get(&rest) {
            Ok(body) => cj::latest_inference(&body).map(Some),
            Err(Error::Chain { code: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Account number and sequence; a 404 means the account was never funded.
    pub fn account(&mut self, addr: &str) -> Result<Account> {
        let path = format!("/cosmos/auth/v1beta1/account_info/{addr}");
        match self.ok(Kind::Lcd, &path) {
            Ok(r) => cj::account(&r.body),
            Err(Error::Chain { code: 404, .. }) => Err(self.unfunded(addr)),
            Err(e) => Err(e),
        }
    }

    fn unfunded(&self, addr: &str) -> Error {
        let faucet = match self.network {
            Network::Testnet => format!("; testnet faucet: {TESTNET_FAUCET}"),
            Network::Mainnet => String::new(),
        };
        Error::Chain {
            codespace: "account".into(),
            code: 404,
            log: format!("account {addr} does not exist on chain: it has never been funded, send it some uallo{faucet}"),
        }
    }

    /// The uallo balance of `addr`.
    pub fn balance(&mut self, addr: &str) -> Result<u128> {
        let path = format!("/cosmos/bank/v1beta1/balances/{addr}/by_denom?denom=uallo");
        cj::balance(&self.ok(Kind::Lcd, &path)?.body)
    }

    /// The feemarket gas price in uallo per gas.
    pub fn feemarket_price(&mut self) -> Result<f64> {
        let price = cj::gas_price(&self.ok(Kind::Lcd, "/feemarket/v1/gas_price/uallo")?.body)?;
        self.feemarket_seen = Some(price);
        Ok(price)
    }

    /// What one submission costs, as the worker will pay it
    /// (`submit::submission_cost` at the gas price it will use: minimum or
    /// feemarket, times the margin). `check`, the heartbeat, `status` and
    /// the low-balance pause all use this figure. Asks the feemarket only when no
    /// submission has yet (the heartbeat must not slow the loop down).
    pub fn fee_per_submission(&mut self, data_sending_fee: u128) -> u128 {
        let feemarket = match self.feemarket_seen {
            Some(p) => Some(p),
            None => self.feemarket_price().ok(),
        };
        let price = submit::gas_price(self.min_gas_price, feemarket, self.gas_margin, 0);
        submit::submission_cost(price, data_sending_fee)
    }

    /// Seconds per block over the last 100 blocks, if the chain has them;
    /// measured at most once an hour.
    pub fn seconds_per_block(&mut self) -> Option<f64> {
        if let Some((secs, at)) = self.block_time {
            if at.elapsed() < Duration::from_secs(3600) {
                return Some(secs);
            }
        }
        let latest = self.block(None).ok()?;
        let back = latest.height.checked_sub(100).filter(|h| *h > 0)?;
        let old = self.block(Some(back)).ok()?;
        let secs = (latest.time - old.time).as_seconds_f64() / (latest.height - back) as f64;
        self.block_time = (secs > 0.0).then_some((secs, Instant::now()));
        self.block_time.map(|(s, _)| s)
    }

    /// The header of block `height` (`latest` when `None`).
    pub fn block(&mut self, height: Option<u64>) -> Result<Header> {
        let which = height.map_or("latest".to_string(), |h| h.to_string());
        cj::block_header(
            &self
                .ok(
                    Kind::Lcd,
                    &format!("/cosmos/base/tendermint/v1beta1/blocks/{which}"),
                )?
                .body,
        )
    }

    /// The time of block `height` (a nonce's block). The last one asked is
    /// kept: several topics' windows open in the same block.
    pub fn block_time(&mut self, height: u64) -> Result<OffsetDateTime> {
        if let Some((h, t)) = self.last_block_time {
            if h == height {
                return Ok(t);
            }
        }
        let t = self.block(Some(height))?.time;
        self.last_block_time = Some((height, t));
        Ok(t)
    }

    /// The latest block height.
    pub fn latest_height(&mut self) -> Result<u64> {
        Ok(self.block(None)?.height)
    }

    /// A tx by hash (with failover); `None` while it is not in a block.
    pub fn tx(&mut self, hash: &str) -> Result<Option<TxResponse>> {
        let path = format!("/cosmos/tx/v1beta1/txs/{hash}");
        let reply = self.http.get(Kind::Lcd, &path)?;
        submission::tx_reply(&path, &reply)
    }

    /// The fee (uallo) of the last tx `sign` built, if any.
    pub fn last_fee(&self) -> Option<u128> {
        self.last_fee
    }

    /// Asks for the emissions version again before the next request (a tx
    /// answered "unable to resolve type URL").
    pub fn redetect(&mut self) {
        self.redetect = !self.pinned;
    }

    /// Milliseconds between lookups of a pending tx: `ALLORA_TX_TIMEOUT` / 30,
    /// between 50 ms and 2 s.
    pub fn poll_ms(&self) -> u64 {
        (self.tx_timeout.as_millis() as u64 / 30).clamp(50, 2_000)
    }

    /// Per-endpoint reachability, latency and height (for `check`).
    pub fn endpoint_reports(&self) -> Vec<EndpointReport> {
        let mut out = Vec::new();
        for (kind, path) in [
            (Kind::Lcd, "/cosmos/base/tendermint/v1beta1/blocks/latest"),
            (Kind::Rpc, "/status"),
        ] {
            for url in self.http.endpoints(kind) {
                let start = Instant::now();
                let result = self
                    .http
                    .once(&url, path, None)
                    .map_err(|e| e.to_string())
                    .and_then(|r| {
                        let height = match kind {
                            Kind::Lcd => cj::block_header(&r.body).map(|h| h.height),
                            Kind::Rpc => cj::rpc_status(&r.body).map(|s| s.latest_height),
                        };
                        height.map_err(|e| format!("HTTP {}: {e}", r.status))
                    });
                out.push(EndpointReport {
                    kind,
                    url,
                    latency: start.elapsed(),
                    result,
                });
            }
        }
        out
    }
}

fn status_error(path: &str, reply: &Reply) -> Error {
    let message = cj::api_error(&reply.body)
        .map_or_else(|| reply.body.chars().take(200).collect(), |e| e.message);
    Error::Chain {
        codespace: "http".into(),
        code: u32::from(reply.status),
        log: format!("{path}: {message}"),
    }
}

/// The actions of the submission machine (`sign`, `broadcast`, `lookup`).
mod submission;

pub use submission::Simulated;
