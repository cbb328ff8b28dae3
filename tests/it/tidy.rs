//! Tidy checks on the source tree: every file under `src/` opens with `//!`,
//! and the code (not the comments) of `src/logic/` uses no I/O, clock, env,
//! threads or logging.

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

#[test]
fn every_source_file_opens_with_a_module_doc() {
    for file in src("") {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("//!"),
            "{} must open with //! saying what it owns",
            file.display()
        );
    }
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
    }
}

#[test]
fn the_check_itself_catches_a_violation() {
    assert!(code_only("let x = std::fs::read(p); // fine").contains("std::fs"));
    assert!(!code_only("// std::fs is not used here").contains("std::fs"));
}

#[test]
fn readme_names_every_source_file_and_config_key() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for file in src("") {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            readme.contains(&name),
            "README code map does not mention {name}"
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
