//! The `coderun` command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use coderun_core::Role;
use coderun_embedded::RunnerCommand;

use crate::issuer::{self, LocalIssuer};
use crate::serve::{self, ServeConfig, TokenSource};

#[derive(Debug, Parser)]
#[command(
    name = "coderun",
    version,
    about = "Run and judge untrusted code: the whole platform on one machine"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

fn default_data() -> PathBuf {
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".local/share/coderun"))
        .unwrap_or_else(|| PathBuf::from("coderun-data"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoleArg {
    Setter,
    Admin,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Serve the API (and the web front end, when built) on one machine.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080", env = "CODERUN_ADDR")]
        addr: SocketAddr,
        /// Database, blobs and the token key live here.
        #[arg(long, env = "CODERUN_DATA", default_value_os_t = default_data())]
        data: PathBuf,
        /// Runner processes at once (default: the number of cores).
        #[arg(long, env = "CODERUN_WORKERS")]
        workers: Option<usize>,
        /// A built web front end to serve at / (default: web/dist if present).
        #[arg(long, env = "CODERUN_WEB_DIR")]
        web: Option<PathBuf>,
        /// Days a playground run is kept.
        #[arg(long, default_value_t = 7, env = "CODERUN_RUN_RETENTION_DAYS")]
        run_retention_days: u64,
        /// Runs and submissions per user and minute (0: no limit).
        #[arg(long, default_value_t = 120, env = "CODERUN_RATE_LIMIT")]
        rate_limit: u32,
        /// Trust this external issuer instead of the local one.
        #[arg(long, env = "CODERUN_JWT_ISSUER", requires = "jwks_url")]
        issuer: Option<String>,
        /// The external issuer's JWKS URL.
        #[arg(long, env = "CODERUN_JWKS_URL", requires = "issuer")]
        jwks_url: Option<String>,
        /// Accepted audiences / app client ids of external tokens.
        #[arg(long, env = "CODERUN_JWT_AUDIENCE", value_delimiter = ',')]
        audience: Vec<String>,
        /// The web front end's dev login: anyone who reaches the server may
        /// sign in as anyone, admins included. Off unless asked for (behind a
        /// reverse proxy even a loopback address is reached by everyone).
        #[arg(long, env = "CODERUN_DEV_LOGIN", value_parser = clap::builder::BoolishValueParser::new())]
        dev_login: Option<bool>,
        /// Serve Judge0's API at the root too (`POST /submissions`…), for
        /// clients that cannot be given a path: coderun's own API and the
        /// web front end then move under `/coderun` (build the front end
        /// with VITE_API_BASE=/coderun).
        #[arg(long, env = "CODERUN_JUDGE0_AT_ROOT")]
        judge0_at_root: bool,
        /// Deliver completion callbacks to private and loopback addresses
        /// too (a webhook receiver on this machine or its network). Off by
        /// default: a caller's callback URL could otherwise reach services
        /// that only this machine can.
        #[arg(long, env = "CODERUN_ALLOW_PRIVATE_CALLBACKS")]
        allow_private_callbacks: bool,
    },
    /// Print the API's OpenAPI document (as `/openapi.json` serves it).
    Openapi,
    /// Print a token for the local server (only the token, on stdout).
    Token {
        #[arg(long)]
        user: String,
        #[arg(long, value_enum)]
        role: Vec<RoleArg>,
        #[arg(long, default_value = "1h")]
        ttl: String,
        #[arg(long, env = "CODERUN_DATA", default_value_os_t = default_data())]
        data: PathBuf,
    },
    /// Run a program once in the sandbox (runner-task run).
    Run {
        file: PathBuf,
        #[arg(long)]
        stdin: Option<PathBuf>,
        #[arg(long)]
        language: Option<String>,
    },
    /// Judge a solution against a problem package (runner-task judge).
    Judge { package: PathBuf, solution: PathBuf },
    /// The runner itself (what `serve` starts for every job).
    #[command(hide = true, name = "runner-task", disable_help_flag = true)]
    RunnerTask {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

fn runner_task(args: Vec<std::ffi::OsString>) -> anyhow::Result<i32> {
    let argv = std::iter::once(std::ffi::OsString::from("runner-task")).chain(args);
    let cli = match runner_task::cli::Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return Ok(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match cli.execute() {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("runner-task: {e:#}");
            Ok(runner_task::cli::EXIT_ERROR)
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,tower_http=warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

impl Cli {
    pub fn execute(self) -> anyhow::Result<i32> {
        match self.command {
            Cmd::RunnerTask { args } => runner_task(args),
            Cmd::Run {
                file,
                stdin,
                language,
            } => {
                let mut args: Vec<std::ffi::OsString> = vec!["run".into()];
                if let Some(s) = stdin {
                    args.extend(["--stdin".into(), s.into_os_string()]);
                }
                if let Some(l) = language {
                    args.extend(["--language".into(), l.into()]);
                }
                args.push(file.into_os_string());
                runner_task(args)
            }
            Cmd::Judge { package, solution } => runner_task(vec![
                "judge".into(),
                "--problem".into(),
                package.into_os_string(),
                solution.into_os_string(),
            ]),
            Cmd::Openapi => {
                let doc = serde_json::to_string_pretty(&coderun_http::openapi::document())?;
                println!("{doc}");
                Ok(0)
            }
            Cmd::Token {
                user,
                role,
                ttl,
                data,
            } => {
                let ttl = issuer::parse_ttl(&ttl).map_err(|e| anyhow::anyhow!("--ttl: {e}"))?;
                let roles: Vec<Role> = role
                    .iter()
                    .map(|r| match r {
                        RoleArg::Setter => Role::Setter,
                        RoleArg::Admin => Role::Admin,
                    })
                    .collect();
                let token = LocalIssuer::open(&data)?.token(&user, &roles, ttl)?;
                println!("{token}");
                Ok(0)
            }
            Cmd::Serve {
                addr,
                data,
                workers,
                web,
                run_retention_days,
                rate_limit,
                issuer,
                jwks_url,
                audience,
                dev_login,
                judge0_at_root,
                allow_private_callbacks,
            } => {
                init_tracing();
                let tokens = match (issuer, jwks_url) {
                    (Some(issuer), Some(jwks_url)) => {
                        if audience.is_empty() {
                            bail!("--audience is required with an external issuer");
                        }
                        TokenSource::External {
                            issuer,
                            jwks_url,
                            audiences: audience,
                        }
                    }
                    _ => TokenSource::Local,
                };
                let workers = workers
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
                if workers == 0 || workers > 256 {
                    bail!("--workers: between 1 and 256");
                }
                if run_retention_days == 0 || run_retention_days > 3650 {
                    bail!("--run-retention-days: between 1 and 3650");
                }
                let web_dir = web.or_else(|| {
                    let default = PathBuf::from("web/dist");
                    default.join("index.html").is_file().then_some(default)
                });
                let exe = std::env::current_exe().context("locating the coderun binary")?;
                let local = matches!(tokens, TokenSource::Local);
                let cfg = ServeConfig {
                    addr,
                    data: data.clone(),
                    workers,
                    web_dir,
                    tokens,
                    run_retention: Duration::from_secs(run_retention_days * 86400),
                    rate_limit_per_minute: rate_limit,
                    runner: RunnerCommand {
                        program: exe,
                        args: vec!["runner-task".into()],
                    },
                    runner_deadline: Duration::from_secs(1800),
                    dev_login: local && dev_login.unwrap_or(false),
                    judge0_at_root,
                    private_callbacks: allow_private_callbacks,
                };
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()
                    .context("starting the async runtime")?;
                rt.block_on(async move {
                    let server = serve::start(cfg).await?;
                    println!("coderun is serving on http://{}", server.addr);
                    if local && dev_login == Some(true) {
                        println!(
                            "dev login: ON (--dev-login true): anyone who reaches this server can sign in as anyone, admin included"
                        );
                    } else if local {
                        println!("dev login: off (sign in with a token; --dev-login true offers it)");
                    }
                    if local {
                        println!(
                            "get a token:  coderun token --user alice [--role setter] --data {}",
                            data.display()
                        );
                    }
                    server
                        .serve
                        .await
                        .context("the server task")?
                        .context("serving")?;
                    Ok::<_, anyhow::Error>(())
                })?;
                Ok(0)
            }
        }
    }
}
