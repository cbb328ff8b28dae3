//! The one integration-test binary (`cargo test --test it`): a module per area.

mod chain; // chain client against the devnet, register, check, decoder fuzz
mod decimal; // canonical decimal strings: the vector table and a 100k-float property test
mod devnet; // the local devnet: REST/RPC shapes, windows, websocket frames, vector replay, faults, stats, the command
mod support; // shared helpers: the built binary, temp dirs, vector files
mod tx; // golden transactions, the verifier's rejections, the sign binary
