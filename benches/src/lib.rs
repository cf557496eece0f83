//! Criterion benchmarks of the Registryo crates; see the `benches/` folder.

/// Whether criterion measures (`cargo bench` passes `--bench`), rather than `cargo test`
/// checking that a bench runs: a bench with a big setup makes it small when not measuring.
pub fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}
