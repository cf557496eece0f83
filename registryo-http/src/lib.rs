//! The axum web layer and UI of Registryo (filled by the UI issue).
#![deny(missing_docs)]
