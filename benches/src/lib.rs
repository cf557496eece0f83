//! Criterion benchmarks of the Registryo crates; see the `benches/` folder.
