//! Repository-name patterns: validated and compiled once, matched segment by segment.

use std::fmt;
use std::str::FromStr;

use super::{ACCOUNT_VARIABLE, AclError, MAX_PATTERN_LEN};
use crate::scope::RepositoryName;

/// One piece of a segment with wildcards.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Lit(Box<str>),
    /// `*`: any run of characters inside the segment.
    Star,
    /// `?`: one character.
    Question,
    /// `${account}`: the account name, literally.
    Account,
}

/// One compiled segment of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    /// A segment without wildcards: compared for equality.
    Literal(Box<str>),
    /// A segment with `*`, `?` or `${account}`.
    Glob(Box<[Piece]>),
    /// `**`: zero or more whole segments.
    AnyDepth,
}

/// How an [`Acl`] indexes a pattern, from its first segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FirstKind {
    /// A literal first segment: looked up by the repository's first segment.
    Literal,
    /// The first segment is exactly `${account}`: looked at when the repository's first
    /// segment is the account name.
    Account,
    /// Any other first segment: always looked at.
    Wild,
}

/// A repository-name pattern, validated and compiled when it is created.
///
/// See the [module documentation](crate::acl) for the syntax. [`Display`](fmt::Display) gives the
/// original text back.
///
/// ```
/// use registryo_core::acl::Pattern;
/// use registryo_core::scope::RepositoryName;
///
/// let p = Pattern::new("team/**")?;
/// assert!(p.matches(&RepositoryName::new("team")?, None));
/// assert!(p.matches(&RepositoryName::new("team/a/b")?, None));
/// assert!(Pattern::new("team/a**").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Pattern {
    text: Box<str>,
    segs: Box<[Seg]>,
    has_account: bool,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Pattern {}

impl std::hash::Hash for Pattern {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.text)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Pattern {
    type Err = AclError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Pattern::new(s)
    }
}

impl TryFrom<String> for Pattern {
    type Error = AclError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Pattern::new(&s)
    }
}

impl serde::Serialize for Pattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Pattern::new(&s).map_err(serde::de::Error::custom)
    }
}

fn name_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
}

impl Pattern {
    /// Validate and compile a pattern.
    pub fn new(text: &str) -> Result<Pattern, AclError> {
        if text.is_empty() {
            return Err(AclError::EmptyPattern);
        }
        if text.len() > MAX_PATTERN_LEN {
            return Err(AclError::PatternTooLong(text.len()));
        }
        let owned = || text.to_owned();
        if text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(AclError::UpperCase(owned()));
        }
        let segments: Vec<&str> = text.split('/').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(AclError::EmptySegment(owned()));
        }
        let mut segs: Vec<Seg> = Vec::with_capacity(segments.len());
        let mut has_account = false;
        let last = segments.len() - 1;
        for (i, seg) in segments.iter().copied().enumerate() {
            if seg == "**" {
                // `**/**` means the same as `**`.
                if segs.last() != Some(&Seg::AnyDepth) {
                    segs.push(Seg::AnyDepth);
                }
                continue;
            }
            if seg.contains("***") {
                return Err(AclError::TripleStar(owned()));
            }
            if seg.contains("**") {
                return Err(AclError::PartialDoubleStar(owned()));
            }
            let pieces = parse_segment(text, seg, i == 0 && i < last)?;
            has_account |= pieces.contains(&Piece::Account);
            match pieces.as_slice() {
                [Piece::Lit(lit)] => {
                    let host = i == 0 && i < last && crate::scope::is_domain(lit);
                    if !host && !crate::scope::is_path_component(lit) {
                        return Err(AclError::InvalidSegment {
                            pattern: owned(),
                            segment: seg.to_owned(),
                        });
                    }
                    segs.push(Seg::Literal(lit.clone()));
                }
                _ => segs.push(Seg::Glob(pieces.into_boxed_slice())),
            }
        }
        Ok(Pattern {
            text: text.into(),
            segs: segs.into_boxed_slice(),
            has_account,
        })
    }

    /// The pattern text, as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern holds `${account}` (and so never matches an anonymous request).
    pub fn has_account(&self) -> bool {
        self.has_account
    }

    /// Whether the pattern matches the repository for this account (`None`: anonymous).
    pub fn matches(&self, repo: &RepositoryName, account: Option<&str>) -> bool {
        self.matches_str(repo.as_str(), account.filter(|a| !a.is_empty()))
    }

    /// The literal first segment, if the pattern has one.
    pub(super) fn literal_first(&self) -> Option<&str> {
        match self.segs.first() {
            Some(Seg::Literal(l)) => Some(l),
            _ => None,
        }
    }

    /// The literal last segment, if the pattern has more than one segment and ends with one:
    /// a repository name can then only match if its last segment is the same.
    pub(super) fn literal_last(&self) -> Option<&str> {
        match &*self.segs {
            [_, .., Seg::Literal(l)] => Some(l),
            _ => None,
        }
    }

    /// The literal text a glob first segment starts with (`p7-` of `p7-*/x`), if any.
    pub(super) fn first_prefix(&self) -> Option<&str> {
        glob_end(self.segs.first(), true)
    }

    /// The literal text a glob first segment ends with (`:5000` of `*:5000/x`), if any.
    pub(super) fn first_suffix(&self) -> Option<&str> {
        glob_end(self.segs.first(), false)
    }

    /// The literal text a glob last segment starts with (`app-` of `*/app-*`), if any.
    pub(super) fn last_prefix(&self) -> Option<&str> {
        glob_end(self.segs.last(), true)
    }

    /// The literal text a glob last segment ends with (`-7` of `p7-*/*-7`), if any.
    pub(super) fn last_suffix(&self) -> Option<&str> {
        glob_end(self.segs.last(), false)
    }

    /// The longest literal piece anywhere in the pattern (`lib` of `*/lib/*`, `x` of `*x*`),
    /// if it has one: a name can match only if it contains that text.
    pub(super) fn longest_literal(&self) -> Option<&str> {
        self.segs
            .iter()
            .flat_map(|seg| {
                let (whole, pieces): (Option<&str>, &[Piece]) = match seg {
                    Seg::Literal(l) => (Some(l), &[]),
                    Seg::Glob(pieces) => (None, pieces),
                    Seg::AnyDepth => (None, &[]),
                };
                whole
                    .into_iter()
                    .chain(pieces.iter().filter_map(|p| match p {
                        Piece::Lit(l) => Some(&**l),
                        _ => None,
                    }))
            })
            .max_by_key(|l| l.len())
    }

    pub(super) fn first_kind(&self) -> FirstKind {
        match self.segs.first() {
            Some(Seg::Literal(_)) => FirstKind::Literal,
            Some(Seg::Glob(p)) if matches!(**p, [Piece::Account]) => FirstKind::Account,
            _ => FirstKind::Wild,
        }
    }

    /// Segment-level wildcard matching: `**` is the only "star", every other segment matches
    /// exactly one name segment, so one back-tracking point suffices (linear in practice).
    pub(super) fn matches_str(&self, name: &str, account: Option<&str>) -> bool {
        let account = match (self.has_account, account) {
            (true, None) => return false,
            (_, a) => a.unwrap_or(""),
        };
        let segs = &self.segs;
        let next = |pos: usize| -> (usize, Option<usize>) {
            // The end of the segment starting at `pos`, and the start of the next one.
            match name[pos..].find('/') {
                Some(off) => (pos + off, Some(pos + off + 1)),
                None => (name.len(), None),
            }
        };
        let mut si = 0;
        let mut pos = Some(0);
        let mut back: Option<(usize, Option<usize>)> = None;
        loop {
            match segs.get(si) {
                Some(Seg::AnyDepth) => {
                    back = Some((si + 1, pos));
                    si += 1;
                    continue;
                }
                Some(seg) => {
                    if let Some(p) = pos {
                        let (end, after) = next(p);
                        if seg_matches(seg, &name[p..end], account) {
                            si += 1;
                            pos = after;
                            continue;
                        }
                    }
                }
                None if pos.is_none() => return true,
                None => {}
            }
            // Let the last `**` swallow one more segment, or fail.
            match back {
                Some((bsi, Some(bp))) => {
                    let (_, after) = next(bp);
                    back = Some((bsi, after));
                    si = bsi;
                    pos = after;
                }
                _ => return false,
            }
        }
    }
}

fn parse_segment(pattern: &str, seg: &str, may_be_host: bool) -> Result<Vec<Piece>, AclError> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut rest = seg;
    let flush = |lit: &mut String, pieces: &mut Vec<Piece>| {
        if !lit.is_empty() {
            pieces.push(Piece::Lit(std::mem::take(lit).into_boxed_str()));
        }
    };
    while let Some(c) = rest.chars().next() {
        match c {
            '*' => {
                flush(&mut lit, &mut pieces);
                pieces.push(Piece::Star);
            }
            '?' => {
                flush(&mut lit, &mut pieces);
                pieces.push(Piece::Question);
            }
            '$' => {
                if !rest.starts_with(ACCOUNT_VARIABLE) {
                    return Err(AclError::UnknownVariable(pattern.to_owned()));
                }
                flush(&mut lit, &mut pieces);
                pieces.push(Piece::Account);
                rest = &rest[ACCOUNT_VARIABLE.len()..];
                continue;
            }
            ':' if may_be_host => lit.push(c),
            ':' => return Err(AclError::MisplacedColon(pattern.to_owned())),
            c if c.is_ascii() && name_char(c as u8) => lit.push(c),
            c => {
                return Err(AclError::InvalidCharacter {
                    pattern: pattern.to_owned(),
                    character: c,
                });
            }
        }
        rest = &rest[c.len_utf8()..];
    }
    flush(&mut lit, &mut pieces);
    Ok(pieces)
}

/// The literal piece at the start (or the end) of a glob segment. A first segment other than
/// `**` always matches the name's first segment, and a last one the name's last segment, so a
/// name can match only if its segment starts (or ends) with that text.
fn glob_end(seg: Option<&Seg>, start: bool) -> Option<&str> {
    let Some(Seg::Glob(pieces)) = seg else {
        return None;
    };
    let piece = if start { pieces.first() } else { pieces.last() };
    match piece {
        Some(Piece::Lit(l)) => Some(l),
        _ => None,
    }
}

fn seg_matches(seg: &Seg, text: &str, account: &str) -> bool {
    match seg {
        Seg::Literal(l) => **l == *text,
        Seg::Glob(pieces) => glob_matches(pieces, text.as_bytes(), account.as_bytes()),
        Seg::AnyDepth => true,
    }
}

/// Wildcard matching inside one segment: `*` is the only star, every other piece has a fixed
/// width, so one back-tracking point suffices.
fn glob_matches(pieces: &[Piece], text: &[u8], account: &[u8]) -> bool {
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut back: Option<(usize, usize)> = None;
    loop {
        let rest = text.get(ti..).unwrap_or_default();
        match pieces.get(pi) {
            Some(Piece::Star) => {
                back = Some((pi + 1, ti));
                pi += 1;
                continue;
            }
            Some(Piece::Question) if !rest.is_empty() => {
                pi += 1;
                ti += 1;
                continue;
            }
            Some(Piece::Lit(l)) if rest.starts_with(l.as_bytes()) => {
                pi += 1;
                ti += l.len();
                continue;
            }
            Some(Piece::Account) if rest.starts_with(account) => {
                pi += 1;
                ti += account.len();
                continue;
            }
            None if rest.is_empty() => return true,
            _ => {}
        }
        match back {
            Some((bpi, bti)) if bti < text.len() => {
                back = Some((bpi, bti + 1));
                pi = bpi;
                ti = bti + 1;
            }
            _ => return false,
        }
    }
}
