//! Issue #11 item 9, through the real binary: backups and exports are
//! written through O_EXCL temporary files with their own mode and never
//! through a planted symbolic link; files iocd reads must be regular and
//! small enough; restore refuses an altered (re-checksummed) backup and an
//! inconsistent one before it replaces anything; a world-readable TLS key
//! is warned about.

use crate::common;

use common::{iocd, Server};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A stopped server's data: config path, data dir, the keys it made.
fn stopped(s: &mut Server) -> (String, PathBuf) {
    s.stop();
    (
        s.config.to_str().unwrap().to_string(),
        s.dir.path().join("data"),
    )
}

fn demo_off() -> Server {
    Server::start_with("[demo]\nseed_when_empty = false\n", &[])
}

/// A backup split as the documented format 2 lays it out.
struct Parsed {
    head: Vec<u8>,
    entries: Vec<(u8, Vec<u8>, Vec<u8>)>,
    mac: Vec<u8>,
}

fn parse(b: &[u8]) -> Parsed {
    assert_eq!(&b[..8], b"IOCDBAK\n");
    assert_eq!(b[8], 2, "format 2 (signed)");
    let hlen = u32::from_be_bytes(b[9..13].try_into().unwrap()) as usize;
    let head = b[..13 + hlen].to_vec();
    let mut at = 13 + hlen;
    let mut entries = Vec::new();
    while b[at] != 0xFF {
        let tree = b[at];
        let kl = u32::from_be_bytes(b[at + 1..at + 5].try_into().unwrap()) as usize;
        let k = b[at + 5..at + 5 + kl].to_vec();
        at += 5 + kl;
        let vl = u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
        let v = b[at + 4..at + 4 + vl].to_vec();
        at += 4 + vl;
        entries.push((tree, k, v));
    }
    Parsed {
        head,
        entries,
        mac: b[b.len() - 32..].to_vec(),
    }
}

/// Re-serializes, with a correct SHA-256, and a signature that is either
/// the old one (an attacker without the key) or made with `key`.
fn build(p: &Parsed, key: Option<&[u8]>) -> Vec<u8> {
    let mut out = p.head.clone();
    for (t, k, v) in &p.entries {
        out.push(*t);
        out.extend_from_slice(&(k.len() as u32).to_be_bytes());
        out.extend_from_slice(k);
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v);
    }
    out.push(0xFF);
    out.extend_from_slice(&(p.entries.len() as u64).to_be_bytes());
    let sha = ring::digest::digest(&ring::digest::SHA256, &out);
    out.extend_from_slice(sha.as_ref());
    match key {
        Some(k) => {
            let tag = ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, k), &out);
            out.extend_from_slice(tag.as_ref());
        }
        None => out.extend_from_slice(&p.mac),
    }
    out
}

fn backup_key(data: &Path) -> Vec<u8> {
    let hex = std::fs::read_to_string(data.join("backup.key")).unwrap();
    let hex = hex.trim();
    (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Removes the `store.replaced-<time>` copies `restore --force` keeps
/// (named to the second: two restores in one second would collide).
fn clear_replaced(data: &Path) {
    for e in std::fs::read_dir(data).unwrap() {
        let e = e.unwrap();
        if e.file_name()
            .to_string_lossy()
            .starts_with("store.replaced-")
        {
            std::fs::remove_dir_all(e.path()).unwrap();
        }
    }
}

/// The keys the store holds, as `iocd keys list` prints them.
fn keys_list(cfg: &str) -> String {
    let (code, out, err) = iocd(&["keys", "--config", cfg, "list"]);
    assert_eq!(code, 0, "{err}");
    out
}

#[test]
fn an_edited_key_record_does_not_restore_silently() {
    let mut s = demo_off();
    let (cfg, data) = stopped(&mut s);
    assert_eq!(
        mode(&data.join("backup.key")),
        0o600,
        "init creates the key"
    );
    let bak = s.dir.path().join("b.iocdbak");
    let (code, _, err) = iocd(&["backup", "--config", &cfg, "--to", bak.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("signed with the backup key"), "{err}");
    assert_eq!(mode(&bak), 0o600);

    // Make the free key an admin key, and fix the checksum (not the HMAC:
    // the attacker has no backup key).
    let mut p = parse(&std::fs::read(&bak).unwrap());
    let free_id = s.keys.free.split('_').nth(2).unwrap().to_string();
    let entry = p
        .entries
        .iter_mut()
        .find(|(t, k, _)| *t == 2 && k == free_id.as_bytes())
        .expect("the free key's record");
    let mut rec = iocd::store::keys::decode_key(&entry.2).unwrap();
    rec.scopes = vec!["admin".into()];
    rec.tier = "pro".into();
    entry.2 = iocd::store::keys::encode_key(&rec);
    let edited = s.dir.path().join("edited.iocdbak");
    std::fs::write(&edited, build(&p, None)).unwrap();

    let before = keys_list(&cfg);
    let (code, _, err) = iocd(&[
        "restore",
        "--config",
        &cfg,
        "--from",
        edited.to_str().unwrap(),
        "--force",
    ]);
    assert_ne!(code, 0, "an altered backup restored: {err}");
    assert!(err.contains("altered"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(keys_list(&cfg), before, "the store changed");
    assert!(!data.join("store.restoring").exists());

    // Told it is trusted input, it restores and names the admin keys.
    clear_replaced(&data);
    let (code, _, err) = iocd(&[
        "restore",
        "--config",
        &cfg,
        "--from",
        edited.to_str().unwrap(),
        "--force",
        "--trust-unsigned",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("admin keys"), "{err}");
    assert!(err.contains(&format!("free ({free_id})")), "{err}");

    // The genuine backup restores, its signature verified.
    clear_replaced(&data);
    let (code, _, err) = iocd(&[
        "restore",
        "--config",
        &cfg,
        "--from",
        bak.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("signature verified"), "{err}");

    // Without the key (a new machine), it is refused until --backup-key.
    let fresh = s.dir.path().join("fresh");
    let (code, _, err) = iocd(&[
        "restore",
        "--data-dir",
        fresh.to_str().unwrap(),
        "--from",
        bak.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("--backup-key"), "{err}");
    let (code, _, err) = iocd(&[
        "restore",
        "--data-dir",
        fresh.to_str().unwrap(),
        "--from",
        bak.to_str().unwrap(),
        "--backup-key",
        data.join("backup.key").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn an_inconsistent_backup_is_refused_before_it_replaces_anything() {
    let mut s = demo_off();
    let r = s.post_json(
        "/api/v1/iocs",
        &s.keys.admin,
        &serde_json::json!(["a.example", "b.example", "198.51.100.7"]),
    );
    assert_eq!(r.status(), 200);
    let (cfg, data) = stopped(&mut s);
    let bak = s.dir.path().join("b.iocdbak");
    let (code, _, err) = iocd(&["backup", "--config", &cfg, "--to", bak.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    // Drop a block's header and sign it properly: the signature is good,
    // the content is not consistent.
    let mut p = parse(&std::fs::read(&bak).unwrap());
    let n = p.entries.len();
    p.entries.retain(|(t, k, _)| !(*t == 1 && k[0] == b'H'));
    assert!(p.entries.len() < n);
    let bad = s.dir.path().join("bad.iocdbak");
    std::fs::write(&bad, build(&p, Some(&backup_key(&data)))).unwrap();
    // Another IOC so the current store differs from the backup.
    let more = s.dir.path().join("more.txt");
    std::fs::write(&more, "c.example\n").unwrap();
    let (code, _, err) = iocd(&["import", "--config", &cfg, more.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, before, _) = iocd(&["stats", "--config", &cfg]);
    assert_eq!(code, 0);
    let (code, _, err) = iocd(&[
        "restore",
        "--config",
        &cfg,
        "--from",
        bad.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("inconsistent") && err.contains("nothing was changed"),
        "{err}"
    );
    assert!(err.contains("missing_header"), "{err}");
    let (_, after, _) = iocd(&["stats", "--config", &cfg]);
    assert_eq!(before, after);
    let leftovers: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("store."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn backup_and_export_never_write_through_a_planted_link() {
    let mut s = demo_off();
    let (cfg, _) = stopped(&mut s);
    let dir = s.dir.path().join("out");
    std::fs::create_dir(&dir).unwrap();
    let victim = s.dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    for (cmd, flag) in [("backup", "--to"), ("export", "-o")] {
        let link = dir.join(format!("{cmd}.out"));
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let mut args = vec![cmd, "--config", &cfg, flag, link.to_str().unwrap()];
        if cmd == "backup" {
            args.push("--force");
        }
        let (code, _, err) = iocd(&args);
        assert_ne!(code, 0, "{cmd} wrote through a symlink");
        assert!(err.contains("symbolic link"), "{cmd}: {err}");
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "precious",
            "{cmd}"
        );
        std::fs::remove_file(&link).unwrap();
        // A regular target: written, with the command's own mode, and no
        // temporary file left beside it.
        let (code, _, err) = iocd(&[cmd, "--config", &cfg, flag, link.to_str().unwrap()]);
        assert_eq!(code, 0, "{cmd}: {err}");
        assert_eq!(
            mode(&link),
            if cmd == "backup" { 0o600 } else { 0o640 },
            "{cmd}"
        );
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| !n.ends_with(".tmp") && !n.contains("partial")),
            "{names:?}"
        );
    }
    // An existing backup is not replaced without --force.
    let (code, _, err) = iocd(&[
        "backup",
        "--config",
        &cfg,
        "--to",
        dir.join("backup.out").to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("--force"), "{err}");
}

#[test]
fn files_iocd_reads_must_be_regular_and_bounded() {
    let d = tempfile::tempdir().unwrap();
    // Config: a device, a FIFO (must not block), a directory, 2 MiB.
    let fifo = d.path().join("fifo.toml");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let big = d.path().join("big.toml");
    std::fs::write(&big, format!("# {}\n", "x".repeat(2 << 20))).unwrap();
    for (p, want) in [
        (PathBuf::from("/dev/zero"), "is a device"),
        (fifo.clone(), "is a pipe"),
        (d.path().to_path_buf(), "is a directory"),
        (big.clone(), "larger than"),
    ] {
        let (code, _, err) = iocd(&["check-config", "--config", p.to_str().unwrap()]);
        assert_eq!(code, 1, "{}", p.display());
        assert!(err.contains(want), "{}: {err}", p.display());
    }
    // Backups: restore from a FIFO or a directory is refused.
    for p in [&fifo, &d.path().to_path_buf()] {
        let (code, _, err) = iocd(&[
            "restore",
            "--data-dir",
            d.path().join("dd").to_str().unwrap(),
            "--from",
            p.to_str().unwrap(),
        ]);
        assert_ne!(code, 0);
        assert!(err.contains("regular files"), "{err}");
    }
}

#[test]
fn a_world_readable_tls_key_is_warned_about_and_a_fifo_key_refused() {
    let mut s = demo_off();
    let (cfg, data) = stopped(&mut s);
    let key = data.join("tls/server.key");
    assert_eq!(mode(&key), 0o600);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, out, err) = iocd(&["check-config", "--config", &cfg]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("OK"));
    assert!(
        err.contains("readable by every user") && err.contains("server.key"),
        "{err}"
    );
    // The server says so at start too.
    let mut child = std::process::Command::new(common::BIN)
        .args(["serve", "--config", &cfg, "--listen", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut seen = String::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("listening on") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.contains("readable by every user"), "{seen}");
    // A FIFO in place of the key: refused at once, not waited on.
    std::fs::remove_file(&key).unwrap();
    assert!(std::process::Command::new("mkfifo")
        .arg(&key)
        .status()
        .unwrap()
        .success());
    let (code, _, err) = iocd(&["check-config", "--config", &cfg]);
    assert_eq!(code, 1);
    assert!(err.contains("is a pipe"), "{err}");
}
