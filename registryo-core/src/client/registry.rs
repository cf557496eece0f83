//! [`RegistryClient`]: the registry API over any HTTP client service; lists and pagination.

use std::future::poll_fn;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response};
use serde::Deserialize;
use tower_layer::Layer;
use tower_service::Service;

use super::auth::{RegistryAuth, RegistryAuthLayer};
use super::digests::DigestIndex;
use super::error::RegistryError;
use super::page::{MAX_PAGE_SIZE, Page, next_link};
use super::tokens::TokenSource;
use super::transport::{ReqwestTransport, ResponseLimit};
use super::version::{VersionCell, VersionSetting};
use crate::scope::RepositoryName;

/// The body limit for catalog and tag-list pages: 4 MiB.
pub const MAX_LIST_SIZE: u64 = 4 << 20;

/// The most pages the iterate-all calls follow before giving up (a registry looping forever).
const MAX_PAGES: usize = 100_000;

/// A client of the registry's `/v2/` API, over an HTTP client service `S` (usually
/// [`RegistryAuth`] over [`ReqwestTransport`]: see [`RegistryClient::connect`]).
///
/// Cloning is cheap when `S` is; every method takes `&self`. Clones share what was learnt of
/// the registry's version ([`RegistryClient::registry_version`]).
#[derive(Debug, Clone)]
pub struct RegistryClient<S> {
    service: S,
    base: String,
    version: Arc<VersionCell>,
    digests: Arc<DigestIndex>,
}

impl<T: TokenSource + 'static> RegistryClient<RegistryAuth<ReqwestTransport, T>> {
    /// A client of the registry at `base_url` (`http://host:port`), authenticating with tokens
    /// from `tokens`, over a default [`ReqwestTransport`].
    pub fn connect(base_url: &str, tokens: T) -> Result<Self, RegistryError> {
        let service = RegistryAuthLayer::new(tokens).layer(ReqwestTransport::new()?);
        RegistryClient::new(base_url, service)
    }
}

impl<S> RegistryClient<S>
where
    S: Service<Request<Bytes>, Response = Response<Bytes>, Error = RegistryError> + Clone,
{
    /// A client of the registry at `base_url` (`http://host:port` or `https://host`, without
    /// a path) over `service`.
    pub fn new(base_url: &str, service: S) -> Result<Self, RegistryError> {
        let base = base_url.trim_end_matches('/');
        let uri: http::Uri = base
            .parse()
            .map_err(|e| RegistryError::InvalidInput(format!("base URL {base:?}: {e}")))?;
        let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
        if !scheme_ok || uri.authority().is_none() || !matches!(uri.path(), "" | "/") {
            return Err(RegistryError::InvalidInput(format!(
                "base URL {base:?} must be http(s)://host[:port] without a path"
            )));
        }
        Ok(RegistryClient {
            service,
            base: base.to_owned(),
            version: Arc::default(),
            digests: Arc::default(),
        })
    }

    /// This client with the `registry_version` setting (the default is
    /// [`VersionSetting::Auto`]: detect it).
    pub fn with_version_setting(mut self, setting: VersionSetting) -> Self {
        self.version = Arc::new(VersionCell::new(setting));
        self
    }

    /// This client keeping what tags point to for `ttl` ([`DIGEST_TTL`] by default; zero keeps
    /// nothing): see [`RegistryClient::tags_sharing_cached`].
    ///
    /// [`DIGEST_TTL`]: super::DIGEST_TTL
    pub fn with_digest_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.digests = Arc::new(DigestIndex::new(ttl));
        self
    }

    pub(crate) fn digest_index(&self) -> &DigestIndex {
        &self.digests
    }

    pub(crate) fn version_cell(&self) -> &VersionCell {
        &self.version
    }

    /// The registry's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The HTTP client service.
    pub fn service(&self) -> &S {
        &self.service
    }

    /// `GET /v2/`: whether the registry answers and accepts our tokens.
    pub async fn ping(&self) -> Result<(), RegistryError> {
        let req = self.request(Method::GET, "/v2/", HeaderMap::new(), Bytes::new(), 1 << 16)?;
        self.send_ok(req).await.map(drop)
    }

    /// One page of the catalog: at most `n` repositories (the registry caps it at
    /// [`MAX_PAGE_SIZE`]) after `last`. Needs `registry:catalog:*`.
    pub async fn catalog_page(
        &self,
        n: Option<u32>,
        last: Option<&str>,
    ) -> Result<Page<String>, RegistryError> {
        let path = with_query("/v2/_catalog", n, last);
        self.page_at(ListKind::Catalog, &path).await
    }

    /// Every repository, following the catalog's `Link` headers ([`MAX_PAGE_SIZE`] per page).
    pub async fn catalog_all(&self) -> Result<Vec<String>, RegistryError> {
        let first = with_query("/v2/_catalog", Some(MAX_PAGE_SIZE), None);
        self.all_from(ListKind::Catalog, first).await
    }

    /// One page of `name`'s tags: at most `n` after `last`.
    pub async fn tags_page(
        &self,
        name: &RepositoryName,
        n: Option<u32>,
        last: Option<&str>,
    ) -> Result<Page<String>, RegistryError> {
        let path = with_query(&format!("/v2/{name}/tags/list"), n, last);
        self.page_at(ListKind::Tags, &path).await
    }

    /// Every tag of `name`, following the `Link` headers.
    pub async fn tags_all(&self, name: &RepositoryName) -> Result<Vec<String>, RegistryError> {
        let first = with_query(&format!("/v2/{name}/tags/list"), Some(MAX_PAGE_SIZE), None);
        self.all_from(ListKind::Tags, first).await
    }

    /// One page of a list at `path_and_query`.
    async fn page_at(
        &self,
        kind: ListKind,
        path_and_query: &str,
    ) -> Result<Page<String>, RegistryError> {
        #[derive(Deserialize)]
        struct List {
            #[serde(default)]
            repositories: Option<Vec<String>>,
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let req = self.request(
            Method::GET,
            path_and_query,
            HeaderMap::new(),
            Bytes::new(),
            MAX_LIST_SIZE,
        )?;
        let resp = self.send_ok(req).await?;
        let list: List = serde_json::from_slice(resp.body())
            .map_err(|e| RegistryError::Malformed(format!("{}: {e}", kind.name())))?;
        let items = match kind {
            ListKind::Catalog => list.repositories,
            // `null` for a repository whose tags were all deleted.
            ListKind::Tags => list.tags,
        };
        let next = resp
            .headers()
            .get_all(http::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(next_link);
        Ok(Page {
            items: items.unwrap_or_default(),
            next,
        })
    }

    /// Every entry of a list, from `first` on, following `next` links.
    async fn all_from(&self, kind: ListKind, first: String) -> Result<Vec<String>, RegistryError> {
        let mut all = Vec::new();
        let mut path = first;
        for _ in 0..MAX_PAGES {
            let page = self.page_at(kind, &path).await?;
            let empty = page.items.is_empty();
            all.extend(page.items);
            match page.next {
                Some(next) if !empty => {
                    let next = self.same_origin_path(&next)?;
                    if next == path {
                        return Err(RegistryError::Malformed(format!(
                            "{} link points to the same page: {next}",
                            kind.name()
                        )));
                    }
                    path = next;
                }
                _ => return Ok(all),
            }
        }
        Err(RegistryError::Malformed(format!(
            "{}: more than {MAX_PAGES} pages",
            kind.name()
        )))
    }

    /// The path and query of a link or `Location` the registry sent: a path, or an absolute URL
    /// on this registry. A URL elsewhere is refused (our tokens go only to this registry).
    pub(crate) fn same_origin_path(&self, link: &str) -> Result<String, RegistryError> {
        let path = if link.starts_with('/') {
            link
        } else if let Some(rest) = link.strip_prefix(self.base.as_str())
            && rest.starts_with('/')
        {
            rest
        } else {
            return Err(RegistryError::Malformed(format!(
                "the registry pointed to {link:?}, not a path on {}",
                self.base
            )));
        };
        Ok(path.to_owned())
    }

    /// A request to `path_and_query` on this registry, with `headers`, `body` and a body
    /// limit for the reply.
    pub(crate) fn request(
        &self,
        method: Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: Bytes,
        limit: u64,
    ) -> Result<Request<Bytes>, RegistryError> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path_and_query}", self.base))
            .extension(ResponseLimit(limit))
            .body(body)
            .map_err(|e| RegistryError::InvalidInput(format!("{path_and_query}: {e}")))?;
        req.headers_mut().extend(headers);
        Ok(req)
    }

    /// Sends `req` through the service.
    pub(crate) async fn send(&self, req: Request<Bytes>) -> Result<Response<Bytes>, RegistryError> {
        let mut service = self.service.clone();
        poll_fn(|cx| service.poll_ready(cx)).await?;
        service.call(req).await
    }

    /// Sends `req`; any non-2xx reply becomes its typed error.
    pub(crate) async fn send_ok(
        &self,
        req: Request<Bytes>,
    ) -> Result<Response<Bytes>, RegistryError> {
        let resp = self.send(req).await?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(RegistryError::from_reply(
                resp.status(),
                resp.headers(),
                resp.body(),
            ))
        }
    }
}

/// The two paginated lists.
#[derive(Debug, Clone, Copy)]
enum ListKind {
    Catalog,
    Tags,
}

impl ListKind {
    fn name(self) -> &'static str {
        match self {
            ListKind::Catalog => "catalog",
            ListKind::Tags => "tag list",
        }
    }
}

/// `path?n=…&last=…`, with the parameters that are set.
fn with_query(path: &str, n: Option<u32>, last: Option<&str>) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if let Some(n) = n {
        pairs.push(("n", n.to_string()));
    }
    if let Some(last) = last {
        pairs.push(("last", last.to_owned()));
    }
    match serde_urlencoded::to_string(&pairs) {
        Ok(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Digest;
    use crate::client::fake::{Fake, reply};

    fn client(fake: &Fake) -> RegistryClient<Fake> {
        RegistryClient::new("http://reg.test:5000/", fake.clone()).unwrap()
    }

    #[tokio::test]
    async fn tags_all_follows_links_on_this_registry_only() {
        let fake = Fake::new(|req| match req.uri().query() {
            Some("n=1000") => reply(
                200,
                &[("link", r#"</v2/a/tags/list?last=b&n=2>; rel="next""#)],
                r#"{"name":"a","tags":["a","b"]}"#,
            ),
            Some("last=b&n=2") => reply(
                200,
                &[(
                    "link",
                    r#"<http://reg.test:5000/v2/a/tags/list?last=d&n=2>; rel="next""#,
                )],
                r#"{"name":"a","tags":["c","d"]}"#,
            ),
            Some("last=d&n=2") => reply(200, &[], r#"{"name":"a","tags":["e"]}"#),
            _ => reply(404, &[], ""),
        });
        let name = RepositoryName::new("a").unwrap();
        assert_eq!(
            client(&fake).tags_all(&name).await.unwrap(),
            ["a", "b", "c", "d", "e"]
        );

        let elsewhere = Fake::new(|_| {
            reply(
                200,
                &[(
                    "link",
                    r#"<http://evil.test/v2/a/tags/list?last=b>; rel="next""#,
                )],
                r#"{"tags":["a"]}"#,
            )
        });
        let e = client(&elsewhere).tags_all(&name).await.unwrap_err();
        assert!(matches!(e, RegistryError::Malformed(_)), "{e:?}");
        let looping = Fake::new(|_| {
            reply(
                200,
                &[("link", "</v2/_catalog?n=1000>; rel=next")],
                r#"{"repositories":["a"]}"#,
            )
        });
        let e = client(&looping).catalog_all().await.unwrap_err();
        assert!(matches!(e, RegistryError::Malformed(_)), "{e:?}");
    }

    #[tokio::test]
    async fn odd_replies_are_typed_errors() {
        let name = RepositoryName::new("a").unwrap();
        for (status, body, check) in [
            (200, "{", "malformed"),
            (200, r#"{"tags":"x"}"#, "malformed"),
            (500, "<html>oops</html>", "500"),
            (
                403,
                r#"{"errors":[{"code":"DENIED","message":"no"}]}"#,
                "denied: no (DENIED)",
            ),
        ] {
            let fake = Fake::new(move |_| reply(status, &[], body));
            let e = client(&fake)
                .tags_page(&name, None, None)
                .await
                .unwrap_err();
            assert!(e.to_string().contains(check), "{status} {body}: {e}");
        }
        let null_tags = Fake::new(|_| reply(200, &[], r#"{"name":"a","tags":null}"#));
        let page = client(&null_tags)
            .tags_page(&name, None, None)
            .await
            .unwrap();
        assert!(page.items.is_empty() && page.next.is_none());
    }

    #[tokio::test]
    async fn digests_are_verified() {
        let name = RepositoryName::new("a").unwrap();
        let body = r#"{"schemaVersion":2,"manifests":[]}"#;
        let wrong = Digest::sha256(b"other");
        let fake = Fake::new(move |_| {
            reply(
                200,
                &[
                    ("content-type", crate::client::OCI_INDEX),
                    ("docker-content-digest", wrong.as_str()),
                ],
                body,
            )
        });
        let e = client(&fake).manifest(&name, "t").await.unwrap_err();
        assert!(matches!(e, RegistryError::DigestMismatch { .. }), "{e:?}");
        let seen = fake.seen.lock().unwrap();
        let accept = seen[0].headers()[http::header::ACCEPT].to_str().unwrap();
        assert_eq!(accept.split(", ").count(), 4, "{accept}");
    }

    #[test]
    fn queries() {
        assert_eq!(with_query("/v2/_catalog", None, None), "/v2/_catalog");
        assert_eq!(
            with_query("/v2/_catalog", Some(2), Some("a/b")),
            "/v2/_catalog?n=2&last=a%2Fb"
        );
    }
}
