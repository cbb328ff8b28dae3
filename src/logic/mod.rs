//! The pure layer: no sockets, files, environment, clock, logger, threads or
//! printing. Everything here is deterministic and golden-testable; time and
//! randomness come in as arguments. `tests/it/tidy.rs` enforces this.

pub mod backtest;
pub mod backtest_svg;
pub mod bars;
pub mod chain_json;
pub mod counters;
pub mod decimal;
pub mod emissions;
pub mod envfile;
pub mod evaluate;
pub mod event;
pub mod features;
pub mod gates;
pub mod hex;
pub mod human;
pub mod ledger;
pub mod metrics;
pub mod model;
pub mod model_format;
pub mod portable_math;
pub mod prior;
pub mod proto;
pub mod rotation;
pub mod schedule;
pub mod score_record;
pub mod score_summary;
pub mod scoring;
pub mod secret;
pub mod submission;
pub mod submit;
pub mod synthetic;
pub mod topic_fit;
pub mod tx;
pub mod tx_decode;
pub mod unit_file;
pub mod verify;
pub mod wallet;
pub mod window;
