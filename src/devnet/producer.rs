//! The block-producer thread: one block every `block_ms` of wall-clock time,
//! except while a `halt:SECS` lasts (no blocks; RPC and LCD keep answering
//! with the old height), the `upgrade-v10-at:H` switch of a v9 chain to
//! emissions v10 at height H (announced by `current_plan` until then), and
//! the periodic `--state` save. What a block contains is `chain.rs`'s job.

use std::sync::{Arc, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{state, Fault, Shared};
use crate::error::{Error, Result};
use crate::io::clock;
use crate::logic::emissions::Emissions;

/// How often, at most, `--state` is written while blocks are produced.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// Halts and upgrades waiting or acting.
#[derive(Debug, Default)]
pub struct Lifecycle {
    halt_until: Option<Instant>,
    upgrade_at: Option<u64>,
}

impl Shared {
    fn lifecycle(&self) -> MutexGuard<'_, Lifecycle> {
        self.lifecycle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies a halt or an upgrade; false for any other fault.
    pub(super) fn inject_lifecycle(&self, fault: &Fault) -> bool {
        match fault {
            Fault::Halt(secs) => {
                self.lifecycle().halt_until = Some(Instant::now() + Duration::from_secs(*secs));
                self.chain().stats.fired("halt");
            }
            Fault::UpgradeV10At(h) => {
                if self.chain().emissions == Emissions::V10 {
                    log::warn!(
                        "devnet: the chain already runs emissions v10; upgrade-v10-at:{h} ignored"
                    );
                } else {
                    self.lifecycle().upgrade_at = Some(*h);
                }
            }
            _ => return false,
        }
        true
    }

    /// The halt still lasting and the upgrade still planned, as faults.
    pub(super) fn lifecycle_pending(&self) -> Vec<Fault> {
        let l = self.lifecycle();
        let left = l
            .halt_until
            .map(|t| t.saturating_duration_since(Instant::now()))
            .filter(|d| !d.is_zero());
        left.map(|d| Fault::Halt(d.as_secs_f64().ceil() as u64))
            .into_iter()
            .chain(l.upgrade_at.map(Fault::UpgradeV10At))
            .collect()
    }

    /// Ends a halt and forgets a planned upgrade.
    pub(super) fn clear_lifecycle(&self) {
        *self.lifecycle() = Lifecycle::default();
    }

    /// `GET /cosmos/upgrade/v1beta1/current_plan`.
    pub fn upgrade_plan(&self) -> Value {
        match self.lifecycle().upgrade_at {
            Some(h) => json!({"plan": {
                "name": "v0.17.0", "time": "0001-01-01T00:00:00Z", "height": h.to_string(),
                "info": "", "upgraded_client_state": null
            }}),
            None => json!({"plan": null}),
        }
    }

    /// True while a halt lasts (the halt is forgotten once over).
    fn halted(&self) -> bool {
        let mut l = self.lifecycle();
        match l.halt_until {
            Some(t) if Instant::now() < t => true,
            Some(_) => {
                l.halt_until = None;
                log::info!("devnet: halt over, producing blocks again");
                false
            }
            None => false,
        }
    }

    /// Produces the next block, switching to v10 first when its height is the upgrade's.
    fn produce(&self) -> u64 {
        let upgrade_at = self.lifecycle().upgrade_at;
        let mut chain = self.chain();
        if upgrade_at == Some(chain.height() + 1) {
            chain.emissions = Emissions::V10;
            chain.stats.fired("upgrade-v10-at");
            self.lifecycle().upgrade_at = None;
            log::info!(
                "devnet: upgraded to emissions v10 at height {}",
                chain.height() + 1
            );
        }
        chain.next_block(clock::system_now_utc())
    }
}

/// Starts the producer: one block every `block_ms`, none while halted.
pub fn spawn(shared: Arc<Shared>) -> Result<JoinHandle<()>> {
    let interval = Duration::from_millis(shared.cfg.block_ms.max(1));
    std::thread::Builder::new()
        .name("devnet-blocks".into())
        .spawn(move || {
            let mut next = Instant::now() + interval;
            let mut saved = Instant::now();
            loop {
                let wait = next.saturating_duration_since(Instant::now());
                if shared.wait_stop(wait) {
                    return;
                }
                next += interval;
                if shared.halted() {
                    // After the halt the next block comes one interval later.
                    next = Instant::now() + interval;
                    continue;
                }
                let height = shared.produce();
                log::trace!("devnet: block {height}");
                if saved.elapsed() >= SAVE_EVERY {
                    state::save_shared(&shared);
                    saved = Instant::now();
                }
            }
        })
        .map_err(|e| Error::io("devnet: start the block producer", e))
}
