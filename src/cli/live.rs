//! The CLI commands through a running server (issue #13, item 1): the
//! requests `iocd stats`, `keys`, `export` and `import` send over the
//! control socket ([`crate::ops::control`]), the client that relays the
//! replies, and the server side that runs them on the server's store.
//!
//! Why the server runs the very code of the offline command and the client
//! only relays: output and exit codes are then the same in both modes by
//! construction, not by keeping two renderings in step. Each command is
//! split into a part that needs the store and writes to `out`/`err`
//! writers (`stats_cmd::render`, `keys_cmd::execute`,
//! `export_cmd::write_body`, `import_cmd::ingest_files`) and a part that
//! stays with the operator (reading the config, walking the import paths,
//! writing the export file atomically, printing the import summary). The
//! server's writers are frames ([`crate::ops::frames`]); the client copies
//! standard-output frames to its standard output (or the export file) and
//! standard-error frames to its standard error, and ends with the exit
//! code or the error message the offline command would have given.

use crate::cli::export_cmd::ExportArgs;
use crate::cli::keys_cmd::KeysCmd;
use crate::http::AppState;
use crate::ops::control;
use crate::ops::frames::{self, read_frame, write_frame, FrameWriter};
use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Largest JSON result a client accepts (an import summary of many files).
const MAX_RESULT_BYTES: usize = 256 << 20;

/// One command for the running server: the JSON request line of the
/// control protocol (`{"cmd":"stats","json":false}` …).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// `iocd stats [--json]`.
    Stats { json: bool },
    /// `iocd keys create|list|revoke|rotate`, with the server's tiers.
    Keys { keys: KeysCmd },
    /// `iocd export`: the body comes back as standard-output frames, the
    /// IOC count as the result.
    Export { export: Box<ExportArgs> },
    /// `iocd import`: the client uploads the files after the request
    /// ([`crate::cli::import_live`]); the result is the server's part of
    /// the summary.
    Import(crate::cli::import_live::ImportRequest),
}

/// Sends `req` to the server of `data_dir`: `Ok(None)` when none runs
/// there, else the connection positioned at the reply frames.
pub fn connect(data_dir: &Path, req: &Request) -> Result<Option<io::BufReader<UnixStream>>> {
    control::request(data_dir, &serde_json::to_string(req)?)
}

/// What a command sent back: its exit code and JSON result bytes.
pub struct Reply {
    pub code: i32,
    pub result: Vec<u8>,
}

/// Reads reply frames until the exit code: standard-output frames go to
/// `out`, standard-error frames to this process's stderr, progress to
/// `progress`. An error frame becomes the error (the offline message); a
/// connection that ends early says so.
pub fn receive(r: &mut impl Read, out: &mut dyn Write, progress: &dyn Fn(u64)) -> Result<Reply> {
    let mut result = Vec::new();
    let stderr = io::stderr();
    loop {
        let frame = read_frame(r).map_err(|e| anyhow!("the control connection failed: {e}"))?;
        let Some((tag, payload)) = frame else {
            bail!("the server closed the control connection before the command finished (did it stop? see its log)");
        };
        match tag {
            frames::STDOUT => out.write_all(&payload)?,
            frames::STDERR => {
                let mut e = stderr.lock();
                e.write_all(&payload)?;
                e.flush()?;
            }
            frames::PROGRESS => {
                if let Some(n) = std::str::from_utf8(&payload)
                    .ok()
                    .and_then(|t| t.parse().ok())
                {
                    progress(n);
                }
            }
            frames::RESULT => {
                if result.len() + payload.len() > MAX_RESULT_BYTES {
                    bail!("the server's result is over {MAX_RESULT_BYTES} bytes");
                }
                result.extend_from_slice(&payload);
            }
            frames::EXIT => {
                let code = std::str::from_utf8(&payload)
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .ok_or_else(|| anyhow!("the server sent a malformed exit code"))?;
                out.flush()?;
                return Ok(Reply { code, result });
            }
            frames::ERROR => bail!("{}", String::from_utf8_lossy(&payload)),
            other => bail!(
                "the server sent an unknown control frame '{}'",
                char::from(other)
            ),
        }
    }
}

/// Runs `req` on the server of `data_dir` with its output on this
/// process's stdout and stderr: `Ok(None)` when no server runs there,
/// else the exit code.
pub fn run_remote(data_dir: &Path, req: &Request) -> Result<Option<i32>> {
    let Some(mut r) = connect(data_dir, req)? else {
        return Ok(None);
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let reply = receive(&mut r, &mut out, &|_| {})?;
    Ok(Some(reply.code))
}

/// Server side: runs `req` on the server's store, its output as frames on
/// `w`, then the exit frame (or the error frame with the message the
/// offline command prints). `r` carries the import upload.
pub fn serve(
    state: &AppState,
    req: Request,
    r: &mut dyn BufRead,
    w: &UnixStream,
) -> io::Result<()> {
    let store = &state.store;
    let cfg = state.config();
    let mut out = BufWriter::with_capacity(256 * 1024, FrameWriter::new(w, frames::STDOUT));
    let mut err = BufWriter::new(FrameWriter::new(w, frames::STDERR));
    let mut result = Vec::new();
    let outcome: Result<i32> = match req {
        Request::Stats { json } => crate::cli::stats_cmd::gather(store, &cfg)
            .and_then(|s| crate::cli::stats_cmd::render(&s, json, &mut out).map_err(Into::into))
            .map(|()| 0),
        Request::Keys { keys } => {
            let r = crate::cli::keys_cmd::execute(store, &cfg, &keys, &mut out, &mut err);
            // A revoked or rotated key stops authenticating at once, as
            // with DELETE /api/v1/keys/{id} (the verified-key cache would
            // otherwise accept the old secret until its next re-check).
            if let KeysCmd::Revoke { id } | KeysCmd::Rotate { id } = &keys {
                state.auth.forget(id);
                state.limiter.forget(id);
            }
            r.map(|()| 0)
        }
        Request::Export { export } => {
            crate::cli::export_cmd::write_body(store, &cfg, &export, &mut out)
                .map_err(Into::into)
                .and_then(|n| {
                    result = serde_json::to_vec(&n)?;
                    Ok(0)
                })
        }
        Request::Import(imp) => crate::cli::import_live::serve(store, &imp, r, w).and_then(|s| {
            result = serde_json::to_vec(&s)?;
            Ok(0)
        }),
    };
    out.flush()?;
    err.flush()?;
    drop((out, err));
    let mut w = w;
    match outcome {
        Ok(code) => {
            let mut rw = BufWriter::new(FrameWriter::new(w, frames::RESULT));
            rw.write_all(&result)?;
            rw.flush()?;
            drop(rw);
            write_frame(&mut w, frames::EXIT, code.to_string().as_bytes())
        }
        Err(e) => {
            let msg = format!("{e:#}");
            tracing::warn!(error = %msg, "control socket: command failed");
            let cut = &msg.as_bytes()[..msg.len().min(frames::MAX_FRAME)];
            write_frame(&mut w, frames::ERROR, cut)
        }
    }
}
