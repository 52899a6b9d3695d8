//! The inbox directory (issue #13, item 3), through the real `iocd serve`:
//! drops are imported once complete (settled or `.done`), then filed in
//! `processed/` or `failed/` beside a report; inotify and polling; drops
//! present at start; never twice, also across a restart mid-import.

use crate::common;
use common::Server;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Settle time of the tests that wait for it, seconds.
const SETTLE: u64 = 3;

fn server(settle: u64, watch: &str) -> Server {
    Server::start_with(
        &format!(
            "[demo]\nseed_when_empty = false\n[inbox]\nsettle_secs = {settle}\npoll_secs = 1\nwatch = \"{watch}\"\n"
        ),
        &[],
    )
}

fn inbox(s: &Server) -> PathBuf {
    s.dir.path().join("data/inbox")
}

fn total(s: &Server) -> u64 {
    s.json("/api/v1/stats", &s.keys.pro)["total"]
        .as_u64()
        .unwrap()
}

/// The `.report.json` files in `inbox/<sub>`, parsed, in name order.
fn reports(s: &Server, sub: &str) -> Vec<Value> {
    let Ok(rd) = std::fs::read_dir(inbox(s).join(sub)) else {
        return Vec::new();
    };
    let mut names: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".report.json"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect()
}

/// Polls until `inbox/<sub>` holds `n` reports (deadline 30 s).
fn wait_reports(s: &Server, sub: &str, n: usize) -> Vec<Value> {
    let t0 = Instant::now();
    loop {
        let r = reports(s, sub);
        if r.len() >= n {
            return r;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no {n} report(s) in {sub}/ after 30 s; inbox holds {:?}",
            listing(&inbox(s))
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn listing(dir: &Path) -> Vec<String> {
    walk(dir, dir)
}

fn walk(root: &Path, dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if p.is_dir() {
                out.extend(walk(root, &p));
            }
        }
    }
    out.sort();
    out
}

/// `n` IPv4 lines, `203.0.113.<first>` on.
fn ips(first: u32, n: u32) -> String {
    (first..first + n)
        .map(|i| format!("203.0.113.{i}\n"))
        .collect()
}

#[test]
fn partial_write_is_imported_only_once_settled() {
    let s = server(SETTLE, "auto");
    let path = inbox(&s).join("list.txt");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(ips(1, 20).as_bytes()).unwrap();
    f.flush().unwrap();
    // The writer pauses (a slow copy) for less than the settle time.
    std::thread::sleep(Duration::from_millis(SETTLE * 1000 / 2));
    assert_eq!(total(&s), 0, "imported while still being written");
    assert!(path.exists(), "taken while still being written");
    assert!(reports(&s, "processed").is_empty());
    f.write_all(ips(21, 20).as_bytes()).unwrap();
    drop(f);
    let last_write = Instant::now();
    let r = wait_reports(&s, "processed", 1);
    assert!(
        last_write.elapsed() >= Duration::from_secs(SETTLE),
        "imported {:?} after the last write (settle {SETTLE} s)",
        last_write.elapsed()
    );
    assert_eq!(total(&s), 40);
    let r = &r[0];
    assert_eq!(r["outcome"], "processed", "{r}");
    assert_eq!(r["drop"], "list.txt", "{r}");
    assert_eq!(r["summary"]["observations"], 40, "{r}");
    assert_eq!(r["summary"]["new"], 40, "{r}");
    assert!(!path.exists());
    let moved = PathBuf::from(r["moved_to"].as_str().unwrap());
    assert!(moved.starts_with(inbox(&s).join("processed")), "{r}");
    assert_eq!(std::fs::read_to_string(&moved).unwrap(), ips(1, 40));
    // The report's file paths name the drop where it now is.
    assert_eq!(
        r["summary"]["files"][0]["path"],
        moved.display().to_string()
    );
    let txt = std::fs::read_to_string(format!("{}.report.txt", moved.display())).unwrap();
    assert!(txt.starts_with("list.txt: PROCESSED"), "{txt}");
    // The IOCs carry the inbox's source name.
    let v = s.json("/api/v1/iocs?source=inbox&limit=100", &s.keys.pro);
    assert_eq!(v["count"], 40, "{v}");
}

#[test]
fn done_marker_imports_at_once_and_a_good_file_reports_its_rejected_lines() {
    // Settle time far beyond the test's deadline: only the marker can do it.
    let s = server(3600, "auto");
    let good = format!("{}not an ioc at all\n{}", ips(1, 3), ips(4, 2));
    std::fs::write(inbox(&s).join("mixed.txt"), &good).unwrap();
    std::fs::write(inbox(&s).join("mixed.txt.done"), "").unwrap();
    let r = wait_reports(&s, "processed", 1);
    let r = &r[0];
    assert_eq!(r["outcome"], "processed", "{r}");
    assert_eq!(r["summary"]["observations"], 5, "{r}");
    assert_eq!(r["summary"]["new"], 5, "{r}");
    assert_eq!(r["summary"]["rejected"], 1, "{r}");
    let errors = r["summary"]["files"][0]["errors"].to_string();
    assert!(errors.contains("line 4"), "{errors}");
    assert!(!inbox(&s).join("mixed.txt.done").exists(), "marker left");
    // The counts in the report are the store's.
    assert_eq!(total(&s), 5);
    let v = s.json("/api/v1/iocs?source=inbox&limit=100", &s.keys.pro);
    let mut got: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["value"].as_str().unwrap())
        .collect();
    got.sort();
    let mut want: Vec<String> = (1..=5).map(|i| format!("203.0.113.{i}")).collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn a_directory_drop_is_imported_whole() {
    let s = server(3600, "auto");
    // Built under an in-progress name, renamed whole (the documented way).
    let tmp = inbox(&s).join("release-42.part");
    std::fs::create_dir_all(tmp.join("sub")).unwrap();
    std::fs::write(tmp.join("ips.txt"), ips(1, 4)).unwrap();
    std::fs::write(
        tmp.join("sub/hashes.csv"),
        "sha256,comment\n9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08,x\n",
    )
    .unwrap();
    std::fs::write(tmp.join("README.md"), "# about this release\n").unwrap();
    std::fs::rename(&tmp, inbox(&s).join("release-42")).unwrap();
    std::fs::write(inbox(&s).join("release-42.done"), "").unwrap();
    let r = wait_reports(&s, "processed", 1);
    let r = &r[0];
    assert_eq!(r["outcome"], "processed", "{r}");
    assert_eq!(r["drop"], "release-42", "{r}");
    assert_eq!(r["summary"]["files_read"], 2, "{r}");
    assert_eq!(r["summary"]["files_skipped"], 1, "{r}");
    assert_eq!(r["summary"]["new"], 5, "{r}");
    assert_eq!(total(&s), 5);
}

#[test]
fn a_bad_file_lands_in_failed_with_its_reason() {
    let s = server(1, "auto");
    std::fs::write(
        inbox(&s).join("broken.json"),
        b"{\"type\": \"bundle\", \"objects\": [",
    )
    .unwrap();
    let mut garbage = vec![0u8, 159, 146, 150, 0, 255, 1, 2];
    garbage.extend(std::iter::repeat_n(0u8, 4096));
    std::fs::write(inbox(&s).join("garbage.bin.ioc"), &garbage).unwrap();
    let r = wait_reports(&s, "failed", 2);
    for (r, name) in r.iter().zip(["broken.json", "garbage.bin.ioc"]) {
        assert_eq!(r["outcome"], "failed", "{r}");
        assert_eq!(r["drop"], name, "{r}");
        let reason = r["reason"].as_str().unwrap();
        assert!(reason.contains("could not be read at all"), "{reason}");
        let why = r["summary"]["files"][0]["failed"].as_str().unwrap();
        assert!(!why.is_empty(), "{r}");
        let moved = PathBuf::from(r["moved_to"].as_str().unwrap());
        assert!(
            moved.starts_with(inbox(&s).join("failed")) && moved.exists(),
            "{r}"
        );
        let txt = std::fs::read_to_string(format!("{}.report.txt", moved.display())).unwrap();
        assert!(txt.contains("FAILED") && txt.contains(why), "{txt}");
    }
    assert!(
        r[0]["summary"]["files"][0]["failed"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("json"),
        "{}",
        r[0]
    );
    assert_eq!(total(&s), 0);
    assert!(reports(&s, "processed").is_empty());
    // A symbolic link is not followed (it could point at the TLS key).
    let key = s.dir.path().join("data/tls/server.key");
    std::os::unix::fs::symlink(&key, inbox(&s).join("key.txt")).unwrap();
    let r = wait_reports(&s, "failed", 3);
    let r = r.iter().find(|r| r["drop"] == "key.txt").unwrap();
    assert!(
        r["reason"].as_str().unwrap().contains("symbolic link"),
        "{r}"
    );
    assert!(r["summary"].is_null(), "{r}");
    assert!(key.exists());
    // Text with no IOC in it is "nothing importable", also a failure.
    std::fs::write(inbox(&s).join("words.txt"), "hello\nworld\n").unwrap();
    let r = wait_reports(&s, "failed", 4);
    let r = r.iter().find(|r| r["drop"] == "words.txt").unwrap();
    assert!(
        r["reason"].as_str().unwrap().contains("nothing importable"),
        "{r}"
    );
    // The server still serves.
    assert_eq!(total(&s), 0);
}

#[test]
fn polling_mode_finds_drops_and_in_progress_names_are_left_alone() {
    let s = server(1, "poll");
    std::fs::write(inbox(&s).join("a.txt"), ips(1, 3)).unwrap();
    std::fs::write(inbox(&s).join("b.txt.part"), ips(10, 3)).unwrap();
    std::fs::write(inbox(&s).join(".c.txt.Xa81kq"), ips(20, 3)).unwrap();
    let r = wait_reports(&s, "processed", 1);
    assert_eq!(r[0]["drop"], "a.txt");
    assert_eq!(total(&s), 3);
    // The in-progress names are still there, untouched; renaming one
    // to its final name makes it a drop.
    assert!(inbox(&s).join("b.txt.part").exists());
    assert!(inbox(&s).join(".c.txt.Xa81kq").exists());
    std::fs::rename(inbox(&s).join("b.txt.part"), inbox(&s).join("b.txt")).unwrap();
    let r = wait_reports(&s, "processed", 2);
    assert_eq!(r.len(), 2);
    assert_eq!(total(&s), 6);
    let m = s.get("/metrics", &s.keys.stats_only).text().unwrap();
    assert!(
        m.contains("iocd_inbox_drops_total{outcome=\"processed\"} 2"),
        "{m}"
    );
}

#[test]
fn drops_present_at_start_are_imported_and_none_twice_across_restarts() {
    let mut s = server(1, "auto");
    std::fs::write(inbox(&s).join("first.txt"), ips(1, 2)).unwrap();
    wait_reports(&s, "processed", 1);
    assert_eq!(total(&s), 2);
    s.stop();
    // While stopped: a new drop, and a drop left mid-import by a crash.
    std::fs::write(inbox(&s).join("offline.txt"), ips(10, 3)).unwrap();
    let stuck = inbox(&s).join(".importing/20261201T000000Z-stuck.txt");
    std::fs::write(&stuck, ips(50, 7)).unwrap();
    s.spawn();
    let processed = wait_reports(&s, "processed", 2);
    let failed = wait_reports(&s, "failed", 1);
    assert_eq!(total(&s), 5, "offline.txt imported, stuck.txt not again");
    assert_eq!(failed[0]["drop"], "stuck.txt", "{}", failed[0]);
    assert!(
        failed[0]["reason"]
            .as_str()
            .unwrap()
            .contains("stopped during this import"),
        "{}",
        failed[0]
    );
    assert!(!stuck.exists());
    // A later drop is taken only after every scan before it: by then a
    // repeated import of first.txt or offline.txt would have happened.
    std::fs::write(inbox(&s).join("sentinel.txt"), ips(100, 1)).unwrap();
    std::fs::write(inbox(&s).join("sentinel.txt.done"), "").unwrap();
    let processed_after = wait_reports(&s, "processed", 3);
    let drops: Vec<&str> = processed_after
        .iter()
        .map(|r| r["drop"].as_str().unwrap())
        .collect();
    assert_eq!(processed.len(), 2);
    assert_eq!(drops, ["first.txt", "offline.txt", "sentinel.txt"]);
    assert_eq!(total(&s), 6);
}
