//! `iocd check-config`: validate a config file and explain each error.

use anyhow::Result;
use std::path::PathBuf;

/// Checks a config file; exit 0 when valid, 1 with one line per error.
#[derive(clap::Args, Debug)]
pub struct CheckConfigArgs {
    /// The config file.
    #[arg(long, short, env = "IOCD_CONFIG", default_value = "./iocd.toml")]
    pub config: PathBuf,
}

/// Runs `iocd check-config`.
pub fn run(args: &CheckConfigArgs) -> Result<i32> {
    match crate::config::Config::load(Some(&args.config)) {
        Ok(c) => {
            println!(
                "{}: OK (listen {}, data_dir {}, tiers {})",
                args.config.display(),
                c.server.listen,
                c.storage.data_dir.display(),
                c.tiers.keys().cloned().collect::<Vec<_>>().join(", ")
            );
            Ok(0)
        }
        Err(errs) => {
            for e in &errs {
                eprintln!("error: {e}");
            }
            eprintln!("{} error(s)", errs.len());
            Ok(1)
        }
    }
}
