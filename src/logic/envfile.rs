//! Parser for `KEY=VALUE` env files, the same files systemd reads with
//! `EnvironmentFile=`: `#` comment lines, blank lines, an optional `export `
//! prefix, optional single or double quotes around the value, and a
//! `  # comment` after an unquoted value (systemd itself keeps that comment in
//! the value, so a file meant for `EnvironmentFile=` should not use it).
//!
//! Pure (`&str` in). Errors name the line number, never the line's content,
//! because an env file may hold a mnemonic.

use crate::error::{Error, Result};

/// One `KEY=VALUE` assignment and the line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// Parses a whole env file. `origin` names the file in error messages.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Assignment>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let bad = |what: &str| Error::Usage(format!("{origin}: line {}: {what}", i + 1));
        let (key, rest) = line
            .split_once('=')
            .ok_or_else(|| bad("expected KEY=VALUE"))?;
        let key = key.trim_end();
        if !is_valid_key(key) {
            return Err(bad(
                "the key must be letters, digits and underscores, not starting with a digit",
            ));
        }
        let value = unquote(rest.trim()).ok_or_else(|| bad("unterminated quote in the value"))?;
        out.push(Assignment {
            key: key.to_string(),
            value,
            line: i + 1,
        });
    }
    Ok(out)
}

fn is_valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// An unquoted value ends before whitespace followed by `#` (`KEY=value  #
/// comment`, as python-dotenv and docker compose read it); a `#` inside a
/// word (`a#b`) is kept.
fn strip_comment(v: &str) -> &str {
    let cut = v
        .char_indices()
        .find(|(i, c)| *c == '#' && v[..*i].ends_with(char::is_whitespace))
        .map_or(v.len(), |(i, _)| i);
    v[..cut].trim_end()
}

/// Removes one layer of quotes. Double quotes understand `\"`, `\\`, `\n`;
/// single quotes are literal. Text after the closing quote must be empty or a
/// `#` comment. Unquoted values are taken as they are.
fn unquote(v: &str) -> Option<String> {
    let quote = match v.chars().next() {
        Some(q @ ('"' | '\'')) => q,
        _ => return Some(strip_comment(v).to_string()),
    };
    let mut out = String::new();
    let mut chars = v[1..].chars();
    while let Some(c) = chars.next() {
        if c == quote {
            let tail = chars.as_str().trim();
            return (tail.is_empty() || tail.starts_with('#')).then_some(out);
        }
        if c == '\\' && quote == '"' {
            match chars.next()? {
                'n' => out.push('\n'),
                other => out.push(other),
            }
        } else {
            out.push(c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: &[(&str, &str)]) {
        let got = parse(text, "test.env").unwrap();
        let got: Vec<(&str, &str)> = got
            .iter()
            .map(|a| (a.key.as_str(), a.value.as_str()))
            .collect();
        assert_eq!(got, expected, "{text:?}");
    }

    #[test]
    fn table() {
        check("A=1", &[("A", "1")]);
        check("A=value  # comment", &[("A", "value")]);
        check("A=v\t# c\nB=a#b", &[("A", "v"), ("B", "a#b")]);
        check("A=\"x # y\" # z", &[("A", "x # y")]);
        check(
            "# c\n\nA=1\n  B = two words ",
            &[("A", "1"), ("B", "two words")],
        );
        check("export TOPIC_ID=67", &[("TOPIC_ID", "67")]);
        check("M=\"a b c\"", &[("M", "a b c")]);
        check("M='a \"b\" c'", &[("M", "a \"b\" c")]);
        check("M=\"x\\\"y\" # note", &[("M", "x\"y")]);
        check("EMPTY=", &[("EMPTY", "")]);
        check("U=http://x/#frag", &[("U", "http://x/#frag")]);
    }

    #[test]
    fn errors_name_the_line_not_the_content() {
        let e = parse("A=1\nsecret words here\n", "f.env")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "f.env: line 2: expected KEY=VALUE");
        let e = parse("M=\"abandon zoo", "f.env").unwrap_err().to_string();
        assert!(e.contains("line 1") && !e.contains("abandon"), "{e}");
        assert!(parse("1A=2", "f").is_err());
        assert!(parse("A B=2", "f").is_err());
    }
}
