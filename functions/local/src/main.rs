//! `coderun`: the platform on one machine.

use clap::Parser;

fn main() {
    let cli = coderun_local::cli::Cli::parse();
    match cli.execute() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("coderun: {e:#}");
            std::process::exit(2);
        }
    }
}
