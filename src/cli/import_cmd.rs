//! `iocd import PATH...`: read IOC files into the store (issue 3, item 6).
//!
//! Files are parsed by `crate::import` (format auto-detected unless
//! `--format` says otherwise) and their observations ingested in batches of
//! [`BATCH`], so a million-line list is never held in memory as
//! observations all at once (text and CSV are streamed line by line).
//!
//! A file that cannot be read at all (I/O error, binary, not UTF-8 JSON,
//! invalid or unknown JSON) is reported and contributes nothing: every such
//! failure is detected before its first observation. The others import
//! what they can and report their rejected lines. Directories are walked
//! recursively in name order; files whose name shows they are not IOC data
//! (documentation, detection rules, code, keys, XML that is not OpenIOC,
//! git symlink placeholders) are skipped and counted, and so is a text file
//! in which no line at all is an IOC (a word list, rules in a `.txt`); a
//! file named explicitly on the command line is always parsed and reported.
//!
//! Exit code 1 when any file could not be read at all, else 0.

use super::setup::{create_store_with_cache, load_config, open_store_with_cache};
use crate::import::{parse_iter, text, FileError, Format, ImportDefaults, Item};
use crate::ioc::Observation;
use crate::store::{IngestReport, Store, StoreError};
use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Observations per `Store::ingest` call: large enough to amortize the
/// flush, small enough to bound memory (~50k × a few hundred bytes).
pub const BATCH: usize = 50_000;

/// Largest file read (it is read whole into memory).
pub const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Rejected-item reasons kept per file for the summary.
const REASONS_PER_FILE: usize = 5;

/// Distinct unmapped type names counted per file (the rest as `(other)`).
const MAX_UNMAPPED_TYPES: usize = 64;

/// Import IOC files (MISP event JSON, CSV, text lists, STIX 2.1 bundles,
/// OpenIOC 1.0/1.1 XML).
#[derive(clap::Args, Debug, Clone)]
pub struct ImportArgs {
    /// Files or directories (walked recursively) to import; `-` reads
    /// standard input.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Input format; `auto` detects it from each file's content.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
    /// Source name for IOCs whose file names no producer (MISP Orgc, STIX
    /// created_by_ref); default "import".
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,
    /// Confidence 0-100 for IOCs whose file states none (default 50).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub confidence: Option<u8>,
    /// Tag added to every imported IOC (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// CSV column holding IOCs, by header name (repeatable; any case): read
    /// these instead of the columns the header names (`Domain`, `SHA256`,
    /// `value` …). For CSV layouts iocd does not recognize.
    #[arg(long = "column", value_name = "NAME")]
    pub columns: Vec<String>,
    /// Also print a one-line JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
    /// Config file (for the data directory).
    #[arg(long, short, env = "IOCD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (overrides the config; default ./iocd-data).
    #[arg(long, env = "IOCD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Set by a scheduled feed (`crate::feeds`), never on the command line.
    #[arg(skip)]
    pub feed: Option<crate::import::FeedDefaults>,
    /// Create the store when the data directory has none (otherwise a
    /// missing store is an error: a mistyped --data-dir must not start an
    /// empty one).
    #[arg(long)]
    pub create: bool,
}

/// What happened to one file.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct FileReport {
    pub path: String,
    /// Format used; `None` when the file failed before detection.
    pub format: Option<Format>,
    pub observations: u64,
    pub rejected: u64,
    /// Items without a supported IOC type.
    pub skipped: u64,
    /// Of those, the ones of a type iocd does not map, by the type name the
    /// file uses (`text`, `filename`, `link` …).
    pub unmapped: BTreeMap<String, u64>,
    /// First rejected reasons (with line numbers where they apply).
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    /// Why the file could not be read at all.
    pub failed: Option<String>,
    /// Articles the file held (feeds, report documents).
    #[serde(default)]
    pub articles: u64,
}

/// A file left out of a directory walk, and why.
#[derive(Debug, Serialize, Deserialize)]
pub struct SkippedFile {
    pub path: String,
    pub reason: String,
}

/// The whole import (the `--json` line).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Summary {
    pub files_read: u64,
    pub files_failed: u64,
    pub files_skipped: u64,
    /// Observations parsed (before deduplication).
    pub observations: u64,
    pub new: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub suppressed: u64,
    pub rejected: u64,
    pub skipped_items: u64,
    /// Articles stored (RSS/Atom items, report documents): new and
    /// replaced ones.
    #[serde(default)]
    pub articles_new: u64,
    #[serde(default)]
    pub articles_updated: u64,
    /// Items of types iocd does not map, by type name, over all files.
    pub unmapped_types: BTreeMap<String, u64>,
    pub files: Vec<FileReport>,
    pub skipped_files: Vec<SkippedFile>,
}

impl ImportArgs {
    /// The arguments of `iocd import PATHS...` with every option at its
    /// default (format auto, no source/confidence/tags override, store
    /// not created), for callers that import in-process (inbox, feeds,
    /// tests); set the fields that differ.
    pub fn for_paths(paths: Vec<PathBuf>) -> ImportArgs {
        ImportArgs {
            paths,
            format: Format::Auto,
            source: None,
            confidence: None,
            tags: Vec::new(),
            columns: Vec::new(),
            json: false,
            config: None,
            data_dir: None,
            feed: None,
            create: false,
        }
    }
}

/// Skipped files named one per line in the text summary; the rest are
/// counted, and all are in the `--json` summary.
const SHOWN_SKIPS: usize = 20;

/// Runs `iocd import`; returns the exit code.
pub fn run(args: &ImportArgs) -> Result<i32> {
    let cfg = load_config(args.config.as_deref(), args.data_dir.as_deref())?;
    // `-` is standard input, as for backup and restore.
    let stdin_args;
    let args = if args.paths.iter().any(|p| p.as_os_str() == "-") {
        let mut a = args.clone();
        for p in &mut a.paths {
            if p.as_os_str() == "-" {
                *p = PathBuf::from("/dev/stdin");
            }
        }
        stdin_args = a;
        &stdin_args
    } else {
        args
    };
    let summary = match super::import_live::import(&cfg.storage.data_dir, args)? {
        Some(s) => s,
        None => {
            let cache = cfg.storage.import_cache_mib << 20;
            let store = if args.create {
                create_store_with_cache(&cfg.storage.data_dir, cache)?
            } else {
                open_store_with_cache(&cfg.storage.data_dir, cache)?
            };
            store.set_lifetimes(cfg.expiry.lifetimes());
            import(&store, args)?
        }
    };
    print_summary(&summary);
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    }
    Ok(if summary.files_failed > 0 { 1 } else { 0 })
}

/// Imports `args.paths` into `store` and returns the summary (nothing is
/// printed). Errors only for store failures; file problems are in the
/// summary.
pub fn import(store: &Store, args: &ImportArgs) -> Result<Summary> {
    let defaults = defaults_of(args);
    let mut summary = Summary::default();
    let files = walk(&args.paths, &mut summary);
    let total_bytes: u64 = files.iter().map(|f| f.size).sum();
    let bar = progress_bar(total_bytes);
    let mut inputs = files.into_iter().map(|f| {
        let content = match read(&f.path) {
            Ok(b) if !f.explicit && is_symlink_placeholder(&f.path, &b) => Content::Placeholder,
            Ok(b) => Content::Bytes(b),
            Err(reason) => Content::Failed(reason),
        };
        Ok(FileInput::new(f, content))
    });
    ingest_files(
        store,
        args.format,
        &defaults,
        &mut inputs,
        &mut summary,
        &bar,
    )?;
    bar.finish_and_clear();
    Ok(summary)
}

/// What `--source`, `--confidence`, `--tag` and `--column` add.
pub fn defaults_of(args: &ImportArgs) -> ImportDefaults {
    ImportDefaults {
        source: args.source.clone(),
        confidence: args.confidence,
        tags: args.tags.clone(),
        columns: args.columns.clone(),
        feed: args.feed.clone(),
    }
}

/// A file found by [`walk`]: its path, size in bytes (0 for a pipe) and
/// whether it was named on the command line.
#[derive(Debug, Clone)]
pub struct FoundFile {
    pub path: PathBuf,
    pub size: u64,
    pub explicit: bool,
}

/// Walks `paths` as the offline import does (directories recursively in
/// name order, hidden entries and non-IOC names skipped): the files to
/// read, in order; unreadable and skipped entries go into `summary`.
pub fn walk(paths: &[PathBuf], summary: &mut Summary) -> Vec<FoundFile> {
    let mut files = Vec::new();
    for p in paths {
        collect(p, true, &mut files, summary);
    }
    files
        .into_iter()
        .map(|(path, size, explicit)| FoundFile {
            path,
            size,
            explicit,
        })
        .collect()
}

/// What became of reading one file.
#[derive(Debug)]
pub enum Content {
    /// The whole file (at most [`MAX_FILE_BYTES`]).
    Bytes(Vec<u8>),
    /// It could not be read; the reason as the summary shows it.
    Failed(String),
    /// A git symlink placeholder met in a directory walk (not imported).
    Placeholder,
}

/// One file handed to [`ingest_files`].
#[derive(Debug)]
pub struct FileInput {
    /// As shown in the summary (the operator's path).
    pub shown: String,
    /// Its base name, for format hints (`*.sha256`, `*.csv`).
    pub file_name: String,
    /// Size in bytes, for the progress bar (0: unknown).
    pub size: u64,
    /// Named on the command line (always parsed and reported).
    pub explicit: bool,
    pub content: Content,
}

impl FileInput {
    /// The input for a file found by [`walk`].
    pub fn new(f: FoundFile, content: Content) -> FileInput {
        FileInput {
            shown: f.path.display().to_string(),
            file_name: base_name(&f.path),
            size: f.size,
            explicit: f.explicit,
            content,
        }
    }
}

/// The last component of `path` (lossy UTF-8), or "".
pub fn base_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Parses `inputs` in order and ingests their observations in batches of
/// [`BATCH`], filling `summary` (per-file reports, counts, the ingest
/// report). `bar` advances by bytes parsed. Stops at the first `Err` of
/// `inputs` (an upload that broke off) or store failure: batches already
/// ingested stay (each is one atomic ingest), the rest is dropped.
pub fn ingest_files(
    store: &Store,
    format: Format,
    defaults: &ImportDefaults,
    inputs: &mut dyn Iterator<Item = Result<FileInput>>,
    summary: &mut Summary,
    bar: &ProgressBar,
) -> Result<()> {
    // Parsing runs on this thread while the store writes the previous
    // batch on another (the two halves of an import take similar time on
    // a 2-core appliance). A rendezvous channel keeps at most one batch in
    // the writer's hands and one being filled.
    let report = std::thread::scope(|scope| -> Result<IngestReport> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Observation>>(0);
        let writer = scope.spawn(move || -> Result<IngestReport, StoreError> {
            let mut report = IngestReport::default();
            for b in rx {
                report.add(&store.ingest(b)?);
            }
            Ok(report)
        });
        let mut batch = Batch {
            tx,
            pending: Vec::with_capacity(BATCH.min(4096)),
        };
        let mut parsed = Ok(());
        let mut done_bytes = 0u64;
        for input in &mut *inputs {
            let input = match input {
                Ok(i) => i,
                Err(e) => {
                    parsed = Err(e);
                    break;
                }
            };
            bar.set_message(input.shown.clone());
            let size = input.size;
            parsed = import_file(
                store, input, format, defaults, &mut batch, summary, bar, done_bytes,
            );
            if parsed.is_err() {
                break;
            }
            done_bytes += size;
            bar.set_position(done_bytes);
        }
        if parsed.is_ok() {
            parsed = batch.flush();
        }
        drop(batch);
        // The writer's own error says more than "writer stopped".
        let written = writer
            .join()
            .map_err(|_| anyhow::anyhow!("the store writer thread panicked"))?;
        let report = written?;
        parsed?;
        Ok(report)
    })?;
    summary.new += report.new;
    summary.updated += report.updated;
    summary.unchanged += report.unchanged;
    summary.suppressed += report.suppressed;
    Ok(())
}

impl Summary {
    /// Adds `later` (the files read after this summary's) to this one, as
    /// if one import had done both: counts add, lists append in order.
    pub fn absorb(&mut self, later: Summary) {
        self.files_read += later.files_read;
        self.files_failed += later.files_failed;
        self.files_skipped += later.files_skipped;
        self.observations += later.observations;
        self.new += later.new;
        self.updated += later.updated;
        self.unchanged += later.unchanged;
        self.suppressed += later.suppressed;
        self.rejected += later.rejected;
        self.skipped_items += later.skipped_items;
        self.articles_new += later.articles_new;
        self.articles_updated += later.articles_updated;
        for (t, n) in later.unmapped_types {
            *self.unmapped_types.entry(t).or_default() += n;
        }
        self.files.extend(later.files);
        self.skipped_files.extend(later.skipped_files);
    }
}

/// Observations waiting for the store, handed to the writer thread in
/// batches of [`BATCH`].
struct Batch {
    tx: std::sync::mpsc::SyncSender<Vec<Observation>>,
    pending: Vec<Observation>,
}

impl Batch {
    fn push(&mut self, o: Observation) -> Result<()> {
        self.pending.push(o);
        if self.pending.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if !self.pending.is_empty() {
            let b = std::mem::replace(&mut self.pending, Vec::with_capacity(BATCH.min(4096)));
            self.tx
                .send(b)
                .map_err(|_| anyhow::anyhow!("the store writer stopped"))?;
        }
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
fn import_file(
    store: &Store,
    input: FileInput,
    format: Format,
    defaults: &ImportDefaults,
    batch: &mut Batch,
    summary: &mut Summary,
    bar: &ProgressBar,
    done_bytes: u64,
) -> Result<()> {
    let FileInput {
        shown,
        file_name,
        explicit,
        content,
        ..
    } = input;
    let mut rep = FileReport {
        path: shown.clone(),
        ..FileReport::default()
    };
    let bytes = match content {
        Content::Bytes(b) => b,
        Content::Failed(reason) => {
            rep.failed = Some(reason);
            summary.files_failed += 1;
            summary.files.push(rep);
            return Ok(());
        }
        Content::Placeholder => {
            summary.files_skipped += 1;
            summary.skipped_files.push(SkippedFile {
                path: shown,
                reason: "git symlink placeholder (its target is imported on its own)".into(),
            });
            return Ok(());
        }
    };
    let mut items = match parse_iter(&bytes, &file_name, format, defaults) {
        Ok(i) => i,
        // In a directory walk, JSON that is neither MISP nor STIX (a config,
        // a tool's output) is listed as skipped, like other non-IOC files; a
        // file named on the command line still fails.
        Err(e @ (FileError::UnknownJson { .. } | FileError::Unsupported(_)))
            if !explicit && format == Format::Auto =>
        {
            summary.files_skipped += 1;
            summary.skipped_files.push(SkippedFile {
                path: shown,
                reason: e.to_string(),
            });
            return Ok(());
        }
        Err(e) => {
            rep.failed = Some(e.to_string());
            summary.files_failed += 1;
            summary.files.push(rep);
            return Ok(());
        }
    };
    rep.format = Some(items.format);
    rep.warnings = std::mem::take(&mut items.warnings);
    if !items.articles.is_empty() {
        let r = store.put_articles(&items.articles)?;
        rep.articles = items.articles.len() as u64;
        summary.articles_new += r.new;
        summary.articles_updated += r.updated;
    }
    let mut n = 0u64;
    while let Some(item) = items.next() {
        match item {
            Item::Observation(o) => {
                rep.observations += 1;
                batch.push(o)?;
            }
            Item::Error(e) => {
                rep.rejected += 1;
                if rep.errors.len() < REASONS_PER_FILE {
                    rep.errors.push(e.to_string());
                }
            }
            Item::Skipped => rep.skipped += 1,
            Item::Unmapped(t) => {
                rep.skipped += 1;
                // Bounded: a file can name many odd types, the report not.
                if rep.unmapped.len() < MAX_UNMAPPED_TYPES || rep.unmapped.contains_key(&t) {
                    *rep.unmapped.entry(t).or_default() += 1;
                } else {
                    *rep.unmapped.entry("(other)".into()).or_default() += 1;
                }
            }
        }
        n += 1;
        if n % 16_384 == 0 {
            bar.set_position(done_bytes + items.consumed() as u64);
        }
    }
    // In a directory walk, a text file in which not one line is an IOC is
    // a word list or a rule file that happens to end in .txt: list it as
    // skipped rather than report thousands of rejected lines. (A hash list,
    // `*.sha256` …, keeps its errors: there the file name promises IOCs.)
    let not_a_list = rep.format == Some(Format::Text) && rep.observations == 0 && rep.rejected > 0;
    if !explicit
        && format == Format::Auto
        && not_a_list
        && text::hint_from_name(&file_name).is_none()
    {
        summary.files_skipped += 1;
        let first = rep.errors.first().map(String::as_str).unwrap_or("");
        summary.skipped_files.push(SkippedFile {
            path: shown,
            reason: format!(
                "text file in which no line is an IOC (not an IOC list?); first: {first}"
            ),
        });
        return Ok(());
    }
    summary.files_read += 1;
    summary.observations += rep.observations;
    summary.rejected += rep.rejected;
    summary.skipped_items += rep.skipped;
    for (t, n) in &rep.unmapped {
        *summary.unmapped_types.entry(t.clone()).or_default() += n;
    }
    summary.files.push(rep);
    Ok(())
}

/// Reads a whole file, with a message fit for the summary on failure.
fn read(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let (f, len) = open_for_import(path)?;
    let mut out = Vec::with_capacity(len as usize);
    f.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("cannot read: {e}"))?;
    if out.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large_input());
    }
    Ok(out)
}

/// Opens a file to import and returns it with its length (0 for a pipe),
/// or the reason for the summary: unreadable, or a regular file over
/// [`MAX_FILE_BYTES`].
pub fn open_for_import(path: &Path) -> Result<(std::fs::File, u64), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "the file is {} bytes; files over {MAX_FILE_BYTES} bytes are not imported — split it first",
            meta.len()
        ));
    }
    // A pipe (`/dev/stdin`, `<(curl …)`) has no length up front: the
    // reader stops one byte past the cap to tell ([`too_large_input`]).
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    Ok((f, meta.len()))
}

/// The summary's reason for an input (a pipe) that ran past
/// [`MAX_FILE_BYTES`].
pub fn too_large_input() -> String {
    format!(
        "the input is over {MAX_FILE_BYTES} bytes; inputs over that are not imported — split it first"
    )
}

/// Adds `path` (a file, or a directory walked recursively) to `files` as
/// (path, size, named explicitly).
fn collect(
    path: &Path,
    explicit: bool,
    files: &mut Vec<(PathBuf, u64, bool)>,
    summary: &mut Summary,
) {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            summary.files_failed += 1;
            summary.files.push(FileReport {
                path: path.display().to_string(),
                failed: Some(format!("cannot read: {e}")),
                ..FileReport::default()
            });
            return;
        }
    };
    if meta.is_file() {
        if !explicit {
            if let Some(reason) = skip_reason(path) {
                summary.files_skipped += 1;
                summary.skipped_files.push(SkippedFile {
                    path: path.display().to_string(),
                    reason: reason.to_string(),
                });
                return;
            }
        }
        files.push((path.to_path_buf(), meta.len(), explicit));
        return;
    }
    if !meta.is_dir() {
        use std::os::unix::fs::FileTypeExt;
        let ft = meta.file_type();
        if explicit && (ft.is_fifo() || ft.is_char_device()) {
            // Named on the command line: a pipe or `/dev/stdin` is input.
            files.push((path.to_path_buf(), 0, true));
        } else {
            summary.files_skipped += 1;
            summary.skipped_files.push(SkippedFile {
                path: path.display().to_string(),
                reason: "not a regular file (a pipe, socket or device)".into(),
            });
        }
        return;
    }
    // Symlinked directories are not followed inside a walk: they can loop.
    if !explicit && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return;
    }
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(path) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            summary.files_failed += 1;
            summary.files.push(FileReport {
                path: path.display().to_string(),
                failed: Some(format!("cannot list the directory: {e}")),
                ..FileReport::default()
            });
            return;
        }
    };
    entries.sort();
    for e in entries {
        let hidden = e
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if !hidden {
            collect(&e, false, files, summary);
        }
    }
}

/// Why a file met in a directory walk is not IOC data, if it is not.
pub fn skip_reason(path: &Path) -> Option<&'static str> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    const NAMES: &[&str] = &[
        "license",
        "licence",
        "copying",
        "makefile",
        "notice",
        "authors",
        "changelog",
        "readme",
        "dockerfile",
    ];
    let stem = name.split('.').next().unwrap_or("");
    if NAMES.contains(&stem) {
        return Some("documentation or build file");
    }
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let reason = match ext {
        "adoc" | "md" | "markdown" | "rst" | "html" | "htm" | "pdf" | "doc" | "docx" => {
            "documentation"
        }
        "yar" | "yara" | "yml" | "yaml" | "rules" | "snort" | "sigma" => "detection rules",
        "py" | "pl" | "sh" | "ps1" | "js" | "rb" | "go" | "c" | "h" | "rs" | "ksy" => "source code",
        "pem" | "crt" | "cer" | "der" | "key" | "p12" => "certificate or key",
        "zip" | "gz" | "tgz" | "7z" | "rar" | "tar" | "png" | "jpg" | "jpeg" | "gif" | "svg"
        | "exe" | "dll" | "bin" => "archive, image or binary",
        _ => return None,
    };
    Some(reason)
}

/// A checkout without symlink support stores a symlink as a small file
/// holding the target path (`aceCryptor` → `ace_cryptor`). True for a file
/// without extension whose whole content names an existing sibling.
pub fn is_symlink_placeholder(path: &Path, bytes: &[u8]) -> bool {
    let no_ext = path.extension().is_none();
    if !no_ext || bytes.len() > 255 || bytes.contains(&b'\n') {
        return false;
    }
    let Ok(target) = std::str::from_utf8(bytes) else {
        return false;
    };
    let target = target.trim();
    !target.is_empty() && path.parent().is_some_and(|dir| dir.join(target).exists())
}

/// A byte progress bar on stderr when it is a terminal, else hidden.
pub fn progress_bar(total: u64) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {elapsed} {wide_msg}")
    {
        bar.set_style(style);
    }
    bar
}

/// The human summary, on stderr.
pub fn print_summary(s: &Summary) {
    eprintln!(
        "files: {} read, {} failed, {} skipped (not IOC data)",
        s.files_read, s.files_failed, s.files_skipped
    );
    eprintln!(
        "IOCs: {} read: {} new, {} updated, {} unchanged, {} suppressed (deleted earlier); {} rejected; {} items without a supported IOC type skipped",
        s.observations, s.new, s.updated, s.unchanged, s.suppressed, s.rejected, s.skipped_items
    );
    if s.articles_new + s.articles_updated > 0 {
        eprintln!(
            "articles: {} new, {} updated",
            s.articles_new, s.articles_updated
        );
    }
    if !s.unmapped_types.is_empty() {
        let by_type: Vec<String> = s
            .unmapped_types
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect();
        eprintln!("skipped by type (no iocd IOC type): {}", by_type.join(", "));
    }
    for f in &s.files {
        if let Some(reason) = &f.failed {
            eprintln!("FAILED {}: {reason}", f.path);
        }
    }
    // Every skipped file is named (up to SHOWN_SKIPS; the rest are in
    // the --json summary): judgement calls by content first.
    let (by_content, by_name): (Vec<&SkippedFile>, Vec<&SkippedFile>) = s
        .skipped_files
        .iter()
        .partition(|f| f.reason.starts_with("text file"));
    let skipped: Vec<&SkippedFile> = by_content.into_iter().chain(by_name).collect();
    for f in skipped.iter().take(SHOWN_SKIPS) {
        eprintln!("skipped {}: {}", f.path, f.reason);
    }
    if skipped.len() > SHOWN_SKIPS {
        eprintln!(
            "... and {} more skipped files: run with --json for the full list (skipped_files)",
            skipped.len() - SHOWN_SKIPS
        );
    }
    for f in &s.files {
        for w in &f.warnings {
            eprintln!("warning {}: {w}", f.path);
        }
    }
    for f in s.files.iter().filter(|f| f.rejected > 0) {
        eprintln!("{}: {} rejected, e.g.", f.path, f.rejected);
        for e in &f.errors {
            eprintln!("    {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_skips_non_ioc_names() {
        for (name, skipped) in [
            ("README.adoc", true),
            ("LICENSE", true),
            ("Makefile", true),
            ("rules.yar", true),
            ("sigma.yml", true),
            ("windigo.ioc", false),
            ("samples.sha256", false),
            ("iocs.txt", false),
            ("event.json", false),
            ("export.csv", false),
            ("c2-list", false),
        ] {
            assert_eq!(skip_reason(Path::new(name)).is_some(), skipped, "{name}");
        }
    }
}
