//! The simulated chain's state: blocks with their times and block events,
//! each served topic's worker windows (a nonce every `epoch_blocks`, open for
//! `window_blocks`; per-topic state in `topics.rs`), accounts, included txs and
//! the counters served at `/devnet/stats`, the fee market's base price, the
//! tx cache and the `/devnet/txs` log. Transaction admission and delivery
//! live in `mempool.rs`, the messages in `msg_server.rs`. No sockets or
//! threads here: the caller passes the block time in.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::mempool::Pending;
use super::topics::{self, Topic};
use super::txcache::TxCache;
use super::txlog::TxLog;
use super::DevnetConfig;
use crate::logic::emissions::Emissions;
use crate::logic::hex;
use crate::logic::wallet::sha256;

/// How many recent blocks keep their events (older ones keep only height and time).
const KEEP_EVENTS: usize = 2000;

/// One ABCI event: a type and its attributes (values as the chain renders them).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: String,
    pub attrs: Vec<(String, String)>,
}

impl Event {
    /// A plain event whose values are bare strings.
    pub fn plain(kind: &str, attrs: &[(&str, &str)]) -> Event {
        Event {
            kind: kind.to_string(),
            attrs: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// A typed event: every value JSON-encoded as `EmitTypedEvent` does,
    /// attributes sorted by key, then CometBFT's extra `mode` attribute.
    pub fn typed(kind: &str, attrs: &[(&str, Value)], mode: Option<&str>) -> Event {
        let mut sorted: Vec<(String, String)> = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        sorted.sort();
        if let Some(m) = mode {
            sorted.push(("mode".to_string(), m.to_string()));
        }
        Event {
            kind: kind.to_string(),
            attrs: sorted,
        }
    }

    pub fn to_json(&self) -> Value {
        let attrs: Vec<Value> = self
            .attrs
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v, "index": true}))
            .collect();
        json!({"type": self.kind, "attributes": attrs})
    }

    /// The value of attribute `key`, if present.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// One produced block.
#[derive(Debug, Clone)]
pub struct Block {
    pub height: u64,
    pub time: OffsetDateTime,
    pub hash: String,
    pub events: Vec<Event>,
    pub num_txs: usize,
    /// The included txs' bytes (dropped with the events of old blocks).
    pub txs: Vec<Vec<u8>>,
}

/// An account: number, sequences (committed and CheckTx state) and balance.
#[derive(Debug, Clone, Default)]
pub struct Account {
    pub number: u64,
    pub sequence: u64,
    pub check_sequence: u64,
    pub balance: u128,
    pub pubkey: Option<[u8; 33]>,
}

/// A transaction as included in a block.
#[derive(Debug, Clone)]
pub struct TxRecord {
    pub height: u64,
    pub hash: String,
    pub code: u32,
    pub codespace: String,
    pub raw_log: String,
    pub gas_wanted: u64,
    pub gas_used: u64,
    pub events: Vec<Event>,
    pub time: OffsetDateTime,
    pub memo: String,
    pub timeout_height: u64,
    /// The TxRaw bytes.
    pub bytes: Vec<u8>,
    /// The first height at which tx-by-hash finds it (`index-lag`).
    pub indexed_at: u64,
}

/// The latest admitted inference of a worker.
#[derive(Debug, Clone)]
pub struct Inference {
    pub nonce: u64,
    pub value: String,
}

/// Counters for `/devnet/stats`.
#[derive(Debug, Default)]
pub struct Stats {
    pub windows_opened: u64,
    pub accepted: u64,
    pub accepted_by_nonce: BTreeMap<u64, BTreeMap<String, u64>>,
    pub duplicates: u64,
    /// The same payload tx bytes broadcast again (not a second submission).
    pub resends: u64,
    pub rejected: BTreeMap<String, u64>,
    pub txs_broadcast: u64,
    pub txs_included: u64,
    /// Lookups of a tx by hash (LCD `GET /cosmos/tx/v1beta1/txs/{hash}` and RPC `tx`).
    pub tx_lookups: u64,
    /// Fault name (as `--fault` spells it) → times the fault acted.
    pub faults_fired: BTreeMap<String, u64>,
    /// Nonce → sender → insert txs included in a block, failed ones included.
    pub included_by_nonce: BTreeMap<i64, BTreeMap<String, u64>>,
    /// Websocket handshakes accepted.
    pub ws_connections: u64,
    /// Websocket clients dropped by the read deadline (`--ws-read-wait-ms`).
    pub ws_read_wait_drops: u64,
}

impl Stats {
    pub fn reject(&mut self, reason: &str) {
        *self.rejected.entry(reason.to_string()).or_default() += 1;
    }

    /// Counts one action of the fault `name` (its `--fault` spelling).
    pub fn fired(&mut self, name: &str) {
        *self.faults_fired.entry(name.to_string()).or_default() += 1;
    }
}

/// Chain-level faults waiting to fire.
#[derive(Debug, Default)]
pub struct ChainFaults {
    pub sequence_mismatch_once: bool,
    pub insufficient_fee_once: bool,
    pub hold_blocks: u64,
    pub skip_next_window: bool,
    pub wrong_chain_id: bool,
    /// Answers that reported the wrong chain id (counted through `&self`).
    pub wrong_chain_id_reports: std::cell::Cell<u64>,
    /// The next N broadcasts accepted by CheckTx lose their reply.
    pub broadcast_lost: u64,
    /// Txs included from now on are found by hash this many blocks late.
    pub index_lag: u64,
    /// Raise the base gas price by this percentage at the next block.
    pub fee_rise_pct: u64,
    /// The next N deliveries use more gas than their limit.
    pub gas_spike: u64,
    /// Every tx uses this much more gas (simulate and delivery alike).
    pub extra_gas: u64,
    /// The next N successful payloads are not admitted (no event, no inference).
    pub not_admitted: u64,
}

/// The whole simulated chain.
#[derive(Debug)]
pub struct Chain {
    pub chain_id: String,
    pub emissions: Emissions,
    pub topic_id: u64,
    pub epoch_blocks: u64,
    pub window_blocks: u64,
    pub min_gas_price: f64,
    /// The feemarket's current base gas price (starts at `min_gas_price`).
    pub gas_price: f64,
    pub registration_fee: u128,
    pub data_sending_fee: u128,
    pub blocks: Vec<Block>,
    pub accounts: BTreeMap<String, Account>,
    /// The served topics by id (`topic_id` among them).
    pub topics: BTreeMap<u64, Topic>,
    pub ground_truth_lag: u64,
    pub loss_method: String,
    pub output_arity: String,
    pub mempool: Vec<Pending>,
    pub txs: HashMap<String, TxRecord>,
    /// Every broadcast tx, for `/devnet/txs`.
    pub txlog: TxLog,
    pub tx_cache: TxCache,
    /// `Host` values of listeners that never index txs (`no-index`).
    pub no_index: BTreeSet<String>,
    pub stats: Stats,
    pub faults: ChainFaults,
    /// `--scheduler seconds`: windows by block time (epochs in each topic).
    pub seconds_mode: bool,
    pub next_account_number: u64,
}

impl Chain {
    /// The genesis state with its first block at `cfg.start_height + 1`.
    pub fn new(cfg: &DevnetConfig, now: OffsetDateTime) -> Chain {
        let mut chain = Chain {
            chain_id: cfg.chain_id.clone(),
            emissions: cfg.emissions,
            topic_id: cfg.topic_id,
            epoch_blocks: cfg.epoch_blocks.max(1),
            window_blocks: cfg.window_blocks,
            min_gas_price: cfg.min_gas_price,
            gas_price: cfg.min_gas_price,
            registration_fee: cfg.registration_fee,
            data_sending_fee: cfg.data_sending_fee,
            blocks: Vec::new(),
            accounts: BTreeMap::new(),
            topics: BTreeMap::new(),
            ground_truth_lag: cfg.ground_truth_lag,
            loss_method: cfg.loss_method.clone(),
            output_arity: cfg.output_arity.clone(),
            mempool: Vec::new(),
            txs: HashMap::new(),
            txlog: TxLog::default(),
            tx_cache: TxCache::new(cfg.tx_cache),
            no_index: BTreeSet::new(),
            stats: Stats::default(),
            faults: ChainFaults::default(),
            seconds_mode: false,
            next_account_number: 1,
        };
        for (address, balance) in &cfg.genesis {
            chain.fund(address, *balance);
        }
        for g in &cfg.accounts {
            let acct = chain.accounts.entry(g.address.clone()).or_default();
            acct.number = g.account_number;
            acct.sequence = g.sequence;
            acct.check_sequence = g.sequence;
            acct.balance = g.balance;
        }
        chain.next_account_number = chain
            .accounts
            .values()
            .map(|a| a.number + 1)
            .max()
            .unwrap_or(1);
        let epochs = super::scheduler::Epochs::new(cfg.scheduler, now);
        for id in topics::served(cfg.topic_id, &cfg.topics) {
            let topic = Topic {
                registered: cfg.registered.iter().cloned().collect(),
                whitelist: cfg.whitelist.then(BTreeSet::new),
                epochs: epochs.clone(),
                ..Topic::default()
            };
            chain.topics.insert(id, topic);
        }
        if let Some(e) = &epochs {
            // Topic timing is in seconds in this mode.
            (chain.epoch_blocks, chain.window_blocks) = (e.epoch_secs, e.window_secs);
            chain.seconds_mode = true;
        }
        chain.produce_block(cfg.start_height + 1, now);
        chain
    }

    /// Adds `amount` to an account, creating it with the next number if new.
    pub fn fund(&mut self, address: &str, amount: u128) {
        if !self.accounts.contains_key(address) {
            let number = self.next_account_number;
            self.next_account_number += 1;
            self.accounts.insert(
                address.to_string(),
                Account {
                    number,
                    ..Account::default()
                },
            );
        }
        let acct = self
            .accounts
            .get_mut(address)
            .expect("account was just ensured");
        acct.balance += amount;
    }

    pub fn height(&self) -> u64 {
        self.blocks.last().map_or(0, |b| b.height)
    }

    pub fn block(&self, height: u64) -> Option<&Block> {
        let first = self.blocks.first()?.height;
        self.blocks
            .get(usize::try_from(height.checked_sub(first)?).ok()?)
    }

    /// The chain id as reported to clients (wrong under the fault).
    pub fn reported_chain_id(&self) -> String {
        if self.faults.wrong_chain_id {
            let f = &self.faults.wrong_chain_id_reports;
            f.set(f.get() + 1);
            format!("{}-wrong", self.chain_id)
        } else {
            self.chain_id.clone()
        }
    }

    /// Produces the next block at wall-clock `now`: delivers due txs, then
    /// runs the end-block window logic.
    pub fn next_block(&mut self, now: OffsetDateTime) -> u64 {
        let height = self.height() + 1;
        self.produce_block(height, now);
        height
    }

    fn produce_block(&mut self, height: u64, now: OffsetDateTime) {
        let rise = std::mem::take(&mut self.faults.fee_rise_pct);
        if rise > 0 {
            self.gas_price *= 1.0 + rise as f64 / 100.0;
            self.stats.fired("fee-rise");
        }
        let txs = self.deliver_due(height, now);
        let num_txs = txs.len();
        let mut events = begin_block_events(height);
        if self.seconds_mode {
            events.extend(self.end_block_seconds(height, now));
        } else {
            events.extend(self.end_block(height));
        }
        let hash = hex::encode_upper(&sha256(format!("{}/{height}", self.chain_id).as_bytes()));
        self.blocks.push(Block {
            height,
            time: now,
            hash,
            events,
            num_txs,
            txs,
        });
        let n = self.blocks.len();
        if n > KEEP_EVENTS {
            self.blocks[n - KEEP_EVENTS - 1].events = Vec::new();
            self.blocks[n - KEEP_EVENTS - 1].txs = Vec::new();
        }
    }

    /// Closes the windows ending at this block (a nonce is unfulfilled
    /// through the EndBlock of `nonce + W`, C6) and opens one in every topic
    /// every `epoch_blocks` (`skip-window` skips the primary topic's).
    fn end_block(&mut self, height: u64) -> Vec<Event> {
        let mut events = Vec::new();
        let p = self.emissions.package();
        let opens = height.is_multiple_of(self.epoch_blocks);
        let skip = opens && std::mem::take(&mut self.faults.skip_next_window);
        if skip {
            self.stats.fired("skip-window");
        }
        for (id, topic) in self.topics.iter_mut() {
            let ended: Vec<u64> = topic
                .windows
                .iter()
                .filter(|(_, end)| **end <= height)
                .map(|(n, _)| *n)
                .collect();
            for nonce in ended {
                topic.windows.remove(&nonce);
                events.push(window_closed(&p, *id, nonce));
            }
            if opens && !(skip && *id == self.topic_id) {
                let end = height + self.window_blocks;
                topic.windows.insert(height, end);
                topic.current_window = Some((height, end));
                topic.windows_opened += 1;
                self.stats.windows_opened += 1;
                events.push(window_opened(&p, *id, height, end));
            }
        }
        if height % self.epoch_blocks == self.epoch_blocks / 2 {
            let end = height + self.window_blocks;
            events.push(window_opened(&p, self.noise_topic(), height, end));
        }
        events
    }

    /// The window status answer for `topic` at the current height.
    pub fn window_status(&self, topic: &Topic) -> (bool, u64, u64, u64) {
        if let Some(status) = self.window_status_seconds(topic) {
            return status;
        }
        let h = self.height();
        let (nonce, end) = topic.current_window.unwrap_or((0, 0));
        let open = nonce > 0 && nonce <= h && h <= end && topic.windows.contains_key(&nonce);
        let next = (h / self.epoch_blocks + 1) * self.epoch_blocks;
        (open, nonce, end, next)
    }

    /// The `/devnet/stats` document.
    pub fn stats_json(&self) -> Value {
        let by_nonce = keyed_by_nonce(&self.stats.accepted_by_nonce);
        let included = keyed_by_nonce(&self.stats.included_by_nonce);
        let mut fired = self.stats.faults_fired.clone();
        let wrong_ids = self.faults.wrong_chain_id_reports.get();
        if wrong_ids > 0 {
            fired.insert("wrong-chain-id".into(), wrong_ids);
        }
        json!({
            "windows_opened": self.stats.windows_opened,
            "windows_opened_by_topic": self.windows_opened_by_topic(),
            "accepted": self.stats.accepted,
            "accepted_by_nonce": by_nonce,
            "duplicates": self.stats.duplicates,
            "resends": self.stats.resends,
            "rejected": self.stats.rejected,
            "height": self.height(),
            "txs_broadcast": self.stats.txs_broadcast,
            "txs_included": self.stats.txs_included,
            "tx_lookups": self.stats.tx_lookups,
            "mempool": self.mempool.len(),
            "open_nonces": self.primary().windows.keys().rev().collect::<Vec<_>>(),
            "faults_fired": fired,
            "included_by_nonce": included,
            "gas_price": self.gas_price,
            "ws_connections": self.stats.ws_connections,
            "ws_read_wait_drops": self.stats.ws_read_wait_drops,
        })
    }
}

/// A nonce → address → count map as JSON, nonces as string keys.
fn keyed_by_nonce<N: ToString>(map: &BTreeMap<N, BTreeMap<String, u64>>) -> Value {
    Value::Object(
        map.iter()
            .map(|(n, counts)| (n.to_string(), json!(counts)))
            .collect(),
    )
}

pub(super) fn window_closed(package: &str, topic: u64, nonce: u64) -> Event {
    Event::typed(
        &format!("{package}.EventWorkerSubmissionWindowClosed"),
        &[
            ("topic_id", json!(topic.to_string())),
            ("nonce_block_height", json!(nonce.to_string())),
        ],
        Some("EndBlock"),
    )
}

pub(super) fn window_opened(package: &str, topic: u64, nonce: u64, end: u64) -> Event {
    Event::typed(
        &format!("{package}.EventWorkerSubmissionWindowOpened"),
        &[
            ("topic_id", json!(topic.to_string())),
            ("nonce_block_height", json!(nonce.to_string())),
            ("window_end_block", json!(end.to_string())),
        ],
        Some("EndBlock"),
    )
}

/// The mint module's begin-block events every real block carries.
fn begin_block_events(height: u64) -> Vec<Event> {
    let minted = format!("{}uallo", 1_000_000 + height % 1000);
    let mint = "allo1m3h30wlvsf8llruxtpukdvsy0km2kum8al86ug";
    let collector = "allo17xpfvakm2amg962yls6f84z3kell8c5lx7qvqz";
    vec![
        Event::plain(
            "coin_spent",
            &[
                ("spender", mint),
                ("amount", &minted),
                ("mode", "BeginBlock"),
            ],
        ),
        Event::plain(
            "coin_received",
            &[
                ("receiver", collector),
                ("amount", &minted),
                ("mode", "BeginBlock"),
            ],
        ),
        Event::plain(
            "transfer",
            &[
                ("recipient", collector),
                ("sender", mint),
                ("amount", &minted),
                ("mode", "BeginBlock"),
            ],
        ),
        Event::plain(
            "mint",
            &[
                ("bonded_ratio", "0.612345678901234567"),
                ("inflation", "0.070000000000000000"),
                ("annual_provisions", "31536000000000.000000000000000000"),
                ("amount", minted.trim_end_matches("uallo")),
                ("mode", "BeginBlock"),
            ],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(epoch: u64, window: u64) -> Chain {
        let cfg = DevnetConfig {
            epoch_blocks: epoch,
            window_blocks: window,
            ..DevnetConfig::default()
        };
        Chain::new(&cfg, OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn windows_open_and_close_on_schedule() {
        let mut c = chain(4, 2);
        let t = OffsetDateTime::UNIX_EPOCH;
        while c.height() < 4 {
            c.next_block(t);
        }
        assert_eq!(c.window_status(c.primary()), (true, 4, 6, 8));
        let opened = &c.block(4).unwrap().events;
        let ev = opened
            .iter()
            .find(|e| e.kind.ends_with("WindowOpened"))
            .unwrap();
        assert_eq!(ev.kind, "emissions.v10.EventWorkerSubmissionWindowOpened");
        let keys: Vec<&str> = ev.attrs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["nonce_block_height", "topic_id", "window_end_block", "mode"]
        );
        assert_eq!(ev.attr("topic_id"), Some("\"67\""));
        assert_eq!(ev.attr("mode"), Some("EndBlock"));
        while c.height() < 7 {
            c.next_block(t);
        }
        assert!(!c.window_status(c.primary()).0);
        assert!(c.primary().windows.is_empty());
        assert_eq!(c.stats.windows_opened, 1);
        c.faults.skip_next_window = true;
        c.next_block(t);
        assert_eq!(c.stats.windows_opened, 1);
    }
}
