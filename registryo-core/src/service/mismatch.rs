//! The warning for a token request naming another service: a registry whose
//! `auth.token.service` differs from this server's `service` setting. Its clients show only
//! "400 (Bad Request)" (`../shared/PROTOCOL.md` §6b), so the reason reaches the person through
//! the server's log — once per wrong name per minute, so that a client repeating the request
//! (or a hostile one sending a new name each time) cannot flood the log.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a wrong service name, once logged, stays quiet.
pub(super) const WINDOW: Duration = Duration::from_secs(60);
/// The most distinct wrong names logged one by one in a window; past that one line says so.
pub(super) const MAX_NAMES: usize = 16;

/// What to log for one more request naming a wrong service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Note {
    /// The first time in this window: the warning.
    Warn,
    /// Too many distinct names this window: one line saying the rest are not logged.
    Overflow,
    /// Logged already in this window.
    Quiet,
}

/// The wrong names logged in the current window.
#[derive(Debug)]
pub(super) struct Mismatches {
    state: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    names: HashSet<String>,
    overflowed: bool,
}

impl Default for Mismatches {
    fn default() -> Mismatches {
        Mismatches {
            state: Mutex::new(Window {
                started: Instant::now(),
                names: HashSet::new(),
                overflowed: false,
            }),
        }
    }
}

impl Mismatches {
    /// A request at `now` named the service `asked` (already clipped).
    pub(super) fn note(&self, asked: &str, now: Instant) -> Note {
        let mut w = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if now.saturating_duration_since(w.started) >= WINDOW {
            w.started = now;
            w.names.clear();
            w.overflowed = false;
        }
        if w.names.contains(asked) {
            Note::Quiet
        } else if w.names.len() < MAX_NAMES {
            w.names.insert(asked.to_owned());
            Note::Warn
        } else if !w.overflowed {
            w.overflowed = true;
            Note::Overflow
        } else {
            Note::Quiet
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_name_per_minute_and_a_bounded_number_of_names() {
        let m = Mismatches::default();
        let t0 = Instant::now();
        assert_eq!(m.note("other", t0), Note::Warn);
        assert_eq!(m.note("other", t0 + Duration::from_secs(1)), Note::Quiet);
        assert_eq!(m.note("third", t0 + Duration::from_secs(2)), Note::Warn);
        for i in 2..MAX_NAMES {
            assert_eq!(m.note(&format!("n{i}"), t0), Note::Warn, "{i}");
        }
        assert_eq!(m.note("one-too-many", t0), Note::Overflow);
        assert_eq!(m.note("and-another", t0), Note::Quiet);
        assert_eq!(m.note("other", t0 + Duration::from_secs(59)), Note::Quiet);
        // A new minute: each name once more.
        let t1 = t0 + WINDOW;
        assert_eq!(m.note("other", t1), Note::Warn);
        assert_eq!(m.note("one-too-many", t1), Note::Warn);
        assert_eq!(m.note("other", t1), Note::Quiet);
    }
}
