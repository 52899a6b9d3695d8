//! Test harness: runs the real `iocd` binary on a temporary data directory
//! and talks to it over HTTPS with reqwest trusting the generated CA.

#![allow(dead_code)]

pub mod client;
pub mod conformance;
pub use client::{Client, Response};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_iocd");

/// Runs `iocd args...`; returns (exit code, stdout, stderr).
pub fn iocd(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("IOCD_CONFIG")
        .env_remove("IOCD_DATA_DIR")
        .output()
        .expect("run iocd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Keys created before the server starts.
pub struct Keys {
    pub admin: String,
    pub pro: String,
    pub free: String,
    /// Only `read:stats`.
    pub stats_only: String,
    pub revoked: String,
    /// Extra keys created by `extra_keys` (name → key).
    pub extra: Vec<(String, String)>,
}

pub struct Server {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub child: Option<Child>,
    pub base: String,
    pub keys: Keys,
    /// Checks every answer against the OpenAPI document ([`conformance`]).
    pub client: Client,
    /// `IOCD_LOG` of the next [`Server::spawn`] (default `warn`).
    pub log_level: &'static str,
    /// Every stderr line of the running server (its log).
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

fn create_key(cfg: &Path, name: &str, tier: &str, scopes: Option<&str>) -> String {
    let c = cfg.to_str().unwrap();
    let mut args = vec![
        "keys", "--config", c, "create", "--name", name, "--tier", tier,
    ];
    if let Some(s) = scopes {
        args.extend(["--scopes", s]);
    }
    let (code, out, err) = iocd(&args);
    assert_eq!(code, 0, "keys create failed: {err}");
    out.trim().to_string()
}

/// `[expiry]` with every lifetime 0 (never), the test servers' default.
pub const NEVER_EXPIRE: &str = "[expiry]\nipv4 = 0\nipv6 = 0\ndomain = 0\nurl = 0\nemail = 0\n";

impl Server {
    /// `iocd init`, `[expiry]` set to never, then `config_extra` appended to the config (TOML
    /// tables), keys created, then `iocd serve --listen 127.0.0.1:0`.
    /// `extra_keys`: (name, tier, scopes) to create too.
    pub fn start_with(config_extra: &str, extra_keys: &[(&str, &str, Option<&str>)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let config = dir.path().join("iocd.toml");
        let (code, out, err) = iocd(&[
            "init",
            "--demo",
            "--data-dir",
            data.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "init failed: {err}");
        let admin = out.trim().to_string();
        assert!(admin.starts_with("sk_live_"), "init stdout: {out}");
        // Test data carries real 2014-2024 sighting dates: nothing expires
        // unless a test sets `[expiry]` lifetimes itself (tests/it/expiry.rs).
        let mut t = std::fs::read_to_string(&config).unwrap();
        t = apply_overrides(&t, NEVER_EXPIRE);
        t = apply_overrides(&t, config_extra);
        std::fs::write(&config, t).unwrap();
        let pro = create_key(&config, "pro", "pro", None);
        let free = create_key(&config, "free", "free", None);
        let stats_only = create_key(&config, "stats", "pro", Some("read:stats"));
        let revoked = create_key(&config, "gone", "pro", None);
        let rid = revoked.split('_').nth(2).unwrap().to_string();
        let (code, _, err) = iocd(&["keys", "--config", config.to_str().unwrap(), "revoke", &rid]);
        assert_eq!(code, 0, "{err}");
        let extra = extra_keys
            .iter()
            .map(|(n, t, s)| (n.to_string(), create_key(&config, n, t, *s)))
            .collect();
        let mut s = Server {
            dir,
            config,
            child: None,
            base: String::new(),
            keys: Keys {
                admin,
                pro,
                free,
                stats_only,
                revoked,
                extra,
            },
            client: Client::default(),
            log_level: "warn",
            log: Default::default(),
        };
        s.spawn();
        s
    }

    pub fn start() -> Server {
        Server::start_with("", &[])
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("data/tls/ca.crt")
    }

    /// Starts (or restarts) `iocd serve` and waits for its listen line.
    pub fn spawn(&mut self) {
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--config",
                self.config.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
            .env("IOCD_LOG", self.log_level)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log = self.log.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log.lock().unwrap().push(line.clone());
                if !sent {
                    if let Some(rest) = line.split("listening on https://").nth(1) {
                        let addr = rest.split('/').next().unwrap().to_string();
                        let _ = tx.send(addr);
                        sent = true;
                    }
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server did not start");
        self.base = format!("https://{addr}");
        let ca = std::fs::read(self.ca()).unwrap();
        self.client = Client::from(
            reqwest::blocking::Client::builder()
                .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        );
        self.child = Some(child);
    }

    /// SIGTERM and wait; returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let t0 = Instant::now();
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return st.code();
            }
            if t0.elapsed() > Duration::from_secs(30) {
                let _ = c.kill();
                panic!("server did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn get(&self, path: &str, key: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .unwrap()
    }

    pub fn json(&self, path: &str, key: &str) -> serde_json::Value {
        let r = self.get(path, key);
        assert_eq!(r.status(), 200, "{path}: {}", r.text().unwrap_or_default());
        r.json().unwrap()
    }

    pub fn post_json(&self, path: &str, key: &str, body: &serde_json::Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .unwrap()
    }

    pub fn extra(&self, name: &str) -> &str {
        &self.keys.extra.iter().find(|(n, _)| n == name).unwrap().1
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Appends tables to the config text; a `[section]` already present gets
/// its keys replaced line by line (simple `key = value` forms only).
pub fn apply_overrides(base: &str, extra: &str) -> String {
    let mut text = base.to_string();
    let mut section = String::new();
    let mut append = String::new();
    for line in extra.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            section = t.to_string();
            if find_section(&text, &section).is_none() {
                append.push_str(line);
                append.push('\n');
            }
            continue;
        }
        let Some((k, _)) = t.split_once('=') else {
            continue;
        };
        let k = k.trim();
        if let Some(start) = find_section(&text, &section) {
            // Replace the key inside that section.
            let end = text[start + section.len()..]
                .find("\n[")
                .map(|i| start + section.len() + i)
                .unwrap_or(text.len());
            let body = &text[start..end];
            let new_body = if let Some(pos) = body.lines().position(|l| {
                l.trim_start().starts_with(&format!("{k} "))
                    || l.trim_start().starts_with(&format!("{k}="))
            }) {
                let mut lines: Vec<&str> = body.lines().collect();
                lines[pos] = line;
                lines.join("\n")
            } else {
                format!("{body}\n{line}")
            };
            text = format!("{}{}{}", &text[..start], new_body, &text[end..]);
        } else {
            append.push_str(line);
            append.push('\n');
        }
    }
    format!("{text}\n{append}")
}

/// Where `section` (`[name]`) starts a line of `text` (a commented-out
/// `# [[feeds]]` does not count); the empty section is the top level.
fn find_section(text: &str, section: &str) -> Option<usize> {
    if section.is_empty() || text.starts_with(section) {
        return Some(0);
    }
    text.find(&format!("\n{section}")).map(|i| i + 1)
}

/// The code of an error envelope.
pub fn code(v: &serde_json::Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}
