//! Runnable examples of the Registryo crates; see the `examples/` folder.
