//! allora-worker: an Allora network worker in one small binary.
//!
//! Layers (arrows point one way): `cli` → `cmd` → `io` → `logic`.
//! `logic/` is pure and golden-tested, `io/` moves bytes and decides nothing,
//! `cmd/` holds one file per subcommand. See the README's code map.

#![forbid(unsafe_code)]

pub mod cli;
pub mod cmd;
pub mod config;
pub mod devnet;
pub mod error;
pub mod io;
pub mod logic;
