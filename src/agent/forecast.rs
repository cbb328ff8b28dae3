//! The daemon's forecasts: keeps the bars and the trained model in memory,
//! retrains on schedule, and precomputes the prediction on the newest bar so
//! a window is served without training. A prediction for a nonce uses bars
//! up to that nonce's block time; the cached value is reused only while it
//! was computed on exactly the bar that is newest at that time.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::io::dataset as market;
use crate::io::modelfile;
use crate::logic::bars::{self, Bar};
use crate::logic::counters::Miss;
use crate::logic::model::Trained;

use super::Options;

/// Bars, model and the precomputed prediction.
pub struct Forecaster {
    config: Config,
    csv: Option<PathBuf>,
    seed: u64,
    predict_cmd: Option<String>,
    predict_timeout: Duration,
    bars: Vec<Bar>,
    model: Option<Trained>,
    /// (time of the newest bar used, value, how it was made)
    cached: Option<(i64, f64, String)>,
}

impl Forecaster {
    /// A forecaster for the configured market source (or `opts.csv`).
    pub fn new(config: &Config, opts: &Options) -> Forecaster {
        Forecaster {
            config: config.clone(),
            csv: opts.csv.clone(),
            seed: opts.seed,
            predict_cmd: opts.predict_cmd.clone(),
            predict_timeout: opts.predict_timeout,
            bars: Vec::new(),
            model: None,
            cached: None,
        }
    }

    /// Refreshes the bars, trains at the newest one, saves the model file
    /// and precomputes the newest prediction. Returns the training time.
    pub fn train(&mut self, now: i64) -> Result<i64> {
        let (bars, _) = market::gated_bars(&self.config, self.csv.clone(), None)?;
        let (trained, file) = market::train_at_newest(&self.config, &bars, self.seed, now)?;
        modelfile::save(
            &modelfile::path(&self.config.data_dir, self.config.topic_id),
            &file,
        )?;
        let newest = bars.last().map_or(0, |b| b.t);
        let (value, _) = market::forecast(&self.config, &bars, market::Maker::Model(&trained))?;
        log::info!(
            "trained on {} bars up to {}: shrink {:.4}, next forecast {value}",
            bars.len(),
            bars::format_time(newest),
            trained.shrink
        );
        self.cached = Some((newest, value, "model (precomputed)".into()));
        self.bars = bars;
        self.model = Some(trained);
        Ok(now)
    }

    /// The bars loaded last (all the source gave, up to its newest bar).
    pub fn bars(&self) -> &[Bar] {
        &self.bars
    }

    /// The forecast for a window whose nonce block time is `t0` (unix s).
    pub fn predict(
        &mut self,
        t0: i64,
        nonce: i64,
    ) -> std::result::Result<(f64, String), (Miss, Error)> {
        let newest = self.bars.iter().rev().find(|b| b.t <= t0).map(|b| b.t);
        let stale = newest.is_none_or(|t| t0 - t >= 3600);
        if stale || self.predict_cmd.is_some() {
            let (bars, _) = market::gated_bars(&self.config, self.csv.clone(), Some(t0))
                .map_err(|e| (Miss::NoData, e))?;
            self.bars = bars;
        }
        let usable: Vec<Bar> = self.bars.iter().filter(|b| b.t <= t0).cloned().collect();
        let at = usable.last().map(|b| b.t).ok_or((
            Miss::NoData,
            Error::Data("no bars before the window".into()),
        ))?;
        bars::gate(&usable, t0, 1).map_err(|e| (Miss::NoData, e))?;
        if let Some(cmd) = &self.predict_cmd {
            let hook = market::Maker::Hook {
                cmd,
                nonce,
                timeout: self.predict_timeout,
            };
            let (v, _) = market::forecast(&self.config, &usable, hook)
                .map_err(|e| (Miss::ModelInvalid, e))?;
            return Ok((v, "predict-cmd".into()));
        }
        if let Some((t, v, how)) = &self.cached {
            if *t == at {
                return Ok((*v, how.clone()));
            }
        }
        if self.model.is_none() {
            self.train(t0).map_err(|e| (Miss::ModelInvalid, e))?;
        }
        let model = self
            .model
            .as_ref()
            .ok_or((Miss::ModelInvalid, Error::Model("no model".into())))?;
        let (v, _) = market::forecast(&self.config, &usable, market::Maker::Model(model))
            .map_err(|e| (Miss::ModelInvalid, e))?;
        self.cached = Some((at, v, "model".into()));
        Ok((v, "model".into()))
    }
}
