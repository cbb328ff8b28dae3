//! The pure layer: no sockets, files, environment, clock, logger, threads or
//! printing. Everything here is deterministic and golden-testable; time and
//! randomness come in as arguments. `tests/it/tidy.rs` enforces this.

pub mod backtest;
pub mod bars;
pub mod chain_json;
pub mod counters;
pub mod decimal;
pub mod emissions;
pub mod envfile;
pub mod event;
pub mod features;
pub mod hex;
pub mod human;
pub mod ledger;
pub mod metrics;
pub mod model;
pub mod model_format;
pub mod portable_math;
pub mod proto;
pub mod rotation;
pub mod schedule;
pub mod secret;
pub mod submission;
pub mod submit;
pub mod synthetic;
pub mod tx;
pub mod tx_decode;
pub mod unit_file;
pub mod verify;
pub mod wallet;
