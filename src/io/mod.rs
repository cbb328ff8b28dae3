//! The I/O layer: moves bytes (files, environment, clock, logs) and makes no
//! decisions. Decisions come from `logic`.

pub mod append;
pub mod atomic;
pub mod chain;
pub mod claim;
pub mod clock;
pub mod dataset;
pub mod http;
pub mod jsonl;
pub mod ledger;
pub mod lock;
pub mod logfile;
pub mod logging;
pub mod market;
pub mod modelfile;
pub mod notify;
pub mod predict_cmd;
pub mod scorefile;
pub mod settings;
pub mod signals;
pub mod ws;
