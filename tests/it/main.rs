//! The one integration-test binary (`cargo test --test it`): a module per area.

mod support; // shared helpers: the built binary, temp dirs, vector files
mod chain; // chain client against the devnet, register, check, decoder fuzz
