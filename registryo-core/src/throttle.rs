//! Guessing limits: how many wrong passwords an account takes before it answers "wait".
//!
//! Every password check — `GET /token` with Basic, `POST /token` with `grant_type=password`,
//! the admin API's Basic, the sign-in form — counts its failures per account (the username
//! folded to lower case, known or not) and client address, in buckets of one minute. Two
//! limits apply, both over the current and the previous minute:
//!
//! - **per account and address** ([`GuessLimits::per_account_and_address`], default 10): one
//!   client guessing one account;
//! - **per account** ([`GuessLimits::per_account`], default 100): many clients guessing one
//!   account. It does not apply at the account's *usual* addresses (where it signed in with
//!   the right password before), so an attacker elsewhere cannot lock the owner out.
//!
//! Past a limit a check is refused without looking at the password (HTTP 429 with
//! `Retry-After`), so a guess past the limit tells nothing. [`GuessLimits::judge`] is the
//! decision; counting and storing the failures is the caller's.
//!
//! ```
//! use registryo_core::throttle::{Failures, GuessLimits, Verdict};
//!
//! let limits = GuessLimits::default();
//! let now = 1_000_000_000; // unix seconds
//! let mut seen = Failures::default();
//! seen.pair_current = 10;
//! assert!(matches!(limits.judge(&seen, false, now), Verdict::Throttled { .. }));
//! seen.pair_current = 3;
//! seen.account_current = 150;
//! assert!(matches!(limits.judge(&seen, false, now), Verdict::Throttled { .. }));
//! assert_eq!(limits.judge(&seen, true, now), Verdict::Allowed); // the owner's usual address
//! ```

use std::time::Duration;

/// The length of a bucket, in seconds.
pub const BUCKET_SECS: i64 = 60;

/// The bucket (minute) a unix time falls in.
pub fn bucket(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(BUCKET_SECS)
}

/// The limits; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuessLimits {
    /// Failures one address may make on one account within the window (0: no limit).
    pub per_account_and_address: u32,
    /// Failures all addresses together may make on one account within the window (not
    /// applied at the account's usual addresses; 0: no limit).
    pub per_account: u32,
}

impl Default for GuessLimits {
    fn default() -> GuessLimits {
        GuessLimits {
            per_account_and_address: 10,
            per_account: 100,
        }
    }
}

/// Failures counted for one account: from the request's address (`pair_*`) and from every
/// address (`account_*`, the pair's included), in the current and the previous bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failures {
    /// From this address, in the current minute.
    pub pair_current: u64,
    /// From this address, in the previous minute.
    pub pair_previous: u64,
    /// From every address, in the current minute.
    pub account_current: u64,
    /// From every address, in the previous minute.
    pub account_previous: u64,
}

impl Failures {
    /// The same counts with one more failure from this address, now.
    pub fn plus_one(mut self) -> Failures {
        self.pair_current += 1;
        self.account_current += 1;
        self
    }
}

/// What [`GuessLimits::judge`] decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Check the password.
    Allowed,
    /// Refuse without checking; try again after this long.
    Throttled {
        /// How long until the limit no longer holds (at least one second).
        retry_after: Duration,
        /// Whether the per-account limit (rather than the per-address one) holds.
        account_wide: bool,
    },
}

impl GuessLimits {
    /// Whether a check may go ahead, given what was counted; `usual` says the request comes
    /// from one of the account's usual addresses. `now` is unix seconds.
    pub fn judge(&self, f: &Failures, usual: bool, now: i64) -> Verdict {
        let pair = over(
            f.pair_current,
            f.pair_previous,
            self.per_account_and_address,
            now,
        );
        let account = if usual {
            None
        } else {
            over(f.account_current, f.account_previous, self.per_account, now)
        };
        match (pair, account) {
            (None, None) => Verdict::Allowed,
            (p, a) => Verdict::Throttled {
                retry_after: p.max(a).unwrap_or(Duration::from_secs(1)),
                account_wide: a.is_some() && a >= p,
            },
        }
    }
}

/// `Some(wait)` when `current + previous` reaches `limit`: the wait is until the previous
/// bucket drops out of the window, or the current one too when it reaches the limit alone.
/// A limit of 0 is no limit.
fn over(current: u64, previous: u64, limit: u32, now: i64) -> Option<Duration> {
    let limit = u64::from(limit);
    if limit == 0 || current + previous < limit {
        return None;
    }
    let next = (bucket(now) + 1) * BUCKET_SECS;
    let until = if current >= limit {
        next + BUCKET_SECS
    } else {
        next
    };
    let secs = u64::try_from(until - now).unwrap_or(1).max(1);
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_700_000_000; // a bucket boundary: 1_700_000_000 / 60 = 28_333_333.33…
    fn at(secs_into_minute: i64) -> i64 {
        bucket(T) * BUCKET_SECS + secs_into_minute
    }

    fn f(pc: u64, pp: u64, ac: u64, ap: u64) -> Failures {
        Failures {
            pair_current: pc,
            pair_previous: pp,
            account_current: ac,
            account_previous: ap,
        }
    }

    #[test]
    fn below_the_limits_is_allowed() {
        let l = GuessLimits::default();
        assert_eq!(l.judge(&f(0, 0, 0, 0), false, at(0)), Verdict::Allowed);
        assert_eq!(l.judge(&f(5, 4, 99, 0), false, at(30)), Verdict::Allowed);
    }

    #[test]
    fn the_pair_limit_counts_two_buckets() {
        let l = GuessLimits::default();
        // 6 + 4 = 10 reaches the limit; the previous bucket leaves at the next minute.
        assert_eq!(
            l.judge(&f(6, 4, 10, 4), false, at(45)),
            Verdict::Throttled {
                retry_after: Duration::from_secs(15),
                account_wide: false
            }
        );
        // 10 in the current bucket alone: wait until it leaves too.
        assert_eq!(
            l.judge(&f(10, 0, 10, 0), false, at(45)),
            Verdict::Throttled {
                retry_after: Duration::from_secs(75),
                account_wide: false
            }
        );
        // The usual address makes no difference to the pair limit.
        assert!(matches!(
            l.judge(&f(10, 0, 10, 0), true, at(45)),
            Verdict::Throttled { .. }
        ));
    }

    #[test]
    fn the_account_limit_spares_usual_addresses() {
        let l = GuessLimits::default();
        let many = f(0, 0, 60, 40);
        assert_eq!(
            l.judge(&many, false, at(10)),
            Verdict::Throttled {
                retry_after: Duration::from_secs(50),
                account_wide: true
            }
        );
        assert_eq!(l.judge(&many, true, at(10)), Verdict::Allowed);
    }

    #[test]
    fn plus_one_counts_now() {
        let l = GuessLimits::default();
        let nine = f(9, 0, 9, 0);
        assert_eq!(l.judge(&nine, false, at(1)), Verdict::Allowed);
        assert!(matches!(
            l.judge(&nine.plus_one(), false, at(1)),
            Verdict::Throttled { .. }
        ));
    }

    #[test]
    fn buckets_are_minutes() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(59), 0);
        assert_eq!(bucket(60), 1);
        assert_eq!(bucket(-1), -1);
    }

    #[test]
    fn a_zero_limit_is_no_limit() {
        let l = GuessLimits {
            per_account_and_address: 0,
            per_account: 0,
        };
        assert_eq!(
            l.judge(&f(1000, 1000, 5000, 5000), false, at(59)),
            Verdict::Allowed
        );
    }

    #[test]
    fn the_wait_is_at_least_a_second() {
        let l = GuessLimits::default();
        // One second before the minute ends, the previous bucket leaves in one second.
        assert_eq!(
            l.judge(&f(5, 5, 10, 5), false, at(59)),
            Verdict::Throttled {
                retry_after: Duration::from_secs(1),
                account_wide: false
            }
        );
    }
}
