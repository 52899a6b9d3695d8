//! The `iocd` binary: clap subcommands over the library.

use clap::{Parser, Subcommand, ValueEnum};

/// mimalloc: sled allocates and frees a node copy per write; glibc malloc
/// spent a fifth of import time in its free lists.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use iocd::cli;

/// mimalloc option ids (`mi_option_t` in `mimalloc.h`; the same in 2.x and
/// 3.x, which the bindings do not all name).
const MI_OPTION_ARENA_EAGER_COMMIT: i32 = 4;
const MI_OPTION_PURGE_DELAY: i32 = 15;

/// No transparent huge pages for iocd: mimalloc's arenas would otherwise
/// keep whole 2 MiB pages resident for a few live objects. Serving a 1M
/// store through TAXII peaks at ~190 MiB instead of ~250 MiB, no slower
/// (`benches/taxii.sh`).
fn no_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE only sets a flag of this process; on a
    // kernel without THP it fails and nothing changes.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// For one-pass commands (`export`): freed memory goes back to the OS at
/// once instead of after mimalloc's delay, and arena memory is committed
/// on use. Exporting 1M IOCs as STIX peaks at ~90 MiB
/// (`benches/import.sh` prints the export figures).
fn lean_allocator() {
    // SAFETY: mi_option_set only stores an option value (valid ids).
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
    }
}

/// iocd: on-prem threat-intelligence appliance (IOC store, HTTPS API,
/// STIX 2.1 / MISP / CEF / OpenIOC exports).
#[derive(Parser, Debug)]
#[command(name = "iocd", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// Log line format (stderr / journald).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "IOCD_LOG_FORMAT")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Write a commented config, TLS certificate and the first admin key.
    Init(cli::init_cmd::InitArgs),
    /// Run the HTTPS API (built-in defaults when no config is given).
    Serve(cli::serve_cmd::ServeArgs),
    /// Import IOC files or directories (MISP JSON, CSV, text lists, STIX 2.1).
    Import(cli::import_cmd::ImportArgs),
    /// Export IOCs to a file (json, csv, stix, misp, cef, openioc).
    Export(cli::export_cmd::ExportArgs),
    /// Print IOC counts by type and source.
    Stats(cli::stats_cmd::StatsArgs),
    /// Create, list, revoke and rotate API keys.
    Keys(cli::keys_cmd::KeysArgs),
    /// Validate a config file and explain each error with its line.
    CheckConfig(cli::check_config_cmd::CheckConfigArgs),
    /// Write a consistent backup of the store (online while serving, or offline).
    Backup(cli::backup_cmd::BackupArgs),
    /// Restore a backup into a data directory (server stopped).
    Restore(cli::restore_cmd::RestoreArgs),
    /// Check the store's indexes against its records; --repair fixes them.
    Verify(cli::verify_cmd::VerifyArgs),
    /// Remove the IOCs one source alone reported (e.g. demo data: --source iocd-demo)
    Purge(cli::purge_cmd::PurgeArgs),
    /// Show the scheduled feeds' status, or run one now.
    Feeds(cli::feeds_cmd::FeedsArgs),
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("IOCD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => {
            cli::JSON_LOGS.store(true, std::sync::atomic::Ordering::Relaxed);
            b.json().init()
        }
        LogFormat::Text => b.init(),
    }
}

fn main() {
    // Files iocd creates (store, keys, TLS key, backups, exports) are not
    // world-readable whatever the caller's umask.
    // SAFETY: umask only sets the process file-mode mask; it cannot fail.
    unsafe {
        libc::umask(0o027);
    }
    no_huge_pages();
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let res = match &cli.cmd {
        Cmd::Init(a) => cli::init_cmd::run(a),
        Cmd::Serve(a) => cli::serve_cmd::run(a),
        Cmd::Import(a) => cli::import_cmd::run(a),
        Cmd::Export(a) => {
            lean_allocator();
            cli::export_cmd::run(a)
        }
        Cmd::Stats(a) => cli::stats_cmd::run(a),
        Cmd::Keys(a) => cli::keys_cmd::run(a),
        Cmd::CheckConfig(a) => cli::check_config_cmd::run(a),
        Cmd::Backup(a) => cli::backup_cmd::run(a),
        Cmd::Restore(a) => cli::restore_cmd::run(a),
        Cmd::Verify(a) => cli::verify_cmd::run(a),
        Cmd::Purge(a) => cli::purge_cmd::run(a),
        Cmd::Feeds(a) => cli::feeds_cmd::run(a),
    };
    match res {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
