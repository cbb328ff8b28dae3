//! The model file: our own versioned JSON (hyperparameters, seed, feature
//! list and hash, training span and a hash of the exact training rows, the
//! calibrated shrinkage, trained-at, validation metrics, the newest-row
//! forecast). smartcore's fitted trees are never serialised: "loading"
//! retrains from the bars (`reproduce`) and checks the stored forecast bit
//! for bit, so a library upgrade cannot silently change the model.
//!
//! Pure: text in and out; `trained_at` is an argument, so the same bars and
//! seed give byte-identical files. The atomic write is `io::modelfile`.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::logic::bars::{format_time, Series};
use crate::logic::features;
use crate::logic::model::{train, Params, Spans, Trained, Validation};

/// Version of the model file format this build reads and writes.
pub const FORMAT_VERSION: u64 = 1;
const FORMAT_NAME: &str = "allora-worker-model";

/// The model file: everything needed to retrain the same model from the
/// bars and to check that it did. Exactness-critical floats are stored as
/// shortest round-trip decimal strings.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFile {
    pub ticker: String,
    pub params: Params,
    pub seed: u64,
    pub spans: Spans,
    pub features: Vec<String>,
    pub feature_hash: String,
    /// Prediction time of the newest row (unix seconds).
    pub at: i64,
    pub first_row: i64,
    pub last_row: i64,
    pub rows_hash: String,
    pub shrink: f64,
    pub trained_at: i64,
    pub validation: Validation,
    pub newest_raw: f64,
    pub newest_prediction: f64,
}

/// Describes `t`, trained at grid index `at` of `s`; `trained_at` is passed
/// in so the bytes are reproducible.
pub fn describe(
    t: &Trained,
    s: &Series,
    at: usize,
    ticker: &str,
    trained_at: i64,
) -> Result<ModelFile> {
    let (newest_raw, newest_prediction) = t.predict_at(s, at)?;
    Ok(ModelFile {
        ticker: ticker.to_string(),
        params: t.params,
        seed: t.seed,
        spans: t.spans,
        features: features::NAMES.iter().map(|n| n.to_string()).collect(),
        feature_hash: features::hash(),
        at: s.time(at),
        first_row: s.time(t.first),
        last_row: s.time(t.last),
        rows_hash: t.rows_hash.clone(),
        shrink: t.shrink,
        trained_at,
        validation: t.validation,
        newest_raw,
        newest_prediction,
    })
}

/// The file's bytes: pretty JSON with sorted keys and a trailing newline.
pub fn encode(m: &ModelFile) -> String {
    let p = &m.params;
    let v = &m.validation;
    let doc = serde_json::json!({
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "ticker": m.ticker,
        "seed": m.seed.to_string(),
        "params": {"n_trees": p.n_trees, "learning_rate": p.learning_rate.to_string(),
            "max_depth": p.max_depth, "min_samples_leaf": p.min_samples_leaf,
            "subsample": p.subsample.to_string(), "shrink_cap": p.shrink_cap.to_string(),
            "refit": p.refit, "intercept": p.intercept, "penalty": p.penalty.to_string()},
        "spans": {"horizon_hours": m.spans.horizon, "train_hours": m.spans.train,
            "validation_hours": m.spans.validation},
        "features": m.features,
        "feature_hash": m.feature_hash,
        "data": {"at": format_time(m.at), "first_row": format_time(m.first_row),
            "last_row": format_time(m.last_row), "rows_hash": m.rows_hash},
        "shrink": m.shrink.to_string(),
        "trained_at": format_time(m.trained_at),
        "validation": {"points": v.points, "model_rmse": v.model_rmse, "zero_rmse": v.zero_rmse,
            "model_mae": v.model_mae, "zero_mae": v.zero_mae},
        "newest": {"raw": m.newest_raw.to_string(), "prediction": m.newest_prediction.to_string()},
    });
    let mut s = serde_json::to_string_pretty(&doc).expect("a json Value always serialises");
    s.push('\n');
    s
}

/// Parses a model file; a wrong format name, version or feature hash, or a
/// missing field, is an `Error::Model` naming it.
pub fn decode(text: &str) -> Result<ModelFile> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| Error::Model(format!("model file is not JSON: {e}")))?;
    let f = Fields(&doc);
    if f.str("format")? != FORMAT_NAME {
        return Err(Error::Model("not an allora-worker model file".into()));
    }
    let version = f.u64("version")?;
    if version != FORMAT_VERSION {
        return Err(Error::Model(format!(
            "model file version {version} is not {FORMAT_VERSION}; retrain with `train`"
        )));
    }
    let feature_hash = f.str("feature_hash")?.to_string();
    if feature_hash != features::hash() {
        return Err(Error::Model(
            "model file feature hash differs from this build's features; retrain with `train`"
                .into(),
        ));
    }
    let params = Params {
        n_trees: f.u64("params.n_trees")? as usize,
        learning_rate: f.num_str("params.learning_rate")?,
        max_depth: u16::try_from(f.u64("params.max_depth")?)
            .map_err(|_| Error::Model("model file params.max_depth too large".into()))?,
        min_samples_leaf: f.u64("params.min_samples_leaf")? as usize,
        subsample: f.num_str("params.subsample")?,
        shrink_cap: f.num_str("params.shrink_cap")?,
        refit: f.get("params.refit")?.as_bool().unwrap_or(false),
        intercept: f.get("params.intercept")?.as_bool().unwrap_or(false),
        penalty: f.num_str("params.penalty")?,
    };
    let validation = Validation {
        points: f.u64("validation.points")? as usize,
        model_rmse: f.f64("validation.model_rmse")?,
        zero_rmse: f.f64("validation.zero_rmse")?,
        model_mae: f.f64("validation.model_mae")?,
        zero_mae: f.f64("validation.zero_mae")?,
    };
    Ok(ModelFile {
        ticker: f.str("ticker")?.to_string(),
        params,
        seed: f.num_str("seed")?,
        spans: Spans {
            horizon: f.u64("spans.horizon_hours")? as usize,
            train: f.u64("spans.train_hours")? as usize,
            validation: f.u64("spans.validation_hours")? as usize,
        },
        features: features::NAMES.iter().map(|n| n.to_string()).collect(),
        feature_hash,
        at: f.time("data.at")?,
        first_row: f.time("data.first_row")?,
        last_row: f.time("data.last_row")?,
        rows_hash: f.str("data.rows_hash")?.to_string(),
        shrink: f.num_str("shrink")?,
        trained_at: f.time("trained_at")?,
        validation,
        newest_raw: f.num_str("newest.raw")?,
        newest_prediction: f.num_str("newest.prediction")?,
    })
}

/// Retrains what `m` describes from `s` and checks it is the same model:
/// same training rows (hash) and the stored newest forecast bit for bit.
pub fn reproduce(m: &ModelFile, s: &Series) -> Result<Trained> {
    let at = s
        .index_at(m.at)
        .filter(|i| s.time(*i) == m.at)
        .ok_or_else(|| {
            Error::Model(format!(
                "bars do not reach the model's time {}",
                format_time(m.at)
            ))
        })?;
    let t = train(s, at, &m.spans, &m.params, m.seed)?;
    if t.rows_hash != m.rows_hash {
        return Err(Error::Model(format!(
            "training rows for {} differ from the model file's (bars changed); retrain",
            format_time(m.at)
        )));
    }
    let (raw, pred) = t.predict_at(s, at)?;
    if raw.to_bits() != m.newest_raw.to_bits() || pred.to_bits() != m.newest_prediction.to_bits() {
        return Err(Error::Model(format!(
            "retrained model predicts {pred} at {}, file says {}",
            format_time(m.at),
            m.newest_prediction
        )));
    }
    Ok(t)
}

struct Fields<'a>(&'a Value);

impl Fields<'_> {
    fn get(&self, path: &str) -> Result<&Value> {
        path.split('.')
            .try_fold(self.0, |v, k| v.get(k))
            .ok_or_else(|| Error::Model(format!("model file has no {path}")))
    }
    fn str(&self, path: &str) -> Result<&str> {
        self.get(path)?
            .as_str()
            .ok_or_else(|| Error::Model(format!("model file {path} is not a string")))
    }
    fn u64(&self, path: &str) -> Result<u64> {
        self.get(path)?
            .as_u64()
            .ok_or_else(|| Error::Model(format!("model file {path} is not a whole number")))
    }
    fn f64(&self, path: &str) -> Result<f64> {
        self.get(path)?
            .as_f64()
            .ok_or_else(|| Error::Model(format!("model file {path} is not a number")))
    }
    fn num_str<T: std::str::FromStr>(&self, path: &str) -> Result<T> {
        self.str(path)?
            .parse()
            .map_err(|_| Error::Model(format!("model file {path} is not a number")))
    }
    fn time(&self, path: &str) -> Result<i64> {
        crate::logic::bars::parse_time(self.str(path)?)
            .ok_or_else(|| Error::Model(format!("model file {path} is not an RFC 3339 time")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logic::synthetic::synthetic_bars;

    const SPANS: Spans = Spans {
        horizon: 168,
        train: 336,
        validation: 168,
    };

    fn series() -> Series {
        Series::from_bars(&synthetic_bars(3, 480_000, 900))
    }

    #[test]
    fn model_file_round_trip_and_reproduce() {
        let s = series();
        let at = s.close.len() - 1;
        let t = train(&s, at, &SPANS, &Params::DEFAULT, 42).unwrap();
        let m = describe(&t, &s, at, "btcusd", 1_700_000_000).unwrap();
        let text = encode(&m);
        assert_eq!(decode(&text).unwrap(), m);
        assert!(reproduce(&m, &s).is_ok());
        let mut other = s.clone();
        other.close[at - 200] *= 1.01;
        assert!(reproduce(&m, &other)
            .unwrap_err()
            .to_string()
            .contains("bars changed"));
        let bad = |from: &str, to: &str| decode(&text.replace(from, to)).unwrap_err().to_string();
        assert!(bad("\"version\": 1", "\"version\": 9").contains("version 9"));
        assert!(bad(&m.feature_hash, "00").contains("feature hash"));
        assert!(bad("\"shrink\":", "\"shrunk\":").contains("no shrink"));
        assert!(decode("<html>").is_err());
    }
}
