//! The I/O layer: moves bytes (files, environment, clock, logs) and makes no
//! decisions. Decisions come from `logic`.

pub mod chain;
pub mod clock;
pub mod http;
pub mod logfile;
pub mod logging;
pub mod settings;
pub mod ws;
