//! Scheduler epochs (`--scheduler seconds`, ALLORA-PROTOCOL.md §12 C12), the
//! newest chain code's mode: topic timing in seconds, a worker window opened
//! every `epoch_secs` and closed `window_secs` later by block time (in the
//! EndBlock of the first block at or past its close), the nonce still the
//! block height the epoch started at, the window event's `window_end_block`
//! = nonce + `worker_submission_window` (blocks plus seconds: not a height),
//! and `GET /emissions/v10/epochs/{topic_id}[/{nonce}]` with the chain's
//! `Epoch` JSON (`nonce` is the packed NonceV2: version 1 in the top byte, a
//! zero-based epoch counter below; `start_block_height` is the height). In
//! block mode the epochs route does not exist: 404 as the gateway answers an
//! unknown route. No sockets or clock here: block times are passed in.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::chain::{window_opened, Chain, Event, NOISE_TOPIC};
use super::http::Reply;

/// How many finished epochs `GET /epochs` still lists (the chain prunes them).
const KEEP_FINISHED: usize = 8;
/// NonceV2 version 1 in the top byte.
const NONCE_V1: u64 = 1 << 56;

/// Which scheduler opens the worker windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduler {
    /// A window every `epoch_blocks` blocks, open `window_blocks` blocks.
    Blocks,
    /// A window every `epoch_secs` seconds of block time, open `window_secs`.
    Seconds { epoch_secs: u64, window_secs: u64 },
}

impl Scheduler {
    /// Parses `--scheduler blocks|seconds` with the seconds settings.
    pub fn parse(name: &str, epoch_secs: u64, window_secs: u64) -> Result<Scheduler, String> {
        match name {
            "blocks" => Ok(Scheduler::Blocks),
            "seconds" => Ok(Scheduler::Seconds {
                epoch_secs: epoch_secs.max(1),
                window_secs,
            }),
            other => Err(format!("--scheduler {other:?}: expected blocks or seconds")),
        }
    }
}

/// One epoch of the topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Epoch {
    /// Zero-based epoch counter (the NonceV2 payload).
    pub index: u64,
    /// The block height the epoch started at: the worker nonce.
    pub height: u64,
    pub open_at: OffsetDateTime,
    pub close_at: OffsetDateTime,
    pub closed: bool,
}

/// The seconds scheduler's state.
#[derive(Debug, Clone)]
pub struct Epochs {
    pub epoch_secs: u64,
    pub window_secs: u64,
    /// Block time at or after which the next epoch starts.
    pub next_open: OffsetDateTime,
    /// Block time at or after which the noise topic's window opens.
    pub next_noise: OffsetDateTime,
    /// By start height.
    pub list: BTreeMap<u64, Epoch>,
    pub next_index: u64,
}

impl Epochs {
    /// The state for `scheduler` with genesis at `genesis`; None in block mode.
    pub fn new(scheduler: Scheduler, genesis: OffsetDateTime) -> Option<Epochs> {
        let Scheduler::Seconds {
            epoch_secs,
            window_secs,
        } = scheduler
        else {
            return None;
        };
        Some(Epochs {
            epoch_secs,
            window_secs,
            next_open: genesis + Epochs::secs(epoch_secs),
            next_noise: genesis + Epochs::secs(epoch_secs) / 2,
            list: BTreeMap::new(),
            next_index: 0,
        })
    }

    fn secs(s: u64) -> Duration {
        Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 4).min(1 << 40))
    }

    /// The open epoch, if any, and the newest one.
    fn current(&self) -> Option<&Epoch> {
        self.list.values().next_back()
    }
}

impl Chain {
    /// EndBlock in seconds mode: closes windows whose close time the block
    /// reached, then opens the next epoch when its time came.
    pub(super) fn end_block_seconds(&mut self, height: u64, now: OffsetDateTime) -> Vec<Event> {
        let p = self.emissions.package();
        let topic = self.topic_id;
        let mut events = Vec::new();
        let Some(ep) = self.epochs.as_mut() else {
            return events;
        };
        for e in ep
            .list
            .values_mut()
            .filter(|e| !e.closed && now >= e.close_at)
        {
            e.closed = true;
            self.windows.remove(&e.height);
            events.push(Event::typed(
                &format!("{p}.EventWorkerSubmissionWindowClosed"),
                &[
                    ("topic_id", json!(topic.to_string())),
                    ("nonce_block_height", json!(e.height.to_string())),
                ],
                Some("EndBlock"),
            ));
        }
        let end = height + ep.window_secs;
        if now >= ep.next_open {
            ep.next_open = now + Epochs::secs(ep.epoch_secs);
            let epoch = Epoch {
                index: ep.next_index,
                height,
                open_at: now,
                close_at: now + Epochs::secs(ep.window_secs),
                closed: false,
            };
            ep.next_index += 1;
            ep.list.insert(height, epoch);
            while ep.list.len() > KEEP_FINISHED + 1 {
                ep.list.pop_first();
            }
            // Open until closed by time; the end is not a height in this mode.
            self.windows.insert(height, u64::MAX);
            self.current_window = Some((height, end));
            self.stats.windows_opened += 1;
            events.push(window_opened(&p, topic, height, end));
        }
        if now >= ep.next_noise {
            ep.next_noise = now + Epochs::secs(ep.epoch_secs);
            events.push(window_opened(&p, NOISE_TOPIC, height, end));
        }
        events
    }

    /// The window status in seconds mode: (open, nonce, nonce + window,
    /// nonce + epoch), the last two in blocks plus seconds as the event's.
    pub(super) fn window_status_seconds(&self) -> Option<(bool, u64, u64, u64)> {
        let ep = self.epochs.as_ref()?;
        Some(match ep.current() {
            Some(e) => (
                !e.closed,
                e.height,
                e.height + ep.window_secs,
                e.height + ep.epoch_secs,
            ),
            None => (false, 0, 0, 0),
        })
    }
}

fn time_text(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The chain's `Epoch` JSON as the gateway renders it.
pub fn epoch_json(topic: u64, ep: &Epochs, e: &Epoch) -> Value {
    let reputer_open = e.close_at + Epochs::secs(ep.epoch_secs);
    json!({
        "nonce": (NONCE_V1 | e.index).to_string(),
        "topic_id": topic.to_string(),
        "state": if e.closed { "WAITING_GROUND_TRUTH" } else { "WORKER_SUBMISSION" },
        "worker_submission_window": {"open_at": time_text(e.open_at), "close_at": time_text(e.close_at)},
        "reputer_submission_window": {
            "open_at": time_text(reputer_open),
            "close_at": time_text(reputer_open + Epochs::secs(ep.epoch_secs)),
        },
        "epsilon": "0.01",
        "start_block_height": e.height.to_string(),
    })
}

fn not_found(message: &str) -> Reply {
    Reply::json(404, &json!({"code": 5, "message": message, "details": []}))
}

/// `GET /emissions/{v}/epochs/{topic_id}[/{nonce}]`; `rest` is what follows the topic.
pub fn route(chain: &Chain, topic: &str, rest: &[&str]) -> Reply {
    let Some(ep) = chain.epochs.as_ref() else {
        return not_found("Not Found");
    };
    if topic.parse::<u64>().ok() != Some(chain.topic_id) {
        return not_found(&format!("topic {topic} not found"));
    }
    let id = chain.topic_id;
    match rest {
        [] => {
            let list: Vec<Value> = ep.list.values().map(|e| epoch_json(id, ep, e)).collect();
            Reply::json(200, &json!({ "epochs": list }))
        }
        [nonce] => match ep
            .list
            .values()
            .find(|e| Ok(NONCE_V1 | e.index) == nonce.parse::<u64>())
        {
            Some(e) => Reply::json(200, &json!({"epoch": epoch_json(id, ep, e)})),
            None => not_found(&format!("epoch {nonce} of topic {topic} not found")),
        },
        _ => not_found("Not Found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devnet::DevnetConfig;

    #[test]
    fn seconds_windows_open_and_close_by_block_time() {
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let cfg = DevnetConfig {
            scheduler: Scheduler::Seconds {
                epoch_secs: 10,
                window_secs: 4,
            },
            ..DevnetConfig::default()
        };
        let mut c = Chain::new(&cfg, t0);
        let at = |s: i64| t0 + Duration::seconds(s);
        for s in 1..10 {
            c.next_block(at(s));
        }
        assert!(c.windows.is_empty(), "nothing opens before 10 s");
        let h = c.next_block(at(10));
        assert_eq!(c.window_status(), (true, h, h + 4, h + 10));
        let opened = c.block(h).unwrap().events.clone();
        let ev = opened.iter().find(|e| e.kind.ends_with("Opened")).unwrap();
        assert_eq!(
            ev.attr("window_end_block"),
            Some(format!("\"{}\"", h + 4).as_str())
        );
        c.next_block(at(13));
        assert!(c.windows.contains_key(&h), "still open at 13 s");
        let closed = c.next_block(at(14));
        assert!(!c.windows.contains_key(&h));
        assert!(c
            .block(closed)
            .unwrap()
            .events
            .iter()
            .any(|e| e.kind.ends_with("Closed")));
        let ep = c.epochs.as_ref().unwrap();
        let j = epoch_json(67, ep, &ep.list[&h]);
        assert_eq!(j["nonce"], (NONCE_V1).to_string());
        assert_eq!(j["state"], "WAITING_GROUND_TRUTH");
        assert_eq!(j["start_block_height"], h.to_string());
        assert!(Scheduler::parse("minutes", 1, 1).is_err());
    }
}
