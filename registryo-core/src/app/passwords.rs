//! argon2id hashing and verification on a small pool of threads that each keep their memory.
//!
//! argon2id with the crate's defaults fills 19 MiB per hash or verification. Doing that on the
//! async executor would stall it, and on tokio's blocking pool lets every new blocking thread
//! allocate its own 19 MiB, which glibc's allocator then keeps (50 accounts created at once
//! grew the server from 35 to over 600 MiB for good). Here one thread per core works at a
//! time with one buffer, allocated on first use and reused by every later hash and
//! verification (the buffers of idle threads wait in a shared spare list), so concurrent work
//! is capped at the core count and the memory is fixed; once no work came for
//! [`KEEP_MEMORY_FOR`], the spare buffers are freed, so a burst leaves nothing behind.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::telemetry::PoolMetrics;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// The most memory one verification may use (a stored hash asking for more is refused).
const MAX_BLOCKS: usize = 256 * 1024; // 256 MiB

/// A thread that had no work for this long frees its buffer.
pub const KEEP_MEMORY_FOR: Duration = Duration::from_secs(10);

enum Task {
    Verify {
        hash: String,
        reply: tokio::sync::oneshot::Sender<bool>,
    },
    Hash {
        reply: tokio::sync::oneshot::Sender<Result<String, String>>,
    },
}

struct Job {
    password: String,
    task: Task,
}

/// A pool of argon2id threads; cheap to clone.
#[derive(Clone)]
pub struct PasswordPool {
    tx: Sender<Job>,
    count: Arc<AtomicU64>,
    metrics: PoolMetrics,
}

impl std::fmt::Debug for PasswordPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordPool").finish_non_exhaustive()
    }
}

impl PasswordPool {
    /// A pool of `threads` threads (at least one). Fails only if the system refuses threads.
    /// Its queue length and the time of each job are recorded ([`crate::telemetry`]) to the
    /// recorder installed when it is made, if any.
    pub fn new(threads: usize) -> std::io::Result<PasswordPool> {
        let (tx, rx) = channel::<Job>();
        let metrics = PoolMetrics::new();
        let shared = Arc::new(Shared {
            rx: Mutex::new(rx),
            spare: Mutex::new(Vec::new()),
            metrics: metrics.clone(),
        });
        for i in 0..threads.max(1) {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || worker(&shared))?;
        }
        Ok(PasswordPool {
            tx,
            count: Arc::new(AtomicU64::new(0)),
            metrics,
        })
    }

    /// Whether `password` matches the PHC string `hash`. A malformed hash never matches.
    pub async fn verify(&self, hash: String, password: String) -> bool {
        self.count.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job {
            password,
            task: Task::Verify { hash, reply },
        };
        self.send(job) && answer.await.unwrap_or(false)
    }

    /// Hash `password` with argon2id, the crate's default parameters and a random salt: a
    /// PHC string. Fails without randomness, or if the pool's threads are gone.
    pub async fn hash(&self, password: String) -> Result<String, String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job {
            password,
            task: Task::Hash { reply },
        };
        if !self.send(job) {
            return Err("the hashing threads are gone".to_owned());
        }
        answer
            .await
            .map_err(|_| "the hashing thread failed".to_owned())?
    }

    /// Queue a job, counted in the queue's length until a thread takes it.
    fn send(&self, job: Job) -> bool {
        self.metrics.queue.increment(1.0);
        let sent = self.tx.send(job).is_ok();
        if !sent {
            self.metrics.queue.decrement(1.0);
        }
        sent
    }

    /// How many verifications were asked of the pool so far.
    pub fn verifications(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// What the threads share: the queue, and the buffers of the threads not working.
struct Shared {
    rx: Mutex<Receiver<Job>>,
    spare: Mutex<Vec<Vec<Block>>>,
    metrics: PoolMetrics,
}

fn worker(shared: &Shared) {
    loop {
        let job = {
            let Ok(rx) = shared.rx.lock() else { return };
            match rx.recv_timeout(KEEP_MEMORY_FOR) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    // Nothing came for that long: every thread is idle, its buffer spare.
                    drop(rx);
                    if let Ok(mut spare) = shared.spare.lock() {
                        spare.clear();
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        shared.metrics.queue.decrement(1.0);
        let mut memory = shared
            .spare
            .lock()
            .ok()
            .and_then(|mut s| s.pop())
            .unwrap_or_default();
        let started = Instant::now();
        match job.task {
            Task::Verify { hash, reply } => {
                let matches = verify_with(&mut memory, &hash, job.password.as_bytes());
                shared
                    .metrics
                    .verify
                    .record(started.elapsed().as_secs_f64());
                let _ = reply.send(matches);
            }
            Task::Hash { reply } => {
                let hashed = hash_with(&mut memory, job.password.as_bytes());
                shared.metrics.hash.record(started.elapsed().as_secs_f64());
                let _ = reply.send(hashed);
            }
        }
        if let Ok(mut spare) = shared.spare.lock() {
            spare.push(memory);
        }
    }
}

/// Hash with a caller-owned buffer: what `Argon2::default().hash_password` makes (argon2id,
/// v19, the default parameters, a 16-byte random salt), without allocating its memory.
pub fn hash_with(memory: &mut Vec<Block>, password: &[u8]) -> Result<String, String> {
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| "no randomness".to_owned())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    let params = Params::default();
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut salt_buf)
        .map_err(|e| e.to_string())?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    argon
        .hash_password_into_with_memory(password, salt_bytes, &mut out, &mut memory[..blocks])
        .map_err(|e| e.to_string())?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| e.to_string())?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(phc.to_string())
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

    #[test]
    fn hashes_like_the_argon2_crate() {
        use argon2::password_hash::PasswordVerifier;
        let mut mem = Vec::new();
        let ours = hash_with(&mut mem, b"correct horse").unwrap();
        let theirs = hash_password_blocking("correct horse").unwrap();
        // Same algorithm, version and parameters; another salt.
        let head = |h: &str| h.rsplitn(3, '$').nth(2).unwrap().to_owned();
        assert_eq!(head(&ours), head(&theirs));
        assert_ne!(ours, hash_with(&mut mem, b"correct horse").unwrap());
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(verify_with(&mut mem, &ours, b"correct horse"));
        assert!(!verify_with(&mut mem, &ours, b"correct horsE"));
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
        let made = pool.hash("another-pw".into()).await.unwrap();
        assert!(pool.verify(made, "another-pw".into()).await);
    }
}
