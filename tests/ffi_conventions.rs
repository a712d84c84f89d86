//! Source-level checks of the C layer's conventions (STYLE.md points 4-6):
//! every export runs inside the panic guard and documents Returns,
//! Ownership and Thread; every export is declared in the committed header
//! and every header function is an export.

use std::fs;
use std::path::Path;

/// (function name, doc comment, body) of every `extern "C" fn` in src/ffi.
fn exports() -> Vec<(String, String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ffi");
    let mut out = Vec::new();
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let src = fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = src.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(rest) = line.trim_start().strip_prefix("pub extern \"C\" fn ") else {
                continue;
            };
            let name = rest.split('(').next().unwrap().to_string();
            assert!(
                i > 0 && lines[i - 1].trim() == "#[unsafe(no_mangle)]",
                "{name}: exports are written out with #[unsafe(no_mangle)] right above"
            );
            let mut doc = Vec::new();
            let mut j = i - 1;
            while j > 0 && lines[j - 1].trim_start().starts_with("///") {
                j -= 1;
                doc.push(lines[j].trim_start().trim_start_matches("///").trim());
            }
            doc.reverse();
            // The body: from the line after the signature's `{` to the
            // first non-empty statement.
            let mut k = i;
            while !lines[k].trim_end().ends_with('{') {
                k += 1;
            }
            let body = lines[k + 1..]
                .iter()
                .map(|l| l.trim())
                .find(|l| !l.is_empty())
                .unwrap_or("")
                .to_string();
            out.push((name, doc.join("\n"), body));
        }
    }
    out.sort();
    out
}

#[test]
fn every_export_runs_inside_the_panic_guard() {
    let exports = exports();
    assert!(exports.len() > 50, "found only {} exports", exports.len());
    for (name, _, body) in &exports {
        // `with_resp` / `with_resp_str` are the resp_ helpers; they call
        // guard first (checked below).
        assert!(
            body.starts_with("guard(") || body.starts_with("with_resp(") || body.starts_with("with_resp_str("),
            "{name}: body must start with guard(...), found {body:?}"
        );
    }
    let resp = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ffi/resp.rs")).unwrap();
    let helper = resp.split("fn with_resp(").nth(1).unwrap();
    let first = helper.lines().nth(1).unwrap().trim();
    assert!(first.starts_with("guard("), "with_resp must start with guard(: {first}");
}

#[test]
fn every_export_documents_returns_ownership_and_thread() {
    for (name, doc, _) in exports() {
        for part in ["Returns:", "Ownership:", "Thread:"] {
            assert!(doc.contains(part), "{name}: doc comment lacks {part:?}\n{doc}");
        }
        let summary = doc.lines().next().unwrap_or_default();
        assert!(
            summary.ends_with('.') || summary.ends_with(':') || summary.ends_with(')'),
            "{name}: one-line summary first: {summary:?}"
        );
    }
}

#[test]
fn header_declares_exactly_the_exports() {
    let header = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/microroute.h")).unwrap();
    let mut declared: Vec<String> = header
        .lines()
        .filter(|l| !l.starts_with("//") && !l.starts_with('#') && !l.starts_with("typedef") && l.contains('('))
        .filter_map(|l| {
            let before = l.split('(').next()?;
            let name = before.rsplit([' ', '*']).next()?;
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect();
    declared.sort();
    let mut exported: Vec<String> = exports().into_iter().map(|(n, _, _)| n).collect();
    exported.sort();
    assert_eq!(declared, exported, "header and src/ffi disagree");
    for name in &exported {
        assert!(
            ["mr_", "server_", "req_", "resp_"].iter().any(|p| name.starts_with(p)),
            "{name}: exports use the mr_/server_/req_/resp_ prefixes"
        );
    }
}

#[test]
fn version_macros_match_cargo_toml() {
    use microroute::ffi::library::*;
    assert_eq!(MR_VERSION_MAJOR.to_string(), env!("CARGO_PKG_VERSION_MAJOR"));
    assert_eq!(MR_VERSION_MINOR.to_string(), env!("CARGO_PKG_VERSION_MINOR"));
    assert_eq!(MR_VERSION_PATCH.to_string(), env!("CARGO_PKG_VERSION_PATCH"));
    // SAFETY: mr_version returns a static NUL-terminated string.
    let v = unsafe { std::ffi::CStr::from_ptr(mr_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn abi_symbol_list_matches_the_exports() {
    // abi/symbols.txt records every exported symbol with the version that
    // added it; the ctest `shared.exports` checks the built .so against
    // the header, so the three stay the same set.
    let list = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("abi/symbols.txt")).unwrap();
    let mut listed: Vec<String> = Vec::new();
    let current = (
        env!("CARGO_PKG_VERSION_MAJOR").parse::<u32>().unwrap(),
        env!("CARGO_PKG_VERSION_MINOR").parse::<u32>().unwrap(),
        env!("CARGO_PKG_VERSION_PATCH").parse::<u32>().unwrap(),
    );
    for line in list.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (name, version) = line.split_once(' ').expect("`name version` lines");
        let v: Vec<u32> = version
            .split('.')
            .map(|p| p.parse().expect("a version number"))
            .collect();
        assert_eq!(v.len(), 3, "{line}");
        assert!(
            (v[0], v[1], v[2]) <= current,
            "{name} claims a version newer than the crate: {version}"
        );
        assert!(!listed.contains(&name.to_string()), "{name} listed twice");
        listed.push(name.to_string());
    }
    listed.sort();
    let mut exported: Vec<String> = exports().into_iter().map(|(n, _, _)| n).collect();
    exported.sort();
    assert_eq!(
        listed, exported,
        "abi/symbols.txt and src/ffi disagree: add new symbols with their version"
    );
}
