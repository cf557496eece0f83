//! Pagination of `/v2/_catalog` and `/v2/<name>/tags/list`: `n`, `last` and the `Link` header.

/// The most entries the registry returns in one catalog page (distribution caps `n` at 1000).
pub const MAX_PAGE_SIZE: u32 = 1000;

/// One page of a list, and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The entries of this page, in the registry's (lexical) order.
    pub items: Vec<T>,
    /// The target of the `Link: <…>; rel="next"` header, as sent (e.g.
    /// `/v2/_catalog?last=b&n=2`); `None` on the last page.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// The `last` parameter of the next page's link: pass it back as `last` to get the next
    /// page (what a UI puts in its "next" link).
    pub fn next_last(&self) -> Option<String> {
        query_param(self.next.as_deref()?, "last")
    }
}

/// The target of the first `rel="next"` link of a `Link` header value.
///
/// ```
/// use registryo_core::client::next_link;
/// assert_eq!(
///     next_link(r#"</v2/_catalog?last=b&n=2>; rel="next""#).as_deref(),
///     Some("/v2/_catalog?last=b&n=2"),
/// );
/// assert_eq!(next_link(r#"</x>; rel="prev""#), None);
/// ```
pub fn next_link(header: &str) -> Option<String> {
    let mut rest = header;
    loop {
        let start = rest.find('<')?;
        let end = start + rest[start..].find('>')?;
        let target = rest[start + 1..end].trim();
        let after = &rest[end + 1..];
        let params_end = after.find('<').unwrap_or(after.len());
        let is_next = after[..params_end].split(';').any(|param| {
            let Some((name, value)) = param.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_end_matches(',')
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|rel| rel.eq_ignore_ascii_case("next"))
        });
        if is_next && !target.is_empty() {
            return Some(target.to_owned());
        }
        rest = &after[params_end..];
    }
}

/// The (decoded) value of a query parameter of a URI reference.
pub(crate) fn query_param(uri: &str, name: &str) -> Option<String> {
    let query = uri.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or("");
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_forms() {
        assert_eq!(
            next_link(r#"</v2/a/tags/list?last=1&n=2>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?last=1&n=2")
        );
        assert_eq!(
            next_link(r#"<https://r/x?a=1,2>; rel=next"#).as_deref(),
            Some("https://r/x?a=1,2")
        );
        assert_eq!(
            next_link(r#"</p>; rel="prev", </n>; title="x"; REL="first next""#).as_deref(),
            Some("/n")
        );
        for bad in [
            "",
            "garbage",
            "<unclosed; rel=next",
            "</x>",
            "</x>; rel",
            "<>; rel=next",
        ] {
            assert_eq!(next_link(bad), None, "{bad}");
        }
    }

    #[test]
    fn next_last_is_decoded() {
        let page: Page<String> = Page {
            items: vec![],
            next: Some("/v2/_catalog?last=team%2Fapp&n=2".into()),
        };
        assert_eq!(page.next_last().as_deref(), Some("team/app"));
        let last: Page<String> = Page {
            items: vec![],
            next: None,
        };
        assert_eq!(last.next_last(), None);
    }
}
