//! The `registryo` binary, run for real: a command with a clean environment, and `serve` on
//! port 0 (its address read from the line it prints). CLI commands run to their end with
//! [`super::command::output`].

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `registryo` binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_registryo");

/// Gives `cmd` a clean environment (only `PATH`, and the tests' service and issuer:
/// `registry.test`, `registryo-test`) and `cwd` as its folder, so that no `registryo.toml` or
/// `REGISTRYO_*` variable of the machine applies.
pub fn clean_env<'c>(cmd: &'c mut Command, cwd: &Path) -> &'c mut Command {
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("REGISTRYO_SERVICE", "registry.test")
        .env("REGISTRYO_ISSUER", "registryo-test")
        .current_dir(cwd)
}

/// `registryo` with a [clean environment](clean_env), run from `cwd`.
pub fn registryo(cwd: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    clean_env(&mut cmd, cwd);
    cmd
}

/// The default directory of the public certificate bundle: beside the data directory, named
/// after it with `-public`.
pub fn public_dir(data: &Path) -> PathBuf {
    let mut name = data.as_os_str().to_owned();
    name.push("-public");
    name.into()
}

/// A running `registryo serve`; killed when dropped, and then, if a test failed, its standard
/// error printed.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// Standard output up to the "listening" line, that line included (the log goes there).
    pub lines: Vec<String>,
    /// Standard output after that line (the log), read as it comes, at most [`LOG_LINES`].
    log: Arc<Mutex<Vec<String>>>,
    /// Standard error, read as it comes.
    stderr: Arc<Mutex<Vec<u8>>>,
    /// The data directory, when the server has one of its own (see [`Server::owning`]).
    data: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(data) = &self.data {
            let _ = std::fs::remove_dir_all(public_dir(data.path()));
        }
        if std::thread::panicking() {
            let err = self
                .stderr
                .lock()
                .map(|s| String::from_utf8_lossy(&s).into_owned())
                .unwrap_or_default();
            if !err.is_empty() {
                eprintln!("--- registryo serve's standard error ---\n{err}");
            }
        }
    }
}

/// Starts `cmd serve --listen 127.0.0.1:0` (`cmd` is `registryo` with its environment, or a
/// wrapper that runs it with its arguments): the server once it listens, or everything it
/// printed when it exited instead.
#[allow(clippy::zombie_processes)] // the child is waited for here on exit, else by Server's Drop
pub fn serve(mut cmd: Command) -> Result<Server, String> {
    let mut child = cmd
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let mut pipe = child.stderr.take().unwrap();
    let sink = Arc::clone(&stderr);
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            let status = child.wait().unwrap();
            let _ = reader.join();
            let err = String::from_utf8_lossy(&stderr.lock().unwrap()).into_owned();
            return Err(format!("{status}\n{}\n{err}", lines.join("\n")));
        }
        let line = line.trim_end().to_owned();
        let listening = line
            .strip_prefix("registryo listening on http://")
            .or_else(|| line.strip_prefix("registryo listening on https://"));
        if let Some(rest) = listening {
            let addr = rest.parse().unwrap();
            lines.push(line);
            // Keep draining standard output so the server never blocks on a full pipe, and
            // keep the first lines of the log for the tests that read it.
            let log = Arc::new(Mutex::new(Vec::new()));
            let kept = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in out.lines().map_while(Result::ok) {
                    let mut kept = kept.lock().unwrap();
                    if kept.len() < LOG_LINES {
                        kept.push(line);
                    }
                }
            });
            return Ok(Server {
                child,
                addr,
                lines,
                log,
                stderr,
                data: None,
            });
        }
        lines.push(line);
    }
}

/// The most log lines a [`Server`] keeps (the rest are read and dropped).
pub const LOG_LINES: usize = 100_000;

/// [`serve`], which must start.
pub fn started(cmd: Command) -> Server {
    serve(cmd).unwrap_or_else(|out| panic!("serve did not start: {out}"))
}

/// What [`serve`] printed when it refused to start (it must not start).
pub fn refused(cmd: Command) -> String {
    match serve(cmd) {
        Ok(s) => panic!("serve started on http://{} but should refuse", s.addr),
        Err(out) => out,
    }
}

impl Server {
    /// The server owns `data`, its data directory: removed (with the bundle directory beside
    /// it) when the server is dropped.
    pub fn owning(mut self, data: tempfile::TempDir) -> Server {
        self.data = Some(data);
        self
    }

    /// The data directory the server owns.
    pub fn data(&self) -> &Path {
        self.data
            .as_ref()
            .expect("a server with its own data")
            .path()
    }

    /// The log lines printed since the server listens, so far (at most [`LOG_LINES`]).
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// `http://ADDR/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `GET PATH` of the admin API as `admin` with `password`: the answer's JSON.
    pub async fn admin_api(&self, path: &str, password: &str) -> serde_json::Value {
        reqwest::Client::new()
            .get(self.url(path))
            .basic_auth("admin", Some(password))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    /// The exit status, if the process ends within `deadline`.
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Still the same process: it was never restarted.
    pub fn assert_running(&mut self) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the server exited"
        );
    }
}
