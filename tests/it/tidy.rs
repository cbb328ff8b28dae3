//! Tidy checks on the source tree: every file under `src/` opens with a
//! well-formed `//!` module doc, the code (not the comments) of `src/logic/`
//! uses no I/O, clock, env, threads or logging (nor `crate::io`, nor a
//! grouped `use std::{..}` / `use crate::{..}` that could hide them), and
//! the README code map names every file by its path.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src(sub: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(sub),
        &mut files,
    );
    assert!(!files.is_empty(), "no files under src/{sub}");
    files
}

/// What is wrong with the `//!` module doc `text` opens with, if anything.
fn module_doc_problem(text: &str) -> Option<&'static str> {
    let doc: Vec<&str> = text.lines().take_while(|l| l.starts_with("//!")).collect();
    let first = doc.first()?;
    let prose: Vec<&str> = doc.iter().map(|l| l[3..].trim()).collect();
    let words = prose.iter().flat_map(|l| l.split_whitespace()).count();
    Some(if first.trim_end() == "//!" {
        "its first line is empty"
    } else if doc.iter().any(|l| l.len() > 3 && !l.starts_with("//! ")) {
        "a doc line must be `//!` or `//! text`"
    } else if prose.iter().any(|l| {
        l.chars().any(|c| c.is_control() || c == '\u{FFFD}') || l.contains('Ã') || l.contains("â€")
    }) {
        "it has garbled characters"
    } else if words < 8 {
        "it is too short to say what the file owns"
    } else if !prose.iter().rev().find(|l| !l.is_empty())?.ends_with('.') {
        "it does not end with a full sentence"
    } else {
        return None;
    })
}

#[test]
fn every_source_file_opens_with_a_module_doc() {
    for file in src("") {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("//!"),
            "{} must open with //! saying what it owns",
            file.display()
        );
        if let Some(problem) = module_doc_problem(&text) {
            panic!(
                "{}: the //! module doc is garbled: {problem}",
                file.display()
            );
        }
    }
}

#[test]
fn the_module_doc_check_catches_garbled_docs() {
    let check = |doc: &str, ok: bool| {
        assert_eq!(module_doc_problem(doc).is_none(), ok, "{doc:?}");
    };
    check(
        "//! The devnet's HTTP server: one thread per connection, no chain paths.\nuse x;",
        true,
    );
    check(
        "//! Two lines that say\n//!\n//! what this file owns and must not do.\n",
        true,
    );
    check(
        "//!\n//! The text starts on the second line, which is not allowed.\n",
        false,
    );
    check(
        "//!The devnet's HTTP server: one thread per connection, no chain paths.\n",
        false,
    );
    check(
        "//! The devnet\u{FFFD}s HTTP server: one thread per connection, no paths.\n",
        false,
    );
    check(
        "//! The devnetÃ¢s HTTP server: one thread per connection, no paths.\n",
        false,
    );
    check("//! Too short.\n", false);
    check(
        "//! The devnet's HTTP server: one thread per connection, no chain\n",
        false,
    );
}

/// Strips `//` comments (line and doc) so that prose may mention what code must not use.
fn code_only(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn logic_is_pure() {
    const FORBIDDEN: &[&str] = &[
        "std::fs",
        "std::net",
        "std::env",
        "std::thread",
        "std::process",
        "SystemTime::now",
        "Instant::now",
        "OffsetDateTime::now",
        "ureq",
        "tungstenite",
        "log::",
        "println!",
        "eprintln!",
        "print!(",
        "crate::io",
        "super::io",
    ];
    for file in src("logic") {
        let code = code_only(&std::fs::read_to_string(&file).unwrap());
        for bad in FORBIDDEN {
            assert!(
                !code.contains(bad),
                "{} uses {bad}; src/logic must stay pure",
                file.display()
            );
        }
        if let Some(line) = hidden_import(&code) {
            panic!(
                "{}: {line:?} groups std or crate paths, which hides what it imports; write one path per use",
                file.display()
            );
        }
    }
}

/// A `use std::{..}` or `use crate::{..}` line (whose group could hide
/// `fs`, `net` or `io` from the checks above), if `code` has one.
fn hidden_import(code: &str) -> Option<&str> {
    code.lines().map(str::trim).find(|l| {
        let l = l.strip_prefix("pub ").unwrap_or(l);
        [
            "use std::{",
            "use ::std::{",
            "use crate::{",
            "use super::{",
            "use core::{",
        ]
        .iter()
        .any(|p| l.replace(' ', "").starts_with(&p.replace(' ', "")))
    })
}

#[test]
fn the_check_itself_catches_a_violation() {
    assert!(code_only("let x = std::fs::read(p); // fine").contains("std::fs"));
    assert!(!code_only("// std::fs is not used here").contains("std::fs"));
    assert!(hidden_import("use std::{fs, time::Duration};").is_some());
    assert!(hidden_import("pub use crate::{io::http, logic::hex};").is_some());
    assert!(hidden_import("use std::time::{Duration, Instant};").is_none());
    assert!(hidden_import("use crate::error::{Error, Result};").is_none());
}

#[test]
fn readme_names_every_source_file_and_config_key() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in src("") {
        // By path: mod.rs, chain.rs and market.rs each exist several times.
        let path = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            readme.contains(&format!("`{path}`")),
            "README code map does not list `{path}`"
        );
    }
    for (key, default, _) in allora_worker::config::KEYS {
        assert!(
            readme.contains(&format!("`{key}`")),
            "README configuration table lacks {key}"
        );
        // The default is written once, in KEYS; the README's row repeats it.
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{key}` |")))
            .unwrap_or_else(|| panic!("README has no table row for {key}"));
        let cell = row.split('|').nth(2).unwrap_or("").trim();
        let shown = if *default == "-" { "–" } else { default };
        assert_eq!(
            cell, shown,
            "README default of {key} differs from config::KEYS"
        );
    }
}
