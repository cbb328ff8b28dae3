//! Carrying out one action of a submission machine (`logic::submission`)
//! through `io::chain`, and driving a machine to its end with blocking
//! waits for the commands that submit one tx and exit (`register`, `demo`'s
//! registration, tests). The daemon steps its machines itself, one action
//! per loop turn (`submit.rs`).

use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::io::chain::{Client, TxKind};
use crate::io::signals;
use crate::logic::submission::{Action, Event, Limits, Outcome, Submission};
use crate::logic::wallet::Wallet;

/// A registration tx can land up to this many blocks after it was signed.
pub const REGISTER_TIMEOUT_BLOCKS: u64 = 20;
/// `submit_blocking` gives up after this many failed attempts in a row.
const MAX_FAILURES: u32 = 5;

/// Carries out `action` (Sign, Broadcast or Lookup) and returns the event to
/// feed back; `None` for `Later` and `Finish`, which are the caller's. The
/// tx's timeout height is `window_end`, or for a tx without a window the
/// height now + `REGISTER_TIMEOUT_BLOCKS`. Errors come only from `Sign`.
pub fn perform(
    client: &mut Client,
    wallet: &Wallet,
    what: TxKind<'_>,
    window_end: Option<u64>,
    action: &Action,
) -> Option<Result<Event>> {
    Some(match action {
        Action::Sign {
            bumps,
            min_gas_used,
        } => {
            let timeout = match window_end {
                Some(end) => Ok(end),
                None => client
                    .latest_height()
                    .map(|h| h.saturating_add(REGISTER_TIMEOUT_BLOCKS)),
            };
            timeout.and_then(|t| client.sign(wallet, what, t, *bumps, *min_gas_used))
        }
        Action::Broadcast(tx) => Ok(client.broadcast(tx)),
        Action::Lookup(hashes) => Ok(client.lookup(hashes, wallet.address(), what)),
        Action::Later(_) | Action::Finish(_) => return None,
    })
}

/// Drives one machine for `what` until it finishes, sleeping between steps
/// (no ledger: for `register` and tests). Configuration errors (fee above
/// the cap) and `MAX_FAILURES` failures in a row end it with an error.
pub fn submit_blocking(
    client: &mut Client,
    wallet: &Wallet,
    what: TxKind<'_>,
    window_end: Option<u64>,
) -> Result<Outcome> {
    let limits = Limits {
        window_end,
        poll_ms: client.poll_ms(),
    };
    let mut sub = Submission::new(limits);
    let mut event = Event::Tick {
        height: client.latest_height()?,
    };
    let mut failures = 0;
    loop {
        let step = sub.on(event);
        if let Some(stage) = &step.record {
            log::debug!("submission stage {stage:?}");
        }
        if let Action::Broadcast(tx) = &step.action {
            log::info!("broadcasting tx {}", tx.hash);
        }
        event = match perform(client, wallet, what, window_end, &step.action) {
            Some(Ok(e)) => e,
            Some(Err(e @ (Error::Config { .. } | Error::Usage(_)))) => return Err(e),
            Some(Err(e)) => {
                failures += 1;
                if failures >= MAX_FAILURES {
                    return Err(e);
                }
                log::warn!("WARNING {e}; trying again");
                Event::Failed(e.to_string())
            }
            None => match step.action {
                Action::Finish(outcome) => return Ok(outcome),
                Action::Later(ms) => {
                    if signals::sleep_until(Instant::now() + Duration::from_millis(ms)) {
                        return Err(Error::Usage("stopped while a tx was pending".into()));
                    }
                    Event::Tick {
                        height: client.latest_height().unwrap_or(sub.height),
                    }
                }
                _ => Event::Tick { height: sub.height },
            },
        };
    }
}
