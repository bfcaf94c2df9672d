//! `runner-task`: run, judge and verify untrusted code in a sandbox.

use clap::Parser;

fn main() {
    let cli = runner_task::cli::Cli::parse();
    match cli.execute() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("runner-task: {e:#}");
            std::process::exit(runner_task::cli::EXIT_ERROR);
        }
    }
}
