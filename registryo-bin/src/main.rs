//! `registryo`: the reference server and its administration CLI.
//!
//! Every command works on the same data directory and configuration as `serve`, also while
//! `serve` runs: changes go through the store, and a running server picks them up within a
//! second.

/// `println!` for command output: when standard output is closed (`registryo user list |
/// head`), the command exits quietly instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::stdout_failed(&e);
        }
    }};
}

/// `print!` for command output, as [`out!`].
macro_rules! out_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout().lock(), $($arg)*) {
            $crate::stdout_failed(&e);
        }
    }};
}

/// `println!` for what the server says at start-up: a closed standard output is ignored (the
/// server keeps serving). With `log_format = "json"` it is a log event instead, so that every
/// line is a JSON object.
macro_rules! say {
    ($($arg:tt)*) => {{
        if $crate::LOG_JSON.load(std::sync::atomic::Ordering::Relaxed) {
            tracing::info!("{}", format!($($arg)*));
        } else {
            use std::io::Write as _;
            let _ = writeln!(std::io::stdout().lock(), $($arg)*);
        }
    }};
}

/// Whether `serve` logs JSON (set once, when logging starts).
static LOG_JSON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

mod cli;
mod config;
mod files;
mod janitor;
mod metrics;
mod serve;
mod server;
mod tls;

/// Standard output failed: quietly done when the reader went away (EPIPE), else say why.
fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("registryo: cannot write to standard output: {e}");
    std::process::exit(1);
}

use std::process::ExitCode;

/// jemalloc, with its background thread purging freed pages (10 s decay), instead of glibc's
/// malloc: glibc keeps what each thread's arena once held, so policy snapshots rebuilt on
/// whichever worker thread tripled the server's memory at 100k rules (72 → 335 MiB after 100
/// reloads; `MALLOC_ARENA_MAX=1` still 2×), where jemalloc returns within 1.25× of its
/// post-start size (BENCHMARKS.md, "Memory"). Only the Rust allocations: SQLite and aws-lc
/// keep the system's malloc.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
