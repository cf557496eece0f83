//! The client's address behind reverse proxies: `X-Forwarded-For` and `Forwarded` (RFC 7239
//! `for=`), believed only from trusted proxies.
//!
//! Behind a proxy every request comes from the proxy's address, so the guessing limits and
//! the audit log would see one client. [`TrustedProxies::client_addr`] gives the address the
//! application uses instead ([`ClientAddr`](registryo_core::service::ClientAddr)):
//!
//! - when the TCP peer is **not** a trusted proxy, the peer, whatever the headers say (anyone
//!   can send them);
//! - otherwise each header is read from the right (the hop nearest to us) and gives the
//!   right-most address that is not itself a trusted proxy; if every address is a trusted
//!   proxy, the left-most. An entry that is not an address (`unknown`, an obfuscated
//!   identifier, garbage) ends the walk: the client is then the trusted hop that wrote it (or
//!   the peer);
//! - when both headers are present and name different clients, the peer: a proxy sets one of
//!   them and passes the other through from the client, so one of them is forged and nothing
//!   tells which.
//!
//! A proxy that adds a port gives that port; `X-Forwarded-For` has none (port 0).
//!
//! Hand-written rather than a crate: the `Forwarded` parsers on crates.io split on every
//! comma and semicolon, also inside quoted strings, which RFC 7239 allows.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// A `trusted_proxies` entry that is neither an IP address nor a CIDR range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP address or a CIDR range (such as 10.0.0.1 or 10.0.0.0/8)")]
pub struct ProxyListError(pub String);

/// The reverse proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    /// No trusted proxy: the headers are always ignored.
    pub fn none() -> TrustedProxies {
        TrustedProxies::default()
    }

    /// Parse a list of IP addresses (`10.0.0.1`, `::1`) and CIDR ranges (`10.0.0.0/8`).
    pub fn parse<S: AsRef<str>>(list: &[S]) -> Result<TrustedProxies, ProxyListError> {
        let nets = list
            .iter()
            .map(|s| {
                let s = s.as_ref().trim();
                IpNet::from_str(s)
                    .map(|n| n.trunc())
                    .or_else(|_| IpAddr::from_str(s).map(IpNet::from))
                    .map_err(|_| ProxyListError(s.to_owned()))
            })
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies { nets })
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client's address for a request from `peer` carrying `headers`.
    pub fn client_addr(&self, peer: SocketAddr, headers: &HeaderMap) -> SocketAddr {
        if !self.contains(peer.ip()) {
            return peer;
        }
        let xff = self.walk(
            headers
                .get_all("x-forwarded-for")
                .iter()
                .flat_map(|v| v.to_str().unwrap_or("?").split(','))
                .map(parse_node)
                .collect(),
        );
        let fwd = self.walk(
            headers
                .get_all("forwarded")
                .iter()
                .flat_map(|v| forwarded_for(v.to_str().unwrap_or("?")))
                .collect(),
        );
        match (xff, fwd) {
            (None, None) => peer,
            (Some(a), None) | (None, Some(a)) => a,
            (Some(a), Some(b)) if a.ip() == b.ip() => b,
            (Some(_), Some(_)) => peer,
        }
    }

    /// The right-most address that is not a trusted proxy; see the module doc.
    fn walk(&self, hops: Vec<Option<SocketAddr>>) -> Option<SocketAddr> {
        let mut nearest_trusted = None;
        for hop in hops.into_iter().rev() {
            match hop {
                Some(a) if self.contains(a.ip()) => nearest_trusted = Some(a),
                Some(a) => return Some(a),
                None => return nearest_trusted,
            }
        }
        nearest_trusted
    }
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]`, `[::1]:80`
/// (an obfuscated port counts as none). `None` for anything else.
fn parse_node(s: &str) -> Option<SocketAddr> {
    let s = s.trim();
    let canonical = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
    if let Ok(ip) = IpAddr::from_str(s) {
        return Some(canonical(SocketAddr::new(ip, 0)));
    }
    if let Ok(a) = SocketAddr::from_str(s) {
        return Some(canonical(a));
    }
    let (host, _port) = match s.strip_prefix('[') {
        Some(rest) => rest.split_once(']')?,
        None => s.split_once(':')?,
    };
    let ip = IpAddr::from_str(host).ok()?;
    Some(canonical(SocketAddr::new(ip, 0)))
}

/// The `for=` node of each element of a `Forwarded` value, in order (`None` for an element
/// without one, or one that is not an address).
fn forwarded_for(value: &str) -> Vec<Option<SocketAddr>> {
    split_outside_quotes(value, ',')
        .into_iter()
        .map(|element| {
            split_outside_quotes(element, ';')
                .into_iter()
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                .and_then(|(_, v)| parse_node(&unquote(v.trim())))
        })
        .collect()
}

/// `s` split at each `sep` that is not inside a quoted string.
fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut quoted, mut escaped, mut start) = (false, false, 0);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// A token, or a quoted string without its quotes and escapes.
fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    out.extend(chars.next());
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => v.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_str(k).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn the_proxy_list_takes_addresses_and_ranges_and_refuses_the_rest() {
        let p = TrustedProxies::parse(&["10.0.0.1", " 192.168.0.0/16", "::1", "fd00::/8"]).unwrap();
        for ip in [
            "10.0.0.1",
            "192.168.3.4",
            "::1",
            "fd12::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(p.contains(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["10.0.0.2", "192.169.0.1", "::2"] {
            assert!(!p.contains(ip.parse().unwrap()), "{ip}");
        }
        for bad in ["", "10.0.0.0/33", "proxy.example", "10.0.0.1/x", "*"] {
            assert_eq!(
                TrustedProxies::parse(&[bad]),
                Err(ProxyListError(bad.to_owned()))
            );
        }
        assert!(TrustedProxies::parse::<&str>(&[]).unwrap().is_empty());
    }

    /// A peer, its headers, and the client address the app should see.
    type Case = (
        &'static str,
        &'static [(&'static str, &'static str)],
        &'static str,
    );

    /// One case per line: trusted proxies, peer, headers → the client address the app sees.
    #[test]
    fn the_client_address_from_each_peer_and_header() {
        let trusted = ["10.0.0.0/8", "::1"];
        #[rustfmt::skip]
        let cases: &[Case] = &[
            // Untrusted peers: the headers are ignored.
            ("203.0.113.9:5000", &[("x-forwarded-for", "1.2.3.4")], "203.0.113.9:5000"),
            ("203.0.113.9:5000", &[("forwarded", "for=1.2.3.4")], "203.0.113.9:5000"),
            // A trusted peer without headers: itself.
            ("10.0.0.5:4000", &[], "10.0.0.5:4000"),
            // X-Forwarded-For: the right-most address that is not a trusted proxy.
            ("10.0.0.5:4000", &[("x-forwarded-for", "198.51.100.7")], "198.51.100.7:0"),
            ("10.0.0.5:4000", &[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.9")], "198.51.100.7:0"),
            ("10.0.0.5:4000", &[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "198.51.100.7")], "198.51.100.7:0"),
            ("10.0.0.5:4000", &[("x-forwarded-for", "10.1.1.1, 10.2.2.2")], "10.1.1.1:0"),
            ("10.0.0.5:4000", &[("x-forwarded-for", "198.51.100.7:8443")], "198.51.100.7:8443"),
            ("10.0.0.5:4000", &[("x-forwarded-for", "[2001:db8::1]:8443")], "[2001:db8::1]:8443"),
            ("10.0.0.5:4000", &[("x-forwarded-for", "2001:db8::1")], "[2001:db8::1]:0"),
            ("10.0.0.5:4000", &[("x-forwarded-for", "::ffff:198.51.100.7")], "198.51.100.7:0"),
            // Not an address: the walk stops at the trusted hop that wrote it.
            ("10.0.0.5:4000", &[("x-forwarded-for", "6.6.6.6, garbage")], "10.0.0.5:4000"),
            ("10.0.0.5:4000", &[("x-forwarded-for", "6.6.6.6, unknown, 10.0.0.9")], "10.0.0.9:0"),
            ("10.0.0.5:4000", &[("x-forwarded-for", "")], "10.0.0.5:4000"),
            // Forwarded (RFC 7239).
            ("10.0.0.5:4000", &[("forwarded", "for=198.51.100.7;proto=https")], "198.51.100.7:0"),
            ("10.0.0.5:4000", &[("forwarded", "for=6.6.6.6, For=\"198.51.100.7:4711\";by=10.0.0.5")], "198.51.100.7:4711"),
            ("10.0.0.5:4000", &[("forwarded", "for=\"[2001:db8:cafe::17]:4711\"")], "[2001:db8:cafe::17]:4711"),
            ("10.0.0.5:4000", &[("forwarded", "for=198.51.100.7;host=\"a,b;c\", for=10.0.0.9")], "198.51.100.7:0"),
            ("10.0.0.5:4000", &[("forwarded", "for=_hidden, for=10.0.0.9")], "10.0.0.9:0"),
            ("10.0.0.5:4000", &[("forwarded", "for=unknown")], "10.0.0.5:4000"),
            ("10.0.0.5:4000", &[("forwarded", "proto=https")], "10.0.0.5:4000"),
            ("10.0.0.5:4000", &[("forwarded", "for=\"198.51.100.7:_port\"")], "198.51.100.7:0"),
            // Both headers: agreeing, or one forged (then the peer).
            ("10.0.0.5:4000", &[("x-forwarded-for", "198.51.100.7"), ("forwarded", "for=198.51.100.7")], "198.51.100.7:0"),
            ("10.0.0.5:4000", &[("x-forwarded-for", "198.51.100.7"), ("forwarded", "for=6.6.6.6")], "10.0.0.5:4000"),
            ("10.0.0.5:4000", &[("x-forwarded-for", "nonsense"), ("forwarded", "for=198.51.100.7")], "198.51.100.7:0"),
            // An IPv6 trusted peer.
            ("[::1]:4000", &[("x-forwarded-for", "198.51.100.7")], "198.51.100.7:0"),
        ];
        let p = TrustedProxies::parse(&trusted).unwrap();
        for (peer, hs, want) in cases {
            let got = p.client_addr(peer.parse().unwrap(), &headers(hs));
            assert_eq!(got, want.parse::<SocketAddr>().unwrap(), "{peer} {hs:?}");
        }
        // No trusted proxy: always the peer.
        let none = TrustedProxies::none();
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=1.2.3.4")]);
        let peer: SocketAddr = "10.0.0.5:4000".parse().unwrap();
        assert_eq!(none.client_addr(peer, &h), peer);
    }

    #[test]
    fn quoted_strings_keep_their_separators() {
        assert_eq!(
            split_outside_quotes("a=\"x,y\",b=\"q\\\"r,s\",c", ','),
            ["a=\"x,y\"", "b=\"q\\\"r,s\"", "c"]
        );
        assert_eq!(unquote("\"a\\\"b\""), "a\"b");
        assert_eq!(unquote("token"), "token");
    }
}
