//! Command-line subcommands. Each subcommand lives in its own file and
//! exposes a clap `Args` struct plus `run(args) -> anyhow::Result<i32>`
//! (the process exit code).
