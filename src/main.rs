//! The `allora-worker` binary: hands the arguments to `cli::main` and exits
//! with the code it returns. Nothing else lives here.

fn main() {
    let code = allora_worker::cli::main(std::env::args_os().skip(1).collect());
    std::process::exit(code);
}
