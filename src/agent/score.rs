//! Live self-scoring: every ledger record that ends a nonce (included or
//! missed) also goes to the score record; on each heartbeat the submitted
//! nonces whose target time (the nonce's block time + `TARGET_HOURS`) has
//! passed are scored from the bars the forecaster holds, one `score` event
//! each, and the 7/30-day summary for `status.json` and the metrics is
//! refreshed. The record is compacted when the ledger is.
//!
//! Invariant: a nonce is scored once, from two real bars at or before
//! `now`; one whose bars are missing stays pending (and drops out with
//! compaction after 30 days), it is never scored on a made-up truth.

use serde_json::{json, Value};

use super::topic::TopicWorker;
use super::Shared;
use crate::config::Config;
use crate::error::Result;
use crate::io::scorefile::{self, ScoreFile};
use crate::io::{clock, logging};
use crate::logic::bars::{Series, HOUR};
use crate::logic::event::Kind;
use crate::logic::ledger::Stage;
use crate::logic::score_record::{self, Entry, Outcome};
use crate::logic::score_summary;
use crate::logic::wallet::Wallet;

/// Most nonces scored per heartbeat (each costs one block query).
const MAX_PER_HEARTBEAT: usize = 48;
/// The epoch assumed until the chain says otherwise (topic 67: 1 h).
const DEFAULT_EPOCH_MINUTES: f64 = 60.0;

/// The score record and its current summary.
pub(super) struct Scorer {
    file: ScoreFile,
    /// Nonces scored by this process (`allora_worker_score_scored_total`).
    scored_total: u64,
    /// The topic's epoch (lags between scored nonces are in epochs),
    /// measured once from the chain's block times.
    epoch_minutes: f64,
    epoch_measured: bool,
    /// `status.json`'s `score`.
    summary: Value,
}

impl Scorer {
    /// Opens the record beside the ledger and summarises it.
    pub(super) fn open(config: &Config, wallet: &Wallet) -> Result<Scorer> {
        let path = scorefile::path_for(
            &config.data_dir,
            &config.chain_id,
            config.topic_id,
            wallet.address(),
        );
        let (file, skipped) = ScoreFile::open(&path)?;
        if skipped > 0 {
            log::warn!(
                "WARNING score record {}: skipped {skipped} unreadable line(s)",
                path.display()
            );
        }
        let mut s = Scorer {
            file,
            scored_total: 0,
            epoch_minutes: DEFAULT_EPOCH_MINUTES,
            epoch_measured: false,
            summary: Value::Null,
        };
        s.summarise(
            clock::now_utc().unix_timestamp(),
            config.target_hours as usize,
        );
        Ok(s)
    }

    fn summarise(&mut self, now: i64, horizon: usize) {
        self.summary = score_summary::to_json(self.file.state(), now, horizon, self.epoch_minutes);
    }

    /// `status.json`'s `score`.
    pub(super) fn summary(&self) -> &Value {
        &self.summary
    }

    /// The `allora_worker_score_*` metrics.
    pub(super) fn prometheus(&self) -> String {
        score_summary::prometheus(&self.summary, self.scored_total)
    }
}

impl TopicWorker {
    /// The score-record entry `stage` implies for `nonce`, judged against
    /// the nonce's ledger record before it (call before the ledger append).
    pub(super) fn score_note(&self, nonce: i64, stage: &Stage, at: i64) -> Option<Entry> {
        let previous = self.ledger.state().get(nonce).map(|r| &r.stage);
        score_record::from_ledger(nonce, at, previous, stage)
    }

    /// Keeps what `score_note` returned (after the ledger append succeeded).
    pub(super) fn keep_score_note(&mut self, entry: Option<Entry>) {
        if let Some(e) = entry {
            if let Err(e) = self.score.file.append(e) {
                log::warn!("WARNING score record: {e}");
            }
            let now = clock::now_utc().unix_timestamp();
            self.score.summarise(now, self.config.target_hours as usize);
        }
    }

    /// Scores the nonces that are due (on every heartbeat and after every
    /// training, which refreshes the bars) and refreshes the summary.
    pub(super) fn score_due(&mut self, sh: &mut Shared<'_>) {
        let now = clock::now_utc().unix_timestamp();
        let h = self.config.target_hours as usize;
        if !self.score.epoch_measured {
            if let (Some(t), Some(spb)) = (&self.topic, sh.client.seconds_per_block()) {
                self.score.epoch_minutes = t.epoch_length as f64 * spb / 60.0;
                self.score.epoch_measured = true;
            }
        }
        let due = self.score.file.state().due(now, h);
        if !due.is_empty() {
            let series = Series::from_bars(self.forecast.bars());
            for (nonce, value) in due.into_iter().take(MAX_PER_HEARTBEAT) {
                self.score_one(sh, &series, nonce, value, now);
            }
        }
        self.score.summarise(now, h);
    }

    /// Compacts the record when the ledger was just compacted or the record
    /// outgrew `max_lines`: what the ledger keeps, 30 days, by target time.
    pub(super) fn compact_scores(
        &mut self,
        keep_since: i64,
        max_lines: usize,
        ledger_compacted: bool,
    ) {
        let h = self.config.target_hours as usize;
        match self
            .score
            .file
            .compact_if_needed(keep_since, h, max_lines, ledger_compacted)
        {
            Ok(true) => log::info!(
                "score record compacted to {} nonces",
                self.score.file.state().len()
            ),
            Ok(false) => {}
            Err(e) => log::warn!("WARNING score record compaction: {e}"),
        }
    }

    fn score_one(
        &mut self,
        sh: &mut Shared<'_>,
        series: &Series,
        nonce: i64,
        value: f64,
        now: i64,
    ) {
        let at = self.tag.clone();
        let h = self.config.target_hours as usize;
        let t0 = match sh.client.block_time(nonce as u64) {
            Ok(t) => t.unix_timestamp() / 60 * 60,
            Err(e) => return log::warn!("WARNING scoring nonce {nonce}{at}: its block time: {e}"),
        };
        if t0 + h as i64 * HOUR > now {
            return;
        }
        let Some(s) = score_record::score(series, t0, value, h) else {
            return log::debug!("nonce {nonce}{at}: the bars do not cover its target yet");
        };
        let entry = Entry {
            nonce,
            at: now,
            outcome: Outcome::Scored(s),
        };
        if let Err(e) = self.score.file.append(entry) {
            return log::warn!("WARNING score record: {e}");
        }
        self.score.scored_total += 1;
        let mut data = score_record::scores_json(&s);
        data["nonce"] = json!(nonce);
        data["target_time"] = json!(t0 + h as i64 * HOUR);
        logging::event(
            Kind::Score,
            &format!(
                "nonce {nonce}{at} scored: prediction {value}, truth {:.6}, CZAR {:.4} (zero {:.4}), log10 CZAR {:.4} (zero {:.4}), ZPTAE {:.4} (zero {:.4}), sign {}",
                s.truth, s.czar, s.zero_czar, s.log10_czar, s.zero_log10_czar, s.zptae, s.zero_zptae,
                if s.hit { "hit" } else { "miss" }
            ),
            data,
        );
    }
}
