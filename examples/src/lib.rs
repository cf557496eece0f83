//! Runnable examples of the Registryo crates live in `examples/examples/`; each opens with how
//! to run it.
