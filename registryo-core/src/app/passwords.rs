//! argon2id verification on a small pool of threads that each keep their memory.
//!
//! argon2id with the crate's defaults fills 19 MiB per verification. Verifying on the async
//! executor would stall it, and verifying on tokio's blocking pool lets every new blocking
//! thread allocate (and the allocator keep) its own 19 MiB. Here one thread per core owns one
//! buffer, allocated on first use and reused by every verification, so concurrent checks are
//! capped at the core count and the memory stays fixed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::{Receiver, Sender, channel};

use argon2::password_hash::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// The most memory one verification may use (a stored hash asking for more is refused).
const MAX_BLOCKS: usize = 256 * 1024; // 256 MiB

struct Job {
    hash: String,
    password: String,
    reply: tokio::sync::oneshot::Sender<bool>,
}

/// A pool of verification threads; cheap to clone.
#[derive(Clone)]
pub struct PasswordPool {
    tx: Sender<Job>,
    count: Arc<AtomicU64>,
}

impl std::fmt::Debug for PasswordPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordPool").finish_non_exhaustive()
    }
}

impl PasswordPool {
    /// A pool of `threads` threads (at least one). Fails only if the system refuses threads.
    pub fn new(threads: usize) -> std::io::Result<PasswordPool> {
        let (tx, rx) = channel::<Job>(1024);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || worker(&rx))?;
        }
        Ok(PasswordPool {
            tx,
            count: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Whether `password` matches the PHC string `hash`. A malformed hash never matches.
    pub async fn verify(&self, hash: String, password: String) -> bool {
        self.count.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job {
            hash,
            password,
            reply,
        };
        self.tx.send(job).await.is_ok() && answer.await.unwrap_or(false)
    }
}

impl PasswordPool {
    /// How many verifications were asked of the pool so far.
    pub fn verifications(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

fn worker(rx: &Mutex<Receiver<Job>>) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = {
            let Ok(mut guard) = rx.lock() else { return };
            match guard.blocking_recv() {
                Some(job) => job,
                None => return,
            }
        };
        let ok = verify_with(&mut memory, &job.hash, job.password.as_bytes());
        let _ = job.reply.send(ok);
    }
}

/// Verify with a caller-owned buffer, grown once to the size the hash asks for.
pub fn verify_with(memory: &mut Vec<Block>, hash: &str, password: &[u8]) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version {
        Some(v) => match Version::try_from(v) {
            Ok(v) => v,
            Err(_) => return false,
        },
        None => Version::default(),
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let blocks = params.block_count();
    if blocks > MAX_BLOCKS {
        return false;
    }
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut out = [0u8; 64];
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params);
    if argon
        .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
        .is_err()
    {
        return false;
    }
    // `Output`'s equality is constant-time.
    Output::new(out).is_ok_and(|o| o == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::accounts::hash_password_blocking;

    #[test]
    fn verifies_like_the_argon2_crate() {
        let hash = hash_password_blocking("correct horse").unwrap();
        let mut mem = Vec::new();
        assert!(verify_with(&mut mem, &hash, b"correct horse"));
        assert!(!verify_with(&mut mem, &hash, b"correct horsE"));
        assert!(!verify_with(&mut mem, &hash, b""));
        assert!(!verify_with(&mut mem, "not a hash", b"x"));
        assert!(!verify_with(
            &mut mem,
            "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$",
            b"x"
        ));
        // The buffer is reused, not regrown.
        let len = mem.len();
        assert!(verify_with(&mut mem, &hash, b"correct horse"));
        assert_eq!(mem.len(), len);
    }

    #[test]
    fn refuses_hashes_asking_for_too_much_memory() {
        let mut mem = Vec::new();
        // m = 4 GiB: refused before allocating.
        let huge =
            "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA";
        assert!(!verify_with(&mut mem, huge, b"x"));
        assert!(mem.is_empty());
    }

    #[tokio::test]
    async fn pool_answers() {
        let pool = PasswordPool::new(2).unwrap();
        let hash = hash_password_blocking("pw-123456").unwrap();
        let (a, b) = tokio::join!(
            pool.verify(hash.clone(), "pw-123456".into()),
            pool.verify(hash, "nope".into())
        );
        assert!(a);
        assert!(!b);
    }
}
