//! SQL storage for Registryo (filled by the server issue).
#![deny(missing_docs)]
