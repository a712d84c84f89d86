//! Route table: patterns made of literal segments, `{name}` (one segment)
//! and `{name...}` (the rest of the path), matched per segment with literal
//! before parameter before rest, whatever the registration order.
//!
//! Routes live in a segment trie. Matching walks it depth-first in priority
//! order and stops at the first route that accepts the method; if the path
//! matched only routes for other methods the answer is 405 with the union of
//! their methods in `Allow`. A GET route also answers HEAD.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::http::parse::{is_standard_method, STANDARD_METHODS};
use crate::util::{is_sub_delim, is_token, is_unreserved, percent_decode_into};

/// A registered handler, whatever calls it (a C function, a Rust closure).
pub type Handler = Arc<dyn Fn(&mut crate::Exchange<'_>) -> bool + Send + Sync>;

#[derive(Clone)]
struct Endpoint {
    /// `None` accepts any method.
    method: Option<Box<str>>,
    handler: Handler,
    params: Vec<Box<str>>,
    name: Option<Box<str>>,
    pattern: Box<str>,
}

#[derive(Clone, Default)]
struct Node {
    literals: Vec<(Box<[u8]>, Node)>,
    param: Option<Box<Node>>,
    rest: Vec<Endpoint>,
    endpoints: Vec<Endpoint>,
}

/// The outcome of a lookup.
pub(crate) enum Match<'r> {
    Found {
        handler: &'r Handler,
        params: Vec<(&'r str, std::ops::Range<usize>)>,
    },
    /// The path exists for other methods; the `Allow` value.
    MethodNotAllowed(String),
    NotFound,
}

/// The route table.
#[derive(Clone, Default)]
pub struct Router {
    root: Node,
    fallback: Option<Handler>,
    custom_methods: Vec<Box<str>>,
}

enum Seg<'a> {
    Literal(Vec<u8>),
    Param(&'a str),
    Rest(&'a str),
}

fn parse_pattern(pattern: &str) -> Result<Vec<Seg<'_>>> {
    let Some(body) = pattern.strip_prefix('/') else {
        return Err(Error::invalid("route pattern must start with '/'"));
    };
    let parts: Vec<&str> = body.split('/').collect();
    let mut segs = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            let (name, rest) = match inner.strip_suffix("...") {
                Some(n) => (n, true),
                None => (inner, false),
            };
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(Error::invalid("route parameter names use letters, digits, '_' and '-'"));
            }
            if rest && i + 1 != parts.len() {
                return Err(Error::invalid("a {name...} segment must be the last one"));
            }
            segs.push(if rest { Seg::Rest(name) } else { Seg::Param(name) });
        } else if part.contains('{') || part.contains('}') {
            return Err(Error::invalid("braces must enclose a whole segment: /{name}"));
        } else if part.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'?' || b == b'#') {
            return Err(Error::invalid("route pattern contains a space, control, '?' or '#'"));
        } else {
            let mut lit = Vec::new();
            percent_decode_into(part.as_bytes(), false, &mut lit);
            segs.push(Seg::Literal(lit));
        }
    }
    Ok(segs)
}

impl Router {
    pub fn new() -> Self {
        Router::default()
    }

    /// Adds a route. `method` is a method token, or `None` / `"*"` for any.
    pub fn add(&mut self, method: Option<&str>, pattern: &str, handler: Handler, name: Option<&str>) -> Result<()> {
        let method = match method {
            None | Some("*") => None,
            Some(m) if is_token(m.as_bytes()) => Some(m),
            Some(_) => return Err(Error::invalid("method must be a token such as \"GET\", or \"*\"")),
        };
        if let Some(n) = name {
            if n.is_empty() {
                return Err(Error::invalid("route name must not be empty"));
            }
            if self.named(n).is_some() {
                return Err(Error::invalid(format!("a route named {n:?} already exists")));
            }
        }
        let segs = parse_pattern(pattern)?;
        let mut node = &mut self.root;
        let mut params = Vec::new();
        let mut rest_name = None;
        for seg in segs {
            match seg {
                Seg::Literal(lit) => {
                    let idx = match node.literals.iter().position(|(l, _)| **l == *lit) {
                        Some(i) => i,
                        None => {
                            node.literals.push((lit.into_boxed_slice(), Node::default()));
                            node.literals.len() - 1
                        }
                    };
                    node = &mut node.literals[idx].1;
                }
                Seg::Param(n) => {
                    params.push(Box::from(n));
                    node = node.param.get_or_insert_with(Box::default);
                }
                Seg::Rest(n) => {
                    params.push(Box::from(n));
                    rest_name = Some(n);
                }
            }
        }
        if params.iter().enumerate().any(|(i, p)| params[..i].contains(p)) {
            return Err(Error::invalid("a route parameter name is used twice"));
        }
        let list = if rest_name.is_some() {
            &mut node.rest
        } else {
            &mut node.endpoints
        };
        let m: Option<Box<str>> = method.map(Box::from);
        if list.iter().any(|e| e.method == m) {
            return Err(Error::invalid(format!(
                "route {} {pattern} is already registered",
                method.unwrap_or("*")
            )));
        }
        list.push(Endpoint {
            method: m,
            handler,
            params,
            name: name.map(Box::from),
            pattern: Box::from(pattern),
        });
        if let Some(m) = method {
            if !STANDARD_METHODS.contains(&m) && !self.custom_methods.iter().any(|c| &**c == m) {
                self.custom_methods.push(Box::from(m));
            }
        }
        Ok(())
    }

    pub fn set_fallback(&mut self, handler: Option<Handler>) {
        self.fallback = handler;
    }

    pub(crate) fn fallback(&self) -> Option<&Handler> {
        self.fallback.as_ref()
    }

    /// The pattern of a named route.
    pub fn named(&self, name: &str) -> Option<&str> {
        fn walk<'a>(n: &'a Node, name: &str) -> Option<&'a str> {
            n.endpoints
                .iter()
                .chain(&n.rest)
                .find(|e| e.name.as_deref() == Some(name))
                .map(|e| &*e.pattern)
                .or_else(|| n.literals.iter().find_map(|(_, c)| walk(c, name)))
                .or_else(|| n.param.as_deref().and_then(|c| walk(c, name)))
        }
        walk(&self.root, name)
    }

    /// The URL of a named route, its `{param}`s and `{rest...}` filled from
    /// `params` (percent-encoded; a rest keeps its slashes).
    pub fn url_for(&self, name: &str, params: &[(&str, &str)]) -> Result<String> {
        let pattern = self
            .named(name)
            .ok_or_else(|| Error::NotFound(format!("no route named {name:?}").into()))?;
        let mut url = String::new();
        for seg in pattern.split('/').skip(1) {
            url.push('/');
            let Some(inner) = seg.strip_prefix('{').and_then(|p| p.strip_suffix('}')) else {
                url.push_str(seg);
                continue;
            };
            let (pname, rest) = match inner.strip_suffix("...") {
                Some(n) => (n, true),
                None => (inner, false),
            };
            let value = params
                .iter()
                .find(|(n, _)| *n == pname)
                .map(|(_, v)| *v)
                .ok_or_else(|| Error::invalid(format!("route {name:?} needs a value for {{{pname}}}")))?;
            if value.is_empty() && !rest {
                return Err(Error::invalid(format!("route {name:?}: {{{pname}}} cannot be empty")));
            }
            // Dot segments would make the client resolve the URL elsewhere.
            let dot = |s: &str| s == "." || s == "..";
            if (!rest && dot(value)) || (rest && value.split('/').any(dot)) {
                return Err(Error::invalid(format!(
                    "route {name:?}: {{{pname}}} cannot be a dot segment"
                )));
            }
            for &b in value.as_bytes() {
                let keep = is_unreserved(b) || is_sub_delim(b) || matches!(b, b':' | b'@') || (rest && b == b'/');
                if keep {
                    url.push(b as char);
                } else {
                    url.push_str(&format!("%{b:02X}"));
                }
            }
        }
        if url.is_empty() {
            url.push('/');
        }
        Ok(url)
    }

    /// Methods that get past the parser's 501: the standard ones and any a
    /// route was registered with.
    pub(crate) fn knows_method(&self, m: &[u8]) -> bool {
        is_standard_method(m) || self.custom_methods.iter().any(|k| k.as_bytes() == m)
    }

    /// Finds the route for `method` and the raw (still encoded) `path`.
    /// Captures are returned as byte ranges of `path`.
    pub(crate) fn find<'r>(&'r self, method: &str, path: &[u8]) -> Match<'r> {
        if !path.starts_with(b"/") {
            return Match::NotFound;
        }
        let mut search = Search {
            path,
            method,
            caps: Vec::new(),
            allow: Vec::new(),
            matched: false,
        };
        if let Some((ep, caps)) = search.walk(&self.root, Some(1)) {
            let params = ep.params.iter().map(|n| &**n).zip(caps).collect();
            return Match::Found {
                handler: &ep.handler,
                params,
            };
        }
        if !search.matched {
            return Match::NotFound;
        }
        let mut allow = search.allow;
        if allow.contains(&"GET") && !allow.contains(&"HEAD") {
            allow.push("HEAD");
        }
        Match::MethodNotAllowed(allow.join(", "))
    }
}

/// One lookup. Segments are found by scanning the path as the walk goes,
/// so a lookup allocates nothing unless the route has captures.
struct Search<'p, 'r> {
    path: &'p [u8],
    method: &'p str,
    caps: Vec<std::ops::Range<usize>>,
    allow: Vec<&'r str>,
    matched: bool,
}

impl<'r> Search<'_, 'r> {
    fn accept(&mut self, eps: &'r [Endpoint]) -> Option<&'r Endpoint> {
        if eps.is_empty() {
            return None;
        }
        self.matched = true;
        let exact = eps.iter().find(|e| e.method.as_deref() == Some(self.method));
        let head_get = || {
            if self.method == "HEAD" {
                eps.iter().find(|e| e.method.as_deref() == Some("GET"))
            } else {
                None
            }
        };
        let any = || eps.iter().find(|e| e.method.is_none());
        if let Some(e) = exact.or_else(head_get).or_else(any) {
            return Some(e);
        }
        for e in eps {
            if let Some(m) = e.method.as_deref() {
                if !self.allow.contains(&m) {
                    self.allow.push(m);
                }
            }
        }
        None
    }

    /// Matches the segment starting at byte `at` (None: past the last
    /// segment) and what follows it, in priority order.
    fn walk(&mut self, node: &'r Node, at: Option<usize>) -> Option<(&'r Endpoint, Vec<std::ops::Range<usize>>)> {
        let Some(start) = at else {
            return self.accept(&node.endpoints).map(|e| (e, self.caps.clone()));
        };
        let end = self.path[start..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(self.path.len(), |i| start + i);
        let next = (end < self.path.len()).then_some(end + 1);
        let raw = &self.path[start..end];
        if !node.literals.is_empty() {
            let decoded;
            let key: &[u8] = if raw.contains(&b'%') {
                let mut d = Vec::with_capacity(raw.len());
                percent_decode_into(raw, false, &mut d);
                decoded = d;
                &decoded
            } else {
                raw
            };
            if let Some((_, child)) = node.literals.iter().find(|(l, _)| **l == *key) {
                if let Some(found) = self.walk(child, next) {
                    return Some(found);
                }
            }
        }
        if let Some(child) = node.param.as_deref() {
            if !raw.is_empty() {
                self.caps.push(start..end);
                if let Some(found) = self.walk(child, next) {
                    return Some(found);
                }
                self.caps.pop();
            }
        }
        if !node.rest.is_empty() {
            if let Some(e) = self.accept(&node.rest) {
                let mut caps = self.caps.clone();
                caps.push(start..self.path.len());
                return Some((e, caps));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h() -> Handler {
        Arc::new(|_| true)
    }

    fn router(routes: &[(&str, &str)]) -> Router {
        let mut r = Router::new();
        for (i, (m, p)) in routes.iter().enumerate() {
            r.add(if *m == "*" { None } else { Some(m) }, p, h(), Some(&format!("r{i}")))
                .unwrap();
        }
        r
    }

    /// (route name index, captures) for a request.
    fn find(r: &Router, method: &str, path: &str) -> std::result::Result<(String, Vec<(String, String)>), String> {
        match r.find(method, path.as_bytes()) {
            Match::Found { handler, params } => {
                // Identify the endpoint by handler pointer.
                fn walk<'a>(n: &'a Node, h: &Handler) -> Option<&'a Endpoint> {
                    n.endpoints
                        .iter()
                        .chain(&n.rest)
                        .find(|e| Arc::ptr_eq(&e.handler, h))
                        .or_else(|| n.literals.iter().find_map(|(_, c)| walk(c, h)))
                        .or_else(|| n.param.as_deref().and_then(|c| walk(c, h)))
                }
                let ep = walk(&r.root, handler).unwrap();
                let caps = params
                    .into_iter()
                    .map(|(n, range)| (n.to_string(), path[range].to_string()))
                    .collect();
                Ok((ep.name.as_deref().unwrap().to_string(), caps))
            }
            Match::MethodNotAllowed(a) => Err(format!("405 {a}")),
            Match::NotFound => Err("404".into()),
        }
    }

    #[test]
    fn priority_is_literal_param_rest_whatever_the_order() {
        let r = router(&[
            ("GET", "/files/{path...}"),
            ("GET", "/files/{id}"),
            ("GET", "/files/special"),
        ]);
        assert_eq!(find(&r, "GET", "/files/special").unwrap().0, "r2");
        assert_eq!(
            find(&r, "GET", "/files/42").unwrap(),
            ("r1".into(), vec![("id".into(), "42".into())])
        );
        assert_eq!(
            find(&r, "GET", "/files/a/b").unwrap(),
            ("r0".into(), vec![("path".into(), "a/b".into())])
        );
        assert_eq!(
            find(&r, "GET", "/files/").unwrap(),
            ("r0".into(), vec![("path".into(), "".into())])
        );
        assert_eq!(find(&r, "GET", "/files").unwrap_err(), "404");
    }

    #[test]
    fn backtracks_to_a_less_specific_route() {
        let r = router(&[("GET", "/a/{x}/c"), ("GET", "/a/b/d")]);
        assert_eq!(find(&r, "GET", "/a/b/c").unwrap().1, vec![("x".into(), "b".into())]);
        assert_eq!(find(&r, "GET", "/a/b/d").unwrap().0, "r1");
    }

    #[test]
    fn methods_405_head_and_any() {
        let r = router(&[
            ("GET", "/x"),
            ("POST", "/x"),
            ("*", "/any"),
            ("DELETE", "/y/{id}"),
            ("PUT", "/y/1"),
        ]);
        assert_eq!(find(&r, "HEAD", "/x").unwrap().0, "r0");
        assert_eq!(find(&r, "DELETE", "/x").unwrap_err(), "405 GET, POST, HEAD");
        assert_eq!(find(&r, "PATCH", "/any").unwrap().0, "r2");
        // A literal route for another method does not hide a param route.
        assert_eq!(find(&r, "DELETE", "/y/1").unwrap().0, "r3");
        assert_eq!(find(&r, "GET", "/y/1").unwrap_err(), "405 PUT, DELETE");
    }

    #[test]
    fn segments_and_encoding() {
        let r = router(&[
            ("GET", "/"),
            ("GET", "/a/"),
            ("GET", "/hello%20world"),
            ("GET", "/u/{name}"),
        ]);
        assert_eq!(find(&r, "GET", "/").unwrap().0, "r0");
        assert_eq!(find(&r, "GET", "/a/").unwrap().0, "r1");
        assert_eq!(find(&r, "GET", "/a").unwrap_err(), "404");
        assert_eq!(find(&r, "GET", "/hello%20world").unwrap().0, "r2");
        // An empty segment does not match a parameter.
        assert_eq!(find(&r, "GET", "/u/").unwrap_err(), "404");
        assert_eq!(
            find(&r, "GET", "/u/a%2Fb").unwrap().1,
            vec![("name".into(), "a%2Fb".into())]
        );
        assert_eq!(find(&r, "GET", "*").unwrap_err(), "404");
    }

    #[test]
    fn invalid_patterns_and_duplicates() {
        let mut r = Router::new();
        for bad in [
            "x",
            "/a/{}",
            "/a/{b",
            "/a/x{b}",
            "/{rest...}/x",
            "/a b",
            "/a?b",
            "/{a}/{a}",
            "/{a.b}",
        ] {
            assert!(r.add(Some("GET"), bad, h(), None).is_err(), "{bad}");
        }
        assert!(r.add(Some("G ET"), "/", h(), None).is_err());
        r.add(Some("GET"), "/u/{id}", h(), Some("user")).unwrap();
        assert!(r.add(Some("GET"), "/u/{name}", h(), None).is_err());
        assert!(r.add(Some("POST"), "/u/{name}", h(), Some("user")).is_err());
        r.add(Some("POST"), "/u/{name}", h(), None).unwrap();
        assert_eq!(r.named("user"), Some("/u/{id}"));
        assert_eq!(r.url_for("user", &[("id", "a b/c")]).unwrap(), "/u/a%20b%2Fc");
        assert!(r.url_for("user", &[]).is_err());
        assert!(r.url_for("user", &[("id", "..")]).is_err());
        assert!(r.url_for("user", &[("id", ".")]).is_err());
        assert!(matches!(r.url_for("nope", &[]), Err(Error::NotFound(_))));
        r.add(Some("GET"), "/files/{path...}", h(), Some("files")).unwrap();
        assert_eq!(r.url_for("files", &[("path", "a/b c")]).unwrap(), "/files/a/b%20c");
        assert!(r.url_for("files", &[("path", "a/../b")]).is_err());
        r.add(Some("GET"), "/", h(), Some("index")).unwrap();
        assert_eq!(r.url_for("index", &[]).unwrap(), "/");
        r.add(Some("PROPFIND"), "/dav", h(), None).unwrap();
        assert!(r.knows_method(b"PROPFIND"));
        assert!(!r.knows_method(b"propfind"));
    }
}
