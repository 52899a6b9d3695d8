//! `iocd import` through a running server: the client walks and reads the
//! files, the server parses and ingests them (issue #13, item 1).
//!
//! Why the client reads: the server may not be able to (the systemd unit
//! has `ProtectHome` and `PrivateTmp`), and the paths in the report must be
//! the operator's. So the client walks the paths with the offline rules
//! ([`import_cmd::walk`]: same order, same skips), opens each file with the
//! offline checks ([`import_cmd::open_for_import`]) and uploads it as
//! frames: a [`FileHeader`], data frames, then an end (or an abort with
//! the reason, for a read error or a pipe past the size cap). The server
//! feeds the files one by one to the offline pipeline
//! ([`import_cmd::ingest_files`]) and returns its part of the summary,
//! which the client appends to the part its walk produced
//! ([`Summary::absorb`]) — the same summary, per-line errors, `--json` line
//! and exit code as an offline run.
//!
//! Memory and staging: nothing is staged on disk. The server holds one
//! uploaded file in memory while it parses it, exactly as the offline
//! import holds the file it reads (at most [`import_cmd::MAX_FILE_BYTES`],
//! enforced again on the server); the client streams each file in
//! [`CHUNK`] pieces. A client that disconnects mid-upload ends the import
//! like Ctrl-C ends an offline one: batches already ingested stay (each is
//! one atomic ingest), the file in flight is dropped, nothing is left
//! behind. Progress: the server reports bytes parsed every
//! [`PROGRESS_EVERY`]; the client draws the offline progress bar from it.

use super::import_cmd::{
    self, base_name, ingest_files, is_symlink_placeholder, open_for_import, progress_bar,
    too_large_input, Content, FileInput, FoundFile, ImportArgs, Summary, MAX_FILE_BYTES,
};
use super::live::{self, Request};
use crate::import::{Format, ImportDefaults};
use crate::ops::frames::{self, read_frame, write_frame};
use crate::store::Store;
use anyhow::{anyhow, bail, Result};
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufWriter, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Bytes per uploaded data frame.
pub const CHUNK: usize = 256 * 1024;
/// How often the server reports progress during an import.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(200);
/// How long the server waits for the next upload frame (a client reading
/// a slow pipe may pause; a vanished one must not hold a thread forever).
pub const UPLOAD_IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// The import options of the request (`--format`, `--source`,
/// `--confidence`, `--tag`, `--column`).
#[derive(Debug, Serialize, Deserialize)]
pub struct ImportRequest {
    pub format: Format,
    pub source: Option<String>,
    pub confidence: Option<u8>,
    pub tags: Vec<String>,
    pub columns: Vec<String>,
}

/// Opens each uploaded file (JSON in a [`frames::FILE`] frame).
#[derive(Debug, Serialize, Deserialize)]
pub struct FileHeader {
    /// The path as the operator's summary shows it.
    pub path: String,
    /// Its base name (format hints).
    pub name: String,
    /// Size in bytes from the walk (0: a pipe), for the progress bar.
    pub size: u64,
    /// Named on the command line.
    pub explicit: bool,
    /// Could not be read at all: the reason; no data follows.
    pub failed: Option<String>,
    /// A git symlink placeholder in a walk; no data follows.
    pub placeholder: bool,
}

/// Client: imports `args.paths` through the server of `data_dir`;
/// `Ok(None)` when no server runs there.
pub fn import(data_dir: &Path, args: &ImportArgs) -> Result<Option<Summary>> {
    let defaults = import_cmd::defaults_of(args);
    let req = Request::Import(ImportRequest {
        format: args.format,
        source: defaults.source,
        confidence: defaults.confidence,
        tags: defaults.tags,
        columns: defaults.columns,
    });
    let Some(mut reader) = live::connect(data_dir, &req)? else {
        return Ok(None);
    };
    let mut summary = Summary::default();
    let files = import_cmd::walk(&args.paths, &mut summary);
    let bar = progress_bar(files.iter().map(|f| f.size).sum());
    let up = reader.get_ref().try_clone()?;
    let uploader = std::thread::spawn(move || upload(up, files));
    let reply = live::receive(&mut reader, &mut std::io::sink(), &|n| bar.set_position(n));
    // The server's answer says more than a broken upload ("broken pipe").
    let uploaded = uploader
        .join()
        .map_err(|_| anyhow!("the upload thread panicked"))?;
    bar.finish_and_clear();
    let reply = reply?;
    uploaded?;
    let theirs: Summary = serde_json::from_slice(&reply.result)
        .map_err(|e| anyhow!("the server sent a malformed import summary: {e}"))?;
    summary.absorb(theirs);
    Ok(Some(summary))
}

/// Client: sends every file, then the end frame.
fn upload(s: UnixStream, files: Vec<FoundFile>) -> Result<()> {
    let mut w = BufWriter::with_capacity(CHUNK + 64, &s);
    for f in files {
        let mut head = FileHeader {
            path: f.path.display().to_string(),
            name: base_name(&f.path),
            size: f.size,
            explicit: f.explicit,
            failed: None,
            placeholder: false,
        };
        let (file, len) = match open_for_import(&f.path) {
            Ok(x) => x,
            Err(reason) => {
                head.failed = Some(reason);
                write_frame(&mut w, frames::FILE, &serde_json::to_vec(&head)?)?;
                continue;
            }
        };
        let mut file = file.take(MAX_FILE_BYTES + 1);
        // A placeholder is tiny: read it whole to tell, as offline.
        let mut first = Vec::new();
        if !f.explicit && f.path.extension().is_none() && len <= 255 {
            if let Err(e) = (&mut file).take(256).read_to_end(&mut first) {
                head.failed = Some(format!("cannot read: {e}"));
                write_frame(&mut w, frames::FILE, &serde_json::to_vec(&head)?)?;
                continue;
            }
            if is_symlink_placeholder(&f.path, &first) {
                head.placeholder = true;
                write_frame(&mut w, frames::FILE, &serde_json::to_vec(&head)?)?;
                continue;
            }
        }
        write_frame(&mut w, frames::FILE, &serde_json::to_vec(&head)?)?;
        let mut sent = first.len() as u64;
        if !first.is_empty() {
            write_frame(&mut w, frames::DATA, &first)?;
        }
        let mut buf = vec![0u8; CHUNK];
        let end = loop {
            match file.read(&mut buf) {
                Ok(0) => break None,
                Ok(n) => {
                    sent += n as u64;
                    if sent > MAX_FILE_BYTES {
                        break Some(too_large_input());
                    }
                    write_frame(&mut w, frames::DATA, &buf[..n])?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Some(format!("cannot read: {e}")),
            }
        };
        match end {
            None => write_frame(&mut w, frames::FILE_END, b"")?,
            Some(reason) => write_frame(&mut w, frames::FILE_ABORT, reason.as_bytes())?,
        }
    }
    write_frame(&mut w, frames::END, b"")?;
    w.flush()?;
    Ok(())
}

/// Server: receives the upload on `r` and imports it into `store` with the
/// offline pipeline, sending progress frames on `w`; returns the server's
/// part of the summary. A broken upload is an error (the client is gone).
pub fn serve(
    store: &Store,
    req: &ImportRequest,
    r: &mut dyn BufRead,
    w: &UnixStream,
) -> Result<Summary> {
    w.set_read_timeout(Some(UPLOAD_IDLE_TIMEOUT))?;
    let defaults = ImportDefaults {
        source: req.source.clone(),
        confidence: req.confidence,
        tags: req.tags.clone(),
        columns: req.columns.clone(),
        feed: None,
    };
    let bar = ProgressBar::hidden();
    let mut summary = Summary::default();
    let mut inputs = std::iter::from_fn(|| next_file(r).transpose());
    std::thread::scope(|scope| {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let bar2 = bar.clone();
        scope.spawn(move || {
            let mut w = w;
            let mut last = u64::MAX;
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(PROGRESS_EVERY)
            {
                let n = bar2.position();
                if n != last {
                    last = n;
                    if write_frame(&mut w, frames::PROGRESS, n.to_string().as_bytes()).is_err() {
                        break;
                    }
                }
            }
        });
        let res = ingest_files(
            store,
            req.format,
            &defaults,
            &mut inputs,
            &mut summary,
            &bar,
        );
        drop(stop);
        res
    })?;
    Ok(summary)
}

/// Server: the next uploaded file, `None` after the end frame.
fn next_file(r: &mut dyn BufRead) -> Result<Option<FileInput>> {
    let Some((tag, payload)) = read_frame(r).map_err(upload_broke)? else {
        bail!("the client disconnected before the end of the upload");
    };
    match tag {
        frames::END => return Ok(None),
        frames::FILE => {}
        other => bail!(
            "unexpected upload frame '{}' (expected a file header)",
            char::from(other)
        ),
    }
    let h: FileHeader = serde_json::from_slice(&payload)
        .map_err(|e| anyhow!("malformed upload file header: {e}"))?;
    let content = if let Some(reason) = h.failed {
        Content::Failed(reason)
    } else if h.placeholder && !h.explicit {
        Content::Placeholder
    } else {
        receive_file(r, h.size)?
    };
    Ok(Some(FileInput {
        shown: h.path,
        file_name: h.name,
        size: h.size,
        explicit: h.explicit,
        content,
    }))
}

/// Server: the data frames of one file, up to its end or abort frame.
fn receive_file(r: &mut dyn BufRead, size: u64) -> Result<Content> {
    // The stated size only sizes the first allocation (capped: it is the
    // client's word).
    let mut bytes = Vec::with_capacity(size.min(64 << 20) as usize);
    loop {
        let Some((tag, payload)) = read_frame(r).map_err(upload_broke)? else {
            bail!("the client disconnected in the middle of a file");
        };
        match tag {
            frames::DATA => {
                // The client stops at the cap itself; past it, the
                // upload is not from an iocd client.
                if (bytes.len() + payload.len()) as u64 > MAX_FILE_BYTES {
                    bail!("an uploaded file is over {MAX_FILE_BYTES} bytes");
                }
                bytes.extend_from_slice(&payload);
            }
            frames::FILE_END => return Ok(Content::Bytes(bytes)),
            frames::FILE_ABORT => {
                return Ok(Content::Failed(
                    String::from_utf8_lossy(&payload).into_owned(),
                ))
            }
            other => bail!(
                "unexpected upload frame '{}' inside a file",
                char::from(other)
            ),
        }
    }
}

fn upload_broke(e: std::io::Error) -> anyhow::Error {
    anyhow!("the upload from the client broke off: {e}")
}
