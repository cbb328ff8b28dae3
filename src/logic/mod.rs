//! The pure layer: no sockets, files, environment, clock, logger, threads or
//! printing. Everything here is deterministic and golden-testable; time and
//! randomness come in as arguments. `tests/it/tidy.rs` enforces this.

pub mod backtest;
pub mod bars;
pub mod emissions;
pub mod envfile;
pub mod event;
pub mod features;
pub mod hex;
pub mod metrics;
pub mod model;
pub mod rotation;
pub mod secret;
pub mod synthetic;
pub mod wallet;
