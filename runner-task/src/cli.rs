//! The `runner-task` command line. JSON goes to stdout, human messages to
//! stderr; the exit code is non-zero only for usage or platform errors (and
//! for `verify` when a submission disagrees), never because a user's
//! program failed.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::job;
use crate::judge::{self, Problem};
use crate::lang::{self, LANGUAGES};
use crate::package::Package;
use crate::protocol::RunStatus;
use crate::runner::{ProgramFiles, Runner};
use crate::sandbox::{self, Limits, Profile, Sandbox, Stdin};
use crate::verify;

#[derive(Debug, Parser)]
#[command(
    name = "runner-task",
    version,
    about = "Runs and judges untrusted code in a sandbox"
)]
pub struct Cli {
    /// Refuse to run with less isolation than this (full|restricted).
    #[arg(long, global = true, default_value = "full")]
    pub min_isolation: Profile,
    /// Force a profile (restricted: the Fargate profile, for testing).
    #[arg(long, global = true)]
    pub profile: Option<Profile>,
    /// Where boxes, scratch and the sandbox root live.
    #[arg(long, global = true, env = "CODERUN_WORK_DIR")]
    pub work_dir: Option<PathBuf>,
    /// Concurrent sandbox slots (interactive problems need two).
    #[arg(long, global = true, default_value_t = 2)]
    pub slots: usize,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run a program on one input.
    Run {
        #[arg(long)]
        language: Option<String>,
        /// File to use as standard input.
        #[arg(long)]
        stdin: Option<PathBuf>,
        /// CPU time limit, ms.
        #[arg(long, default_value_t = Limits::DEFAULT_TIME_MS)]
        time_limit: u64,
        /// Memory limit, MiB.
        #[arg(long, default_value_t = Limits::DEFAULT_MEMORY_MB)]
        memory_limit: u64,
        source: PathBuf,
        /// Arguments passed to the program.
        #[arg(last = false, trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Judge a solution against a problem package.
    Judge {
        #[arg(long)]
        problem: PathBuf,
        #[arg(long)]
        language: Option<String>,
        /// Override the package's time limit, ms.
        #[arg(long)]
        time_limit: Option<u64>,
        source: PathBuf,
    },
    /// Judge every submission of a package against its expected verdict.
    Verify {
        dir: PathBuf,
        /// Override the package's time limit, ms.
        #[arg(long)]
        time_limit: Option<u64>,
    },
    /// List languages, their availability and versions.
    Languages,
    /// Run jobs one after another, the sandbox set up once: each line of
    /// stdin is `MANIFEST<TAB>RESULT`; each job answers one line on stdout,
    /// `done JOB_ID` or `error MESSAGE`. Ends at the end of stdin.
    Worker {
        /// A label for the process list (the local platform's data directory).
        #[arg(long)]
        pool: Option<String>,
    },
    /// Run a job manifest (the platform's entry point).
    /// On Fargate both come from the environment: any process can read
    /// another's command line, only its own uid its environment.
    Job {
        /// The manifest: a path or a presigned GET URL.
        #[arg(long, env = "CODERUN_MANIFEST", hide_env_values = true)]
        manifest: String,
        /// Where the result goes: a path or a presigned PUT URL.
        #[arg(long, env = "CODERUN_RESULT", hide_env_values = true)]
        result: String,
    },
    /// Serve jobs from a chain of mailboxes (a warm runner on AWS) until
    /// idle for the idle window. The first mailbox's URLs come from the
    /// environment (CODERUN_MAILBOX, CODERUN_MAILBOX_PUT), never the
    /// command line.
    Mailbox {
        #[arg(long, env = "CODERUN_MAILBOX", hide_env_values = true)]
        mailbox: String,
        #[arg(long, env = "CODERUN_MAILBOX_PUT", hide_env_values = true)]
        mailbox_put: String,
        /// Seconds to wait for the first job before retiring.
        #[arg(long, env = "CODERUN_IDLE_SECONDS", default_value_t = 600)]
        idle_seconds: u64,
        /// The runner's id, for its logs.
        #[arg(long, env = "CODERUN_RUNNER", default_value = "runner")]
        id: String,
    },
}

/// Exit codes.
pub const EXIT_DISAGREEMENT: i32 = 1;
pub const EXIT_ERROR: i32 = 2;

fn print_json<T: Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

impl Cli {
    fn runner(&self) -> anyhow::Result<Runner> {
        let mut opts = sandbox::Options {
            min_isolation: self.min_isolation,
            force_restricted: self.profile == Some(Profile::Restricted),
            slots: self.slots.clamp(2, (sandbox::UIDS_PER_LEASE / 2) as usize),
            ..sandbox::Options::default()
        };
        if let Some(w) = &self.work_dir {
            opts.work_dir = w.clone();
        }
        let work_dir = opts.work_dir.clone();
        let sandbox = Sandbox::new(opts).context("cannot start the sandbox")?;
        Ok(Runner::new(sandbox, &work_dir)?)
    }

    /// Runs the command; returns the process exit code.
    pub fn execute(self) -> anyhow::Result<i32> {
        match &self.command {
            Cmd::Languages => {
                #[derive(Serialize)]
                struct Entry {
                    id: &'static str,
                    name: &'static str,
                    extensions: &'static [&'static str],
                    available: bool,
                    version: Option<String>,
                    #[serde(skip_serializing_if = "Option::is_none")]
                    reason: Option<String>,
                    release: &'static str,
                    /// Runtime memory allowed beyond the user's limit.
                    memory_overhead_mb: u64,
                    libraries: Vec<&'static str>,
                    packages: Vec<&'static str>,
                }
                let entries: Vec<Entry> = LANGUAGES
                    .iter()
                    .map(|l| {
                        let tc = lang::Toolchain::find(l);
                        Entry {
                            id: l.id,
                            name: l.name,
                            extensions: l.extensions,
                            available: tc.is_ok(),
                            version: tc.as_ref().ok().and_then(|t| t.version()),
                            reason: tc.err(),
                            release: l.release,
                            memory_overhead_mb: l.memory_overhead_mb,
                            libraries: l.libraries.iter().map(|x| x.name).collect(),
                            packages: l.all_packages(),
                        }
                    })
                    .collect();
                print_json(&entries)?;
                Ok(0)
            }
            Cmd::Run {
                language,
                stdin,
                time_limit,
                memory_limit,
                source,
                args,
            } => {
                let limits = Limits {
                    time_ms: *time_limit,
                    memory_mb: *memory_limit,
                    ..Limits::default()
                };
                limits.validate()?;
                // A file, or a directory of the program's files.
                let given = match language {
                    Some(_) => Some(language_of(language.as_deref(), source)?),
                    None if source.is_dir() => None,
                    None => Some(language_of(None, source)?),
                };
                let files =
                    ProgramFiles::read_as(source, given, &[]).map_err(anyhow::Error::msg)?;
                let input = match stdin {
                    Some(p) => Stdin::Fd(
                        std::fs::File::open(p)
                            .with_context(|| format!("opening {}", p.display()))?
                            .into(),
                    ),
                    None => Stdin::Null,
                };
                let runner = self.runner()?;
                let tc = runner.toolchain(files.lang.id)?;
                let program = runner.prepare_with(tc, &files.source, &files.extra)?;
                let result = if program.compiled() {
                    let out = runner.run(&program, limits, args, input)?;
                    job::run_result(
                        out,
                        program
                            .compile
                            .as_ref()
                            .map(|c| c.output.clone())
                            .filter(|o| !o.is_empty()),
                    )
                } else {
                    job::compile_error_run(&runner, &program)
                };
                if result.status == RunStatus::CE {
                    eprintln!("compilation failed");
                }
                print_json(&result)?;
                Ok(0)
            }
            Cmd::Judge {
                problem,
                language,
                time_limit,
                source,
            } => {
                let lang = language_of(language.as_deref(), source)?;
                let src = std::fs::read(source)
                    .with_context(|| format!("reading {}", source.display()))?;
                let runner = self.runner()?;
                let (_copy, problem) = runner.private_package(problem)?;
                let pkg = Package::load(&problem)?;
                let time_limit_ms = time_limit
                    .or(pkg.time_limit_ms)
                    .context("the package states no time limit: pass --time-limit or run `runner-task verify` on it first")?;
                let prob = Problem::prepare(&runner, &pkg)?;
                let program =
                    prob.prepare_submission(&runner, runner.toolchain(lang.id)?, &src, &[])?;
                let result = prob.judge(
                    &runner,
                    &program,
                    judge::Options {
                        time_limit_ms,
                        stop_on_failure: true,
                    },
                )?;
                eprintln!("{}: {}", pkg.name, result.verdict);
                print_json(&result)?;
                Ok(0)
            }
            Cmd::Verify { dir, time_limit } => {
                let pkg = Package::load(dir)?;
                let runner = self.runner()?;
                eprintln!(
                    "{:<48} {:>8} {:>8}  expected",
                    "submission", "verdict", "time ms"
                );
                let report = verify::verify(&runner, &pkg, *time_limit, &mut |r| {
                    let expected = r.expected.as_deref().unwrap_or("nothing");
                    let mark = if r.agrees { "" } else { "  <-- disagrees" };
                    eprintln!(
                        "{:<48} {:>8} {:>8}  {expected}{mark}",
                        r.submission,
                        r.verdict.to_string(),
                        r.time_ms
                    );
                    for unmet in &r.unmet {
                        eprintln!("    - {unmet}");
                    }
                    if let Some(e) = &r.error {
                        eprintln!("    {e}");
                    }
                })?;
                eprintln!(
                    "time limit: {} ms{}; {} of {} submissions disagree",
                    report.time_limit_ms,
                    if report.time_limit_derived {
                        " (derived, saved to .timelimit)"
                    } else {
                        ""
                    },
                    report.disagreements.len(),
                    report.submissions.len()
                );
                let failures = [
                    ("input", &report.input_validation),
                    ("answer", &report.answer_validation),
                ]
                .into_iter()
                .flat_map(|(kind, v)| v.failures.iter().map(move |f| (kind, f)));
                for (kind, f) in failures {
                    eprintln!(
                        "{kind} validator {}{}: {}",
                        f.validator,
                        f.test
                            .as_deref()
                            .map(|t| format!(" refused {t}"))
                            .unwrap_or_default(),
                        f.message
                    );
                }
                print_json(&report)?;
                Ok(if report.is_consistent() {
                    0
                } else {
                    EXIT_DISAGREEMENT
                })
            }
            Cmd::Worker { .. } => {
                use std::io::{BufRead, Write};
                let runner = self.runner()?;
                let mut out = std::io::stdout().lock();
                for line in std::io::stdin().lock().lines() {
                    let line = line.context("reading a job request")?;
                    let answer = match line.split_once('\t') {
                        None => "error expected MANIFEST<TAB>RESULT".to_string(),
                        Some((manifest, result)) => {
                            let done = job::read_manifest(manifest)
                                .and_then(|m| job::run_and_report(&runner, &m, result));
                            match done {
                                Ok(r) => format!("done {}", r.job_id),
                                Err(e) => format!("error {e:#}").replace('\n', " "),
                            }
                        }
                    };
                    writeln!(out, "{answer}")?;
                    out.flush()?;
                }
                Ok(0)
            }
            Cmd::Mailbox {
                mailbox,
                mailbox_put,
                idle_seconds,
                id,
            } => {
                let runner = self.runner()?;
                let first = crate::protocol::mailbox::Mailbox {
                    get: mailbox.clone(),
                    put: mailbox_put.clone(),
                };
                let idle = std::time::Duration::from_secs(
                    (*idle_seconds).min(crate::protocol::mailbox::MAX_IDLE_SECONDS),
                );
                let (served, ended) = crate::mailbox::serve(&runner, id, first, idle)?;
                eprintln!("runner {id}: served {served} jobs; {ended:?}");
                Ok(0)
            }
            Cmd::Job { manifest, result } => {
                let m = job::read_manifest(manifest)?;
                let runner = self.runner()?;
                let r = job::run_and_report(&runner, &m, result)?;
                if let Some(e) = &r.error {
                    eprintln!("job {} failed: {e}", r.job_id);
                }
                Ok(0)
            }
        }
    }
}

fn language_of(
    id: Option<&str>,
    source: &std::path::Path,
) -> anyhow::Result<&'static lang::Language> {
    match id {
        Some(id) => lang::by_id(id).with_context(|| {
            let ids: Vec<&str> = LANGUAGES.iter().map(|l| l.id).collect();
            format!("unknown language {id:?} (one of: {})", ids.join(", "))
        }),
        None => lang::by_extension(source).with_context(|| {
            format!(
                "cannot tell the language of {}: pass --language",
                source.display()
            )
        }),
    }
}
