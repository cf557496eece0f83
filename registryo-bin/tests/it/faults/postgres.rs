//! A PostgreSQL outage: the server reaches its database through a TCP proxy in the test,
//! which the test cuts (every open connection dropped, new ones accepted but never answered:
//! the worst case, a database that does not answer) and restores.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use super::{ADMIN_PASSWORD, Answer, LOOK_EVERY, Server, answer, client, healthz, not_run};
use crate::support::cookies::{set_cookie, sign_in as sign_in_with};
use crate::support::until;

const POSTGRES_ENV: &str = "REGISTRYO_TEST_POSTGRES_URL";

/// A fresh database on the test server, dropped at the end.
struct ThrowawayDb {
    admin_url: String,
    name: String,
}

impl ThrowawayDb {
    async fn create(admin_url: &str) -> ThrowawayDb {
        use sqlx::Connection;
        let name = format!("registryo_faults_{}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_ENV} is set but unreachable: {e}"));
        for sql in [
            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            format!("CREATE DATABASE \"{name}\""),
        ] {
            sqlx::query(&sql).execute(&mut admin).await.unwrap();
        }
        admin.close().await.unwrap();
        ThrowawayDb {
            admin_url: admin_url.to_owned(),
            name,
        }
    }

    /// Its URL, through `proxy` instead of the server's own address.
    fn url_via(&self, proxy: SocketAddr) -> String {
        let mut url = reqwest::Url::parse(&self.admin_url).unwrap();
        url.set_ip_host(proxy.ip()).unwrap();
        url.set_port(Some(proxy.port())).unwrap();
        url.set_path(&format!("/{}", self.name));
        url.to_string()
    }

    async fn drop_it(self) {
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(&self.admin_url).await.unwrap();
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        ))
        .execute(&mut admin)
        .await
        .unwrap();
        admin.close().await.unwrap();
    }
}

#[derive(Default)]
struct ProxyState {
    down: bool,
    links: Vec<AbortHandle>,
    /// Connections accepted while down: held open, never answered.
    parked: Vec<TcpStream>,
}

/// A TCP proxy to the database that the test can cut.
struct Proxy {
    addr: SocketAddr,
    state: Arc<Mutex<ProxyState>>,
    accept: AbortHandle,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(ProxyState::default()));
        let shared = Arc::clone(&state);
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut st = shared.lock().unwrap();
                if st.down {
                    st.parked.push(client);
                    continue;
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                st.links.push(link.abort_handle());
            }
        })
        .abort_handle();
        Proxy {
            addr,
            state,
            accept,
        }
    }

    /// The outage: every open connection is dropped, new ones hang.
    fn cut(&self) {
        let mut st = self.state.lock().unwrap();
        st.down = true;
        for link in st.links.drain(..) {
            link.abort();
        }
    }

    /// The database is back.
    fn restore(&self) {
        let mut st = self.state.lock().unwrap();
        st.down = false;
        st.parked.clear();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// Signs in to the web UI; returns the `Cookie` header of the session.
async fn sign_in(s: &Server) -> String {
    let resp = sign_in_with(&client(), &s.url(""), "admin", ADMIN_PASSWORD, &[]).await;
    assert_eq!(resp.status().as_u16(), 303, "signed in");
    let session = set_cookie(&resp, "registryo_session").expect("a session cookie");
    format!("registryo_session={session}")
}

async fn ui_home(s: &Server, cookie: &str) -> Answer {
    answer(client().get(s.url("/")).header("cookie", cookie)).await
}

async fn api_users(s: &Server) -> Answer {
    answer(
        client()
            .get(s.url("/api/v1/users"))
            .basic_auth("admin", Some(ADMIN_PASSWORD)),
    )
    .await
}

/// During an outage the UI, the API and `/healthz` answer 503 with `Retry-After` after a
/// short, configurable wait (`database_timeout_secs`); once the database is back, everything
/// answers again without a restart. Outcomes are counted; nothing is timed. (Before: 500s
/// after a fixed 10 s wait.) The admin commands do not initialise an empty database either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_is_a_503_with_retry_after_and_service_resumes() {
    let case = "a_postgres_outage_is_a_503_with_retry_after_and_service_resumes";
    let admin_url = match std::env::var(POSTGRES_ENV) {
        Ok(u) if !u.trim().is_empty() => u,
        _ => return not_run(case, &format!("{POSTGRES_ENV} is not set")),
    };
    let upstream = {
        let url = reqwest::Url::parse(&admin_url).unwrap();
        let host = url.host_str().unwrap().to_owned();
        tokio::net::lookup_host((host.as_str(), url.port().unwrap_or(5432)))
            .await
            .unwrap()
            .next()
            .unwrap()
    };
    let db = ThrowawayDb::create(&admin_url).await;
    let proxy = Proxy::start(upstream).await;
    let url = db.url_via(proxy.addr);
    let scratch = tempfile::tempdir().unwrap();
    let env = [
        ("REGISTRYO_DATABASE_URL", url.as_str()),
        ("REGISTRYO_DATABASE_TIMEOUT_SECS", "2"),
    ];

    // An empty database is not initialised by an admin command.
    let out = super::run(super::registryo(scratch.path(), &env), &["user", "list"]);
    let err = super::text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("no Registryo database at") && err.contains("--init"),
        "{err}"
    );

    let mut server = super::started(super::registryo(scratch.path(), &env));
    let cookie = sign_in(&server).await;
    assert_eq!(healthz(&server).await.status, 200);
    assert_eq!(api_users(&server).await.status, 200);
    assert_eq!(ui_home(&server, &cookie).await.status, 200);

    proxy.cut();
    // /healthz reuses a probe for up to a second: the first answers may predate the cut.
    until("/healthz reports the outage", 40, LOOK_EVERY, || async {
        healthz(&server).await.is_unavailable()
    })
    .await;
    let mut answers = Vec::new();
    for _ in 0..2 {
        let (h, a, u) = tokio::join!(
            healthz(&server),
            api_users(&server),
            ui_home(&server, &cookie)
        );
        answers.extend([("healthz", h), ("api", a), ("ui", u)]);
    }
    let unavailable = answers.iter().filter(|(_, a)| a.is_unavailable()).count();
    assert_eq!(
        unavailable,
        answers.len(),
        "all 503 + Retry-After: {answers:#?}"
    );
    for (what, a) in &answers {
        let says = match *what {
            "api" => a.json()["error"]["message"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            "healthz" => a.json()["reason"].as_str().unwrap_or("").to_owned(),
            _ => a.body.clone(),
        };
        assert!(says.contains("unavailable"), "{what}: {says}");
    }

    proxy.restore();
    until(
        "the server answers again once the database is back",
        120,
        LOOK_EVERY,
        || async {
            let (h, a, u) = tokio::join!(
                healthz(&server),
                api_users(&server),
                ui_home(&server, &cookie)
            );
            [h.status, a.status, u.status] == [200, 200, 200]
        },
    )
    .await;
    server.assert_running();
    drop(server);
    drop(proxy);
    db.drop_it().await;
}
