//! `registryo`: the reference server and its administration CLI.
//!
//! Every command works on the same data directory and configuration as `serve`, also while
//! `serve` runs: changes go through the store, and a running server picks them up within a
//! second.

mod cli;
mod config;
mod server;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("registryo: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("registryo: {e:#}");
            ExitCode::FAILURE
        }
    }
}
