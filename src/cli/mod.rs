//! Command-line subcommands. Each subcommand lives in its own file and
//! exposes a clap `Args` struct plus `run(args) -> anyhow::Result<i32>`
//! (the process exit code).

pub mod backup_cmd;
pub mod check_config_cmd;
pub mod export_cmd;
pub mod feeds_cmd;
pub mod import_cmd;
pub mod import_live;
pub mod init_cmd;
pub mod keys_cmd;
pub mod live;
pub mod purge_cmd;
pub mod restore_cmd;
pub mod serve_cmd;
pub mod setup;
pub mod stats_cmd;
pub mod verify_cmd;

use std::sync::atomic::{AtomicBool, Ordering};

/// Set by `main` for `--log-format json`.
pub static JSON_LOGS: AtomicBool = AtomicBool::new(false);

/// An operator message (`serve`'s listen address, generated files, demo
/// data): a plain stderr line, or with `--log-format json` an info event,
/// so a JSON journal holds only JSON lines.
pub fn notice(msg: &str) {
    if JSON_LOGS.load(Ordering::Relaxed) {
        tracing::info!("{msg}");
    } else {
        eprintln!("{msg}");
    }
}
