//! JSON parsing that forgives one common hand-editing mistake: a trailing
//! comma before `]` or `}` (real MISP exports published with one exist).
//!
//! Strict parse first; on failure, blank out trailing commas outside strings
//! (replaced by a space, so line and column numbers still point into the
//! original file) and parse once more. If that works the caller gets a
//! warning; if not, the error of the second attempt — the first problem that
//! is not a trailing comma — is reported.

use super::FileError;
use serde_json::Value;

/// Parses `bytes` as JSON. Returns the value and the warnings (at most one).
///
/// Errors: [`FileError::InvalidJson`] with the 1-based line and column.
pub(crate) fn parse(bytes: &[u8]) -> Result<(Value, Vec<String>), FileError> {
    let first = match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => return Ok((v, Vec::new())),
        Err(e) => e,
    };
    let (fixed, removed) = strip_trailing_commas(bytes);
    if removed == 0 {
        return Err(invalid(&first));
    }
    match serde_json::from_slice::<Value>(&fixed) {
        Ok(v) => Ok((
            v,
            vec![format!(
                "invalid JSON: {removed} trailing comma(s) before ']' or '}}' (first at line {}, column {}); read as if they were absent",
                first.line(),
                first.column()
            )],
        )),
        Err(e) => Err(invalid(&e)),
    }
}

fn invalid(e: &serde_json::Error) -> FileError {
    let full = e.to_string();
    // serde_json appends " at line L column C"; the variant carries those.
    let msg = match full.rsplit_once(" at line ") {
        Some((m, _)) => m.to_string(),
        None => full,
    };
    let msg = if e.is_eof() {
        format!("{msg} (the file is truncated?)")
    } else {
        msg
    };
    FileError::InvalidJson {
        line: e.line(),
        column: e.column(),
        msg,
    }
}

/// Copies `bytes` with every `,` that is followed (after whitespace) by `]`
/// or `}` and is not inside a string replaced by a space. Returns the copy
/// and how many commas were replaced.
fn strip_trailing_commas(bytes: &[u8]) -> (Vec<u8>, usize) {
    let mut out = bytes.to_vec();
    let mut removed = 0;
    let mut in_string = false;
    let mut escaped = false;
    for i in 0..bytes.len() {
        let b = bytes[i];
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b',' => {
                let next = bytes[i + 1..].iter().find(|c| !c.is_ascii_whitespace());
                if matches!(next, Some(b']' | b'}')) {
                    out[i] = b' ';
                    removed += 1;
                }
            }
            _ => {}
        }
    }
    (out, removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_commas_are_forgiven_with_a_warning() {
        let (v, w) = parse(b"{\"a\": [1, 2,\n ], \"s\": \",]\",}").unwrap();
        assert_eq!(v["a"].as_array().map(Vec::len), Some(2));
        assert_eq!(v["s"], ",]");
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("2 trailing comma(s)"), "{}", w[0]);
    }

    #[test]
    fn other_errors_keep_their_position() {
        match parse(b"{\"a\": [1,],\n \"b\": tru}") {
            Err(FileError::InvalidJson { line, column, .. }) => assert_eq!((line, column), (2, 10)),
            other => panic!("{other:?}"),
        }
        match parse(b"{\"a\": [1, 2") {
            Err(FileError::InvalidJson { msg, .. }) => assert!(msg.contains("truncated"), "{msg}"),
            other => panic!("{other:?}"),
        }
    }
}
