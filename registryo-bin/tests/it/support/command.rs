//! Programs run to their end: `stdin` written (then closed), both outputs captured, and killed
//! after [`COMMAND_TIMEOUT`] so that no test hangs on a client that never returns.
//!
//! [`run`] is for the end-to-end tests' clients (docker, podman, skopeo, …): what they printed,
//! as text, and whether they were killed. [`output`] is the same as a [`std::process::Output`],
//! for the `registryo` CLI (which never has to be killed: it panics if it was).

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// How long one command may take (a push of a tiny image takes about a second).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(180);

/// What a finished command printed.
#[derive(Debug)]
pub struct Out {
    /// The command, as `Debug` prints it.
    pub what: String,
    /// `None`: killed after [`COMMAND_TIMEOUT`].
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    pub fn describe(&self) -> String {
        let status = match self.status {
            Some(s) => s.to_string(),
            None => format!("killed after {COMMAND_TIMEOUT:?}"),
        };
        format!(
            "{}\n  status: {status}\n  stdout:\n{}\n  stderr:\n{}",
            self.what, self.stdout, self.stderr
        )
    }

    /// Panics, with everything the command printed, unless it succeeded.
    #[track_caller]
    pub fn ok(self) -> Out {
        assert!(self.success(), "command failed: {}", self.describe());
        self
    }

    /// Panics unless the command failed and its stderr holds `needle`.
    #[track_caller]
    pub fn fails_with(self, needle: &str) -> Out {
        assert!(
            !self.success(),
            "command should have failed: {}",
            self.describe()
        );
        assert!(
            self.stderr.contains(needle) || self.stdout.contains(needle),
            "command failed, but without {needle:?}: {}",
            self.describe()
        );
        self
    }
}

/// Runs `cmd` with `stdin` (killed after [`COMMAND_TIMEOUT`]): what it printed, as text.
pub fn run(cmd: Command, stdin: Option<&str>) -> Out {
    let (what, status, stdout, stderr) = finish(cmd, stdin);
    Out {
        what,
        status,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Runs `cmd` with `stdin`, which must end by itself within [`COMMAND_TIMEOUT`].
pub fn output(cmd: Command, stdin: Option<&str>) -> Output {
    let (what, status, stdout, stderr) = finish(cmd, stdin);
    let status = status.unwrap_or_else(|| {
        panic!(
            "{what}: killed after {COMMAND_TIMEOUT:?}\n{}\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        )
    });
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Runs `cmd` to its end, or kills it after [`COMMAND_TIMEOUT`] (status `None`): the command's
/// description, its status and both outputs.
fn finish(mut cmd: Command, stdin: Option<&str>) -> (String, Option<ExitStatus>, Vec<u8>, Vec<u8>) {
    let what = format!("{cmd:?}");
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.unwrap_or_default().to_owned();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(input.as_bytes());
    });
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out = reader(Box::new(child.stdout.take().unwrap()));
    let err = reader(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = writer.join();
    (what, status, out.join().unwrap(), err.join().unwrap())
}
