//! `iocd check-config`: validate a config file and explain each error.

use anyhow::Result;
use std::path::PathBuf;

/// Checks a config file (and the TLS certificate and key it names, when
/// they exist); exit 0 when valid, 1 with one line per error.
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
            // The TLS files it names, when present: regular, at most 1 MiB,
            // a matching pair; a world-readable key is warned about.
            let (cert, key) = (c.data_path(&c.tls.cert), c.data_path(&c.tls.key));
            if cert.exists() || key.exists() {
                if let Err(e) = crate::certs::server_config(&cert, &key) {
                    eprintln!("error: {e:#}");
                    return Ok(1);
                }
            }
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
