//! The token endpoint, `GET` and `POST /token`, as a tower [`Service`].
//!
//! [`TokenService`] speaks distribution's token protocol over plain [`http`] types, so it mounts
//! in any tower-based server (hyper, axum, …). It depends only on what the caller supplies:
//!
//! - an [`Authenticator`] that checks a username and password,
//! - [`RefreshTokens`] that issues and resolves long-lived refresh tokens (docker's identity
//!   tokens),
//! - a [`PolicySource`] that says what a principal is granted,
//! - a [`TokenSigner`] that signs the claims (a [`KeySet`]).
//!
//! [`MemoryBackend`](crate::memory::MemoryBackend) implements the first three in memory.
//!
//! # What it answers
//! - `GET /token?service=S&scope=…&scope=…&account=U&client_id=C&offline_token=true` with HTTP
//!   Basic credentials, or none for an anonymous request. The reply holds `token` and
//!   `access_token` (the same JWT), `expires_in`, `issued_at` and, when `offline_token=true` and
//!   the caller signed in, a `refresh_token`.
//! - `POST /token`, form-encoded (OAuth2): `grant_type=password` with `username` and `password`
//!   (a `refresh_token` too when `access_type=offline`), or `grant_type=refresh_token`. The
//!   reply holds `access_token`, `token`, `scope`, `expires_in` and `issued_at`.
//! - The grant is the intersection of what was asked and what the policy allows: a partial or
//!   empty grant is a `200`.
//! - Bad credentials: `401` with a `Basic` challenge and a Docker error envelope; malformed
//!   scopes, queries, forms and headers: `400` with a message that says what is wrong; other
//!   methods: `405`; a backend that fails: `503`. Nothing a client sends produces a `500`.
//!
//! # Code map
//! Here: the settings, the backend traits and the service with the flow of a request
//! (`respond`); `request` (reading the query, the form, Basic credentials, scopes), `error`
//! (every refusal and its status: the one place), `reuse` (handing a recent token out again).
//!
//! # Example
//! ```
//! use std::sync::Arc;
//! use registryo_core::acl::{Acl, Rule, Subject};
//! use registryo_core::memory::MemoryBackend;
//! use registryo_core::scope::Actions;
//! use registryo_core::service::{TokenConfig, TokenService};
//! use registryo_core::token::{Algorithm, KeySet, KidStyle, SigningKey};
//! use tower_service::Service;
//!
//! # tokio_test_block_on(async {
//! let backend = MemoryBackend::new();
//! backend.add_user("alice", "s3cret", &[], false);
//! backend.set_acl(Acl::new([Rule::new(
//!     1,
//!     Subject::User("alice".parse().unwrap()),
//!     "alice/**".parse().unwrap(),
//!     Actions::ALL,
//! )
//! .unwrap()]));
//! let keys = KeySet::new(
//!     vec![SigningKey::generate(Algorithm::ES256, "registryo").unwrap()],
//!     KidStyle::Libtrust,
//! )
//! .unwrap();
//! let mut svc = TokenService::new(
//!     Arc::new(backend),
//!     Arc::new(keys),
//!     TokenConfig::new("registryo", "registry.example.com"),
//! );
//! let req = http::Request::get("/token?service=registry.example.com&scope=repository:alice/app:pull")
//!     .header("authorization", "Basic YWxpY2U6czNjcmV0") // alice:s3cret
//!     .body(http_body_util::Empty::<bytes::Bytes>::new())
//!     .unwrap();
//! let resp = svc.call(req).await.unwrap();
//! assert_eq!(resp.status(), 200);
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header;
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;
use tower_service::Service;

use crate::acl::{Acl, Principal};
use crate::names::Username;
use crate::scope::{Actions, Scope, ScopeSet};
use crate::telemetry::{GrantType, Outcome, TokenMetrics};
use crate::time::{rfc3339, unix_now};
use crate::token::{Access, Claims, KeySet, TokenError};

mod error;
mod mismatch;
mod reply;
mod request;
mod reuse;

pub use error::TokenRequestError;
use error::json_response;
pub use request::parse_basic;
use request::{Caller, Grant, clip};
use reuse::{Issued, Reuse, reuse_key};

/// A boxed error, as tower and hyper use for bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Settings of the token endpoint.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// The `iss` claim; the registry's `auth.token.issuer`.
    pub issuer: String,
    /// The `aud` claim; the registry's `auth.token.service`. A request naming another service is
    /// refused.
    pub service: String,
    /// How long an access token lives (default 5 minutes; at least 60 s is sent as
    /// `expires_in`, since clients treat less as 60).
    pub token_ttl: Duration,
    /// The realm of the `Basic` challenge sent with a `401`.
    pub basic_realm: String,
    /// The most scopes one request may ask for (default 64).
    pub max_scopes: usize,
    /// The largest form body accepted by `POST` (default 16 KiB).
    pub max_body_bytes: usize,
    /// The longest query string accepted by `GET` (default 16 KiB).
    pub max_query_bytes: usize,
    /// How long a signed token may be handed out again for an identical grant (same subject,
    /// same access, same policy epoch), instead of signing a new one (default 10 s; zero turns
    /// it off). Clients repeat the same request on every pull; the token handed out again
    /// keeps its `issued_at` and expires at the same time, with `expires_in` counting down.
    pub token_reuse: Duration,
}

impl TokenConfig {
    /// Settings with the defaults for everything but the issuer and the service.
    pub fn new(issuer: impl Into<String>, service: impl Into<String>) -> TokenConfig {
        TokenConfig {
            issuer: issuer.into(),
            service: service.into(),
            token_ttl: Duration::from_secs(300),
            basic_realm: "Registryo".to_owned(),
            max_scopes: 64,
            max_body_bytes: 16 * 1024,
            max_query_bytes: 16 * 1024,
            token_reuse: Duration::from_secs(10),
        }
    }
}

/// The longest username accepted, in bytes.
pub const MAX_USERNAME_BYTES: usize = 255;
/// The longest password or refresh token accepted, in bytes.
pub const MAX_SECRET_BYTES: usize = 1024;

/// The client's address, which a server may put in the request's extensions so that the
/// backend can log and throttle by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// What the backend learns about the request besides the credentials.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The client's address, from a [`ClientAddr`] extension.
    pub remote_addr: Option<SocketAddr>,
    /// The `client_id` the client sent, if any (`docker`, `containerd-client`, …).
    pub client_id: Option<String>,
    /// The `User-Agent` header, when it is valid text.
    pub user_agent: Option<String>,
}

/// A failure of the caller's backend (database down, …): answered with `503`.
#[derive(Debug, thiserror::Error)]
#[error("backend unavailable: {0}")]
pub struct BackendError(pub String);

/// Why [`Authenticator::authenticate`] gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The backend failed: answered with `503`.
    #[error(transparent)]
    Unavailable(#[from] BackendError),
    /// Too many failed attempts for this account from this client: answered with `429` and
    /// `Retry-After`, without the password having been checked (see [`crate::throttle`]).
    #[error("too many failed sign-ins: try again in {} s", .retry_after.as_secs())]
    Throttled {
        /// How long until the client may try again.
        retry_after: Duration,
    },
}

/// Checks a username and password.
pub trait Authenticator: Send + Sync + 'static {
    /// The principal, or `None` when the credentials are wrong, the user unknown or disabled.
    /// An unknown user should cost as much time as a known one. Names are compared without
    /// regard to case ([`crate::names`]); the principal carries the account's own spelling.
    fn authenticate(
        &self,
        username: &Username,
        password: &str,
        ctx: &RequestContext,
    ) -> impl Future<Output = Result<Option<Principal>, AuthError>> + Send;
}

/// Issues and resolves refresh tokens (docker's identity tokens). They must stay valid until
/// revoked: docker never stores a new one after `docker login`.
pub trait RefreshTokens: Send + Sync + 'static {
    /// A new refresh token for a principal that just signed in with a password, or `None` when
    /// none is offered (the reply then has no `refresh_token`).
    fn issue_refresh_token(
        &self,
        principal: &Principal,
        client_id: &str,
        service: &str,
        ctx: &RequestContext,
    ) -> impl Future<Output = Result<Option<String>, BackendError>> + Send;

    /// The principal a refresh token stands for, or `None` when it is unknown, revoked or its
    /// user disabled or removed.
    fn resolve_refresh_token(
        &self,
        token: &str,
        client_id: &str,
        service: &str,
        ctx: &RequestContext,
    ) -> impl Future<Output = Result<Option<Principal>, BackendError>> + Send;
}

/// Says what a principal is granted of a requested scope.
pub trait PolicySource: Send + Sync + 'static {
    /// The granted actions: a subset of `scope.actions()`, with `*` expanded to the explicit
    /// actions for repositories.
    fn grant(&self, principal: &Principal, scope: &Scope) -> Actions;

    /// A number that changes whenever the policy changes; tokens are handed out again only
    /// within one epoch. The default, a constant, suits a policy that never changes.
    fn epoch(&self) -> u64 {
        0
    }
}

impl PolicySource for Acl {
    fn grant(&self, principal: &Principal, scope: &Scope) -> Actions {
        Acl::grant(self, principal, scope)
    }
}

/// Signs the claims of an access token.
pub trait TokenSigner: Send + Sync + 'static {
    /// The compact JWT.
    fn sign(&self, claims: &Claims) -> Result<String, TokenError>;

    /// A number that changes whenever the signing key changes; tokens are handed out again
    /// only while it stays the same. The default, a constant, suits fixed keys.
    fn generation(&self) -> u64 {
        0
    }
}

impl TokenSigner for KeySet {
    fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        KeySet::sign(self, claims)
    }
}

impl<T: TokenSigner + ?Sized> TokenSigner for Arc<T> {
    fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        (**self).sign(claims)
    }

    fn generation(&self) -> u64 {
        (**self).generation()
    }
}

impl<T: PolicySource + ?Sized> PolicySource for Arc<T> {
    fn grant(&self, principal: &Principal, scope: &Scope) -> Actions {
        (**self).grant(principal, scope)
    }

    fn epoch(&self) -> u64 {
        (**self).epoch()
    }
}

/// The token endpoint as a tower [`Service`]; see the [module docs](self).
///
/// Its parts are separate: `A` checks passwords ([`Authenticator`]), `R` keeps refresh tokens
/// ([`RefreshTokens`]; [`NoRefreshTokens`] for none), `P` decides ([`PolicySource`], e.g. a
/// static [`Acl`]), `S` signs ([`TokenSigner`]). [`TokenService::new`] takes one backend for
/// the first three. Cloning is cheap.
pub struct TokenService<A, R, P, S> {
    inner: Arc<Inner<A, R, P, S>>,
}

struct Inner<A, R, P, S> {
    authenticator: Arc<A>,
    refresh_tokens: Arc<R>,
    policy: Arc<P>,
    signer: Arc<S>,
    config: TokenConfig,
    reuse: Reuse,
    mismatches: mismatch::Mismatches,
    /// Its counters and histograms ([`crate::telemetry`]), taken when the service is made.
    metrics: TokenMetrics,
}

/// A [`RefreshTokens`] that keeps none: `docker login` then stores the password instead of a
/// refresh token, and a refresh-token grant is refused (`401`).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRefreshTokens;

impl RefreshTokens for NoRefreshTokens {
    async fn issue_refresh_token(
        &self,
        _principal: &Principal,
        _client_id: &str,
        _service: &str,
        _ctx: &RequestContext,
    ) -> Result<Option<String>, BackendError> {
        Ok(None)
    }

    async fn resolve_refresh_token(
        &self,
        _token: &str,
        _client_id: &str,
        _service: &str,
        _ctx: &RequestContext,
    ) -> Result<Option<Principal>, BackendError> {
        Ok(None)
    }
}

impl<A, R, P, S> Clone for TokenService<A, R, P, S> {
    fn clone(&self) -> Self {
        TokenService {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<A, R, P, S> fmt::Debug for TokenService<A, R, P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenService")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl<B, S> TokenService<B, B, B, S>
where
    B: Authenticator + RefreshTokens + PolicySource,
    S: TokenSigner,
{
    /// A token service over one backend (authenticator, refresh tokens and policy) and a signer.
    pub fn new(backend: Arc<B>, signer: Arc<S>, config: TokenConfig) -> Self {
        TokenService::from_parts(
            Arc::clone(&backend),
            Arc::clone(&backend),
            backend,
            signer,
            config,
        )
    }
}

impl<A, R, P, S> TokenService<A, R, P, S>
where
    A: Authenticator,
    R: RefreshTokens,
    P: PolicySource,
    S: TokenSigner,
{
    /// A token service over separate parts: e.g. a directory's password check, no refresh
    /// tokens ([`NoRefreshTokens`]) and a static [`Acl`]. It records its metrics
    /// ([`crate::telemetry`]) to the recorder installed when it is made, if any.
    pub fn from_parts(
        authenticator: Arc<A>,
        refresh_tokens: Arc<R>,
        policy: Arc<P>,
        signer: Arc<S>,
        config: TokenConfig,
    ) -> Self {
        TokenService {
            inner: Arc::new(Inner {
                authenticator,
                refresh_tokens,
                policy,
                signer,
                config,
                reuse: Reuse::default(),
                mismatches: mismatch::Mismatches::default(),
                metrics: TokenMetrics::new(),
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &TokenConfig {
        &self.inner.config
    }

    /// Answer one request. Never fails: every error is an HTTP response.
    pub async fn handle<ReqBody>(&self, req: Request<ReqBody>) -> Response<Full<Bytes>>
    where
        ReqBody: Body + Send,
        ReqBody::Data: Send,
        ReqBody::Error: Into<BoxError>,
    {
        let started = Instant::now();
        let oauth = req.method() == Method::POST;
        let mut grant = GrantType::Unparsed;
        let (resp, outcome) = match self.inner.respond(req, &mut grant).await {
            Ok(answered) => answered,
            Err(e) => {
                let outcome = e.outcome();
                (
                    e.into_response(&self.inner.config.basic_realm, oauth),
                    outcome,
                )
            }
        };
        self.inner.metrics.record(grant, outcome, started.elapsed());
        resp
    }
}

impl<A, R, P, S, ReqBody> Service<Request<ReqBody>> for TokenService<A, R, P, S>
where
    A: Authenticator,
    R: RefreshTokens,
    P: PolicySource,
    S: TokenSigner,
    ReqBody: Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<BoxError>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.handle(req).await) })
    }
}

impl<A, R, P, S> Inner<A, R, P, S>
where
    A: Authenticator,
    R: RefreshTokens,
    P: PolicySource,
    S: TokenSigner,
{
    /// Warns that a request named the service `asked`, not ours: the registry's
    /// `auth.token.service` and this server's `service` setting differ. Its client shows only
    /// "400 (Bad Request)", so this line is how the reason reaches a person; once per wrong
    /// name per minute ([`mismatch`]), so that no client can flood the log.
    fn warn_wrong_service(&self, asked: &str, from: Option<SocketAddr>) {
        let ours = &self.config.service;
        let client = from.map_or_else(|| "an unknown address".to_owned(), |a| a.ip().to_string());
        match self.mismatches.note(asked, std::time::Instant::now()) {
            mismatch::Note::Warn => tracing::warn!(
                client = %client,
                asked = %asked,
                service = %ours,
                "token request from {client} for service {asked:?}, but this server issues \
                 tokens for service {ours:?}: refused (400). The registry's auth.token.service \
                 must equal this server's service setting (REGISTRYO_SERVICE); \
                 `registryo registry-config` prints a matching configuration. Not logged again \
                 for {asked:?} for a minute."
            ),
            mismatch::Note::Overflow => tracing::warn!(
                client = %client,
                service = %ours,
                "token requests name more than {} other services than {ours:?} this minute \
                 (the last from {client}): the others are refused without a log line until \
                 the minute is over",
                mismatch::MAX_NAMES
            ),
            mismatch::Note::Quiet => {}
        }
    }

    /// The reply and whether it holds everything asked (`Outcome::Ok`) or less
    /// (`Outcome::Denied`); `grant` is set once the request is read.
    async fn respond<ReqBody>(
        &self,
        req: Request<ReqBody>,
        grant: &mut GrantType,
    ) -> Result<(Response<Full<Bytes>>, Outcome), TokenRequestError>
    where
        ReqBody: Body + Send,
        ReqBody::Data: Send,
        ReqBody::Error: Into<BoxError>,
    {
        let (parts, body) = req.into_parts();
        let mut ctx = RequestContext {
            remote_addr: parts.extensions.get::<ClientAddr>().map(|a| a.0),
            client_id: None,
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(256).collect()),
        };
        let oauth = parts.method == Method::POST;
        let ask = match parts.method {
            Method::GET | Method::HEAD => {
                let query = parts.uri.query().unwrap_or("");
                if query.len() > self.config.max_query_bytes {
                    return Err(TokenRequestError::BadRequest(format!(
                        "query string too long (limit {} bytes)",
                        self.config.max_query_bytes
                    )));
                }
                request::parse_get(&self.config, query, &parts.headers)?
            }
            Method::POST => {
                let body = request::read_form(&self.config, &parts.headers, body).await?;
                request::parse_post(&self.config, &request::pairs(&body))?
            }
            _ => return Err(TokenRequestError::MethodNotAllowed),
        };
        *grant = match &ask.grant {
            Grant::Caller(Caller::Anonymous) => GrantType::Anonymous,
            Grant::Caller(Caller::Password { .. }) => GrantType::Password,
            Grant::Refresh(_) => GrantType::RefreshToken,
        };
        if let Some(s) = &ask.service
            && *s != self.config.service
        {
            let asked = clip(s).to_owned();
            self.warn_wrong_service(&asked, ctx.remote_addr);
            return Err(TokenRequestError::WrongService {
                ours: self.config.service.clone(),
                asked,
            });
        }
        ctx.client_id.clone_from(&ask.client_id);
        let client_id = ask.client_id.as_deref().unwrap_or("unknown");
        let service = &self.config.service;

        let (principal, refresh_token) = match ask.grant {
            Grant::Caller(Caller::Anonymous) => (Principal::anonymous(), None),
            Grant::Caller(Caller::Password { username, password }) => {
                let principal = self
                    .authenticator
                    .authenticate(&username, &password, &ctx)
                    .await
                    .map_err(|e| match e {
                        AuthError::Unavailable(e) => TokenRequestError::Unavailable(e),
                        AuthError::Throttled { retry_after } => {
                            TokenRequestError::Throttled(retry_after)
                        }
                    })?
                    .ok_or(TokenRequestError::Unauthorized(
                        "invalid username or password",
                    ))?;
                let refresh = if ask.want_refresh {
                    self.refresh_tokens
                        .issue_refresh_token(&principal, client_id, service, &ctx)
                        .await
                        .map_err(TokenRequestError::Unavailable)?
                } else {
                    None
                };
                (principal, refresh)
            }
            Grant::Refresh(token) => {
                let principal = self
                    .refresh_tokens
                    .resolve_refresh_token(&token, client_id, service, &ctx)
                    .await
                    .map_err(TokenRequestError::Unavailable)?
                    .ok_or(TokenRequestError::Unauthorized(
                        "the refresh token is unknown or revoked, or its account is disabled: \
                         sign in again",
                    ))?;
                (principal, None)
            }
        };

        let mut access = Vec::with_capacity(ask.scopes.len());
        let mut granted = ScopeSet::new();
        let mut outcome = Outcome::Ok;
        for scope in &ask.scopes {
            let actions = self.policy.grant(&principal, scope);
            if actions != scope.actions() && actions != scope.actions().expand() {
                outcome = Outcome::Denied;
            }
            if actions.is_empty() {
                continue;
            }
            access.push(Access {
                kind: scope.resource().type_str().to_owned(),
                name: scope.name().to_owned(),
                actions: actions.to_vec(),
            });
            granted.insert(scope.with_actions(actions));
        }
        let subject = principal.account.as_deref().unwrap_or("");
        // The request's log span names the user when it has a `user` field (the server's).
        if !subject.is_empty() {
            tracing::Span::current().record("user", subject);
        }
        let issued = self.token(subject, access)?;
        let now = unix_now();
        let rest = reply::ReplyRest {
            expires_in: u64::try_from(issued.exp - now).unwrap_or(0).max(60),
            issued_at: rfc3339(issued.iat),
            scope: oauth.then(|| granted.to_string()),
            refresh_token,
        };
        let body = reply::reply_json(&issued.jwt, rest);
        Ok((json_response(StatusCode::OK, Bytes::from(body)), outcome))
    }

    /// A token for this grant: one signed within the reuse window for the same subject, access
    /// and policy epoch, or a new one.
    fn token(&self, subject: &str, access: Vec<Access>) -> Result<Issued, TokenRequestError> {
        let window = i64::try_from(self.config.token_reuse.as_secs()).unwrap_or(0);
        let key = (window > 0).then(|| {
            reuse_key(
                self.policy.epoch(),
                self.signer.generation(),
                subject,
                &access,
            )
        });
        let now = unix_now();
        if let Some(hit) = key.as_deref().and_then(|k| self.reuse.get(k, now, window)) {
            return Ok(hit);
        }
        let claims = Claims::new(
            &self.config.issuer,
            subject,
            &self.config.service,
            self.config.token_ttl,
            access,
        );
        let jwt = self
            .signer
            .sign(&claims)
            .map_err(TokenRequestError::Signing)?;
        let issued = Issued {
            jwt: Arc::from(jwt),
            iat: claims.iat,
            exp: claims.exp,
        };
        if let Some(key) = key {
            self.reuse.put(key, issued.clone(), now, window);
        }
        Ok(issued)
    }
}
