//! API fuzzing with schemathesis (issue #15, item 2): every operation of
//! iocd's own `/api/openapi.json`, TAXII and keys included, with generated
//! valid and invalid requests under an admin key. Checks: no 5xx, every
//! status documented for its operation, the declared Content-Type, and the
//! body matching the response schema. Runs when `tests/.venv` has
//! schemathesis (tests/requirements.txt); prints SKIP otherwise.
//!
//! `IOCD_SCHEMATHESIS_EXAMPLES` (default 15) bounds the examples per
//! operation; the seed is fixed so a failure replays.

use crate::common::Server;
use std::path::Path;
use std::process::Command;

#[test]
fn schemathesis_finds_no_server_error_and_no_contract_break() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let st = root.join("tests/.venv/bin/schemathesis");
    if !st.exists() {
        println!(
            "SKIP: no schemathesis at {} (bash tests/run builds the venv)",
            st.display()
        );
        return;
    }
    let examples = std::env::var("IOCD_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "15".into());
    // The admin key's tier gets room for thousands of requests a minute:
    // the run measures the contract, not the rate limiter.
    let s = Server::start_with(
        "[tiers.pro]\nrequests_per_minute = 1000000\nrequests_per_day = 100000000\n",
        &[],
    );
    // schemathesis keeps its state (.schemathesis/) in the working directory.
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(&st)
        .current_dir(work.path())
        .args(["run", &s.url("/api/openapi.json")])
        .args(["--header", &format!("Authorization: Bearer {}", s.keys.admin)])
        .args(["--tls-verify", s.ca().to_str().unwrap()])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", &examples, "--seed", "20261204", "--workers", "2"])
        .args(["--request-timeout", "30", "--no-color"])
        .env("NO_COLOR", "1")
        .output()
        .expect("run schemathesis");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let tail: Vec<&str> = text.lines().rev().take(60).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    println!("schemathesis summary:\n{}", tail.join("\n"));
    assert!(
        out.status.success(),
        "schemathesis found failures (exit {:?}):\n{text}",
        out.status.code()
    );
    // It really exercised the document: every operation, thousands of cases.
    let grab = |prefix: &str| -> Option<&str> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .map(str::trim)
    };
    let selected = grab("Selected:").unwrap_or_default().to_string();
    let (ran, total) = selected.split_once('/').unwrap_or(("0", "0"));
    assert_eq!(ran, total, "not every operation ran:\n{text}");
    let total: usize = total.parse().unwrap_or(0);
    assert!(
        total >= 30,
        "only {total} operations in the document:\n{text}"
    );
    let cases = text
        .lines()
        .find(|l| l.contains(" generated, "))
        .unwrap_or_default()
        .trim()
        .to_string();
    let generated: usize = cases
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        generated >= 10 * total,
        "few cases generated ({cases}):\n{text}"
    );
    println!("SCHEMATHESIS: {total} operations, {cases}, up to {examples} examples per operation and phase");
}
