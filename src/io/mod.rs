//! The I/O layer: moves bytes (files, environment, clock, logs) and makes no
//! decisions. Decisions come from `logic`.

pub mod clock;
pub mod logfile;
pub mod logging;
pub mod market;
pub mod modelfile;
pub mod predict_cmd;
pub mod settings;
