//! `runner-task job`: the platform's entry point (local pool and Fargate).
//! Reads a manifest from a path or a presigned HTTP(S) URL, runs or judges,
//! and writes the result document to a path or a presigned URL. The runner
//! needs no credentials: URLs carry their own authorization.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::package::Package;
use crate::protocol::{
    JobResult, JobState, Manifest, ProblemRef, RunResult, RunStatus, RunnerInfo, Work,
};
use crate::runner::Runner;
use crate::sandbox::{Status, Stdin};
use crate::{judge, protocol};

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

fn agent() -> ureq::Agent {
    agent_with(Duration::from_secs(60))
}

/// An HTTP agent whose requests give up after `timeout` and whose non-2xx
/// answers are errors.
pub(crate) fn agent_with(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(true)
        .build()
        .into()
}

/// Whether another attempt could mend `e` (transport trouble, 5xx, 408,
/// 429), as opposed to a refusal (an expired or wrong URL).
pub(crate) fn passing(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::StatusCode(code) => *code >= 500 || *code == 408 || *code == 429,
        ureq::Error::Io(_)
        | ureq::Error::Timeout(_)
        | ureq::Error::ConnectionFailed
        | ureq::Error::HostNotFound => true,
        _ => false,
    }
}

/// PUTs `body` to a presigned URL, retrying passing errors after each of
/// `delays`; `what` names it in the messages.
pub(crate) fn put_retrying(
    http: &ureq::Agent,
    url: &str,
    body: &[u8],
    delays: &[Duration],
    what: &str,
) -> anyhow::Result<()> {
    let mut delays = delays.iter();
    loop {
        let err = match http
            .put(url)
            .header("content-type", "application/json")
            .send(body)
        {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        match delays.next() {
            Some(delay) if passing(&err) => {
                eprintln!("{what} failed ({err}); trying again");
                std::thread::sleep(*delay);
            }
            _ => return Err(err).with_context(|| what.to_string()),
        }
    }
}

/// Reads the manifest (at most [`protocol::MAX_MANIFEST_BYTES`]).
pub fn read_manifest(location: &str) -> anyhow::Result<Manifest> {
    let mut bytes = Vec::new();
    if is_url(location) {
        let resp = agent()
            .get(location)
            .call()
            .context("fetching the manifest")?;
        resp.into_body()
            .into_reader()
            .take(protocol::MAX_MANIFEST_BYTES + 1)
            .read_to_end(&mut bytes)
            .context("reading the manifest")?;
    } else {
        std::fs::File::open(location)
            .with_context(|| format!("opening {location}"))?
            .take(protocol::MAX_MANIFEST_BYTES + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading {location}"))?;
    }
    if bytes.len() as u64 > protocol::MAX_MANIFEST_BYTES {
        bail!(
            "the manifest is larger than {} bytes",
            protocol::MAX_MANIFEST_BYTES
        );
    }
    let m: Manifest = serde_json::from_slice(&bytes).context("the manifest is not valid")?;
    m.validate()
        .map_err(|e| anyhow::anyhow!("the manifest is not valid: {e}"))?;
    Ok(m)
}

pub use coderun_protocol::budget;

/// Largest problem archive a runner downloads.
pub const MAX_PACKAGE_ARCHIVE_BYTES: u64 = 256 << 20;

/// Downloads a package archive and unpacks it (with the archive module's
/// limits) into a fresh temporary directory.
fn fetch_package(url: &str) -> anyhow::Result<tempfile::TempDir> {
    if !is_url(url) {
        bail!("the problem URL is not http(s)");
    }
    let resp = agent()
        .get(url)
        .call()
        .context("fetching the problem package")?;
    let mut bytes = Vec::new();
    resp.into_body()
        .into_reader()
        .take(MAX_PACKAGE_ARCHIVE_BYTES + 1)
        .read_to_end(&mut bytes)
        .context("reading the problem package")?;
    if bytes.len() as u64 > MAX_PACKAGE_ARCHIVE_BYTES {
        bail!("the problem package is larger than {MAX_PACKAGE_ARCHIVE_BYTES} bytes");
    }
    let format =
        crate::archive::Format::sniff(&bytes).context("the problem package is not an archive")?;
    let dir = tempfile::tempdir().context("creating a directory for the problem")?;
    // Only root may enter it: the programs judged against it run as other
    // uids and must never reach an answer by its path.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
        .context("making the problem's directory private")?;
    crate::archive::unpack(format, &bytes, dir.path()).context("unpacking the problem package")?;
    Ok(dir)
}

/// Writes the result document; over HTTP, a PUT to the presigned URL.
pub fn write_result(location: &str, result: &JobResult) -> anyhow::Result<()> {
    let body = serde_json::to_vec_pretty(result)?;
    if is_url(location) {
        upload(location, &body)?;
    } else {
        // Written whole or not at all: a reader never sees half a result.
        let path = Path::new(location);
        let tmp = path.with_extension("partial");
        std::fs::write(&tmp, &body).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    }
    Ok(())
}

/// The package's directory; a fetched one comes with the temporary
/// directory that holds it.
fn problem_dir(
    runner: &Runner,
    problem: &ProblemRef,
) -> anyhow::Result<(Option<tempfile::TempDir>, std::path::PathBuf)> {
    match problem {
        ProblemRef::Path(dir) => Ok(runner.private_package(dir)?),
        ProblemRef::Url(url) => {
            let fetched = fetch_package(url)?;
            let dir = crate::archive::package_root(fetched.path())
                .context("the problem archive holds no problem.yaml")?;
            Ok((Some(fetched), dir))
        }
    }
}

/// Delays between attempts to upload a result: a lost result costs the
/// whole run, so passing network trouble is waited out.
const UPLOAD_BACKOFF: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(2),
    Duration::from_secs(5),
];

/// PUTs a result to its presigned URL. Errors that another attempt could
/// mend (transport, 5xx, 408, 429) are retried; a refusal (an expired or
/// wrong URL) is not. The error makes the runner exit non-zero, so the
/// platform sees a stopped task without a result and runs the job again.
fn upload(url: &str, body: &[u8]) -> anyhow::Result<()> {
    put_retrying(&agent(), url, body, &UPLOAD_BACKOFF, "uploading the result")
}

/// Where live output of a job goes: `live/` beside a result file (local
/// runners); none for a result URL.
pub fn live_dir(result: &str) -> Option<std::path::PathBuf> {
    if is_url(result) {
        return None;
    }
    Some(Path::new(result).parent()?.join("live"))
}

/// Runs a job and writes its result (a file or a presigned URL), with its
/// live output beside a result file; the result written. Only a result
/// that could not be written is an error.
pub fn run_and_report(runner: &Runner, m: &Manifest, result: &str) -> anyhow::Result<JobResult> {
    let live = live_dir(result);
    let r = execute_live(runner, m, live.as_deref());
    write_result(result, &r)?;
    Ok(r)
}

/// Runs a job. A user's failure is a completed result; a platform failure
/// is a failed one (the caller still writes it). With `live`, playground
/// runs also write each input's stdout and stderr as they come to
/// `{live}/{input}.stdout` and `.stderr`.
pub fn execute_live(runner: &Runner, m: &Manifest, live: Option<&Path>) -> JobResult {
    let mut result = JobResult {
        job_id: m.job_id.clone(),
        state: JobState::Completed,
        compile: None,
        runs: Vec::new(),
        judge: None,
        verify: None,
        error: None,
        runner: Some(RunnerInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            profile: runner.sandbox.profile(),
            isolation: runner.sandbox.layers().to_vec(),
        }),
    };
    if let Err(e) = execute_into(runner, m, &mut result, live) {
        result.state = JobState::Failed;
        result.error = Some(format!("{e:#}"));
    }
    result
}

fn execute_into(
    runner: &Runner,
    m: &Manifest,
    result: &mut JobResult,
    live: Option<&Path>,
) -> anyhow::Result<()> {
    match &m.work {
        Work::Run { inputs, limits } => run_inputs(runner, m, inputs, *limits, result, live),
        Work::Judge {
            problem,
            time_limit_ms,
        } => judge_source(runner, m, problem, *time_limit_ms, result),
        Work::Verify { problem } => verify_package(runner, problem, result),
    }
}

/// A playground run: the program against each of the user's inputs.
fn run_inputs(
    runner: &Runner,
    m: &Manifest,
    inputs: &[protocol::Input],
    limits: crate::sandbox::Limits,
    result: &mut JobResult,
    live: Option<&Path>,
) -> anyhow::Result<()> {
    let tc = runner.toolchain(&m.language)?;
    let program = runner.prepare_for_runs(tc, m.source.as_bytes(), &extra_files(m))?;
    result.compile = program.compile.clone();
    if let Some(dir) = live {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if !program.compiled() {
        for _ in inputs {
            result.runs.push(compile_error_run(runner, &program));
        }
        return Ok(());
    }
    let files = |i: usize| -> anyhow::Result<Option<[std::fs::File; 2]>> {
        Ok(match live {
            Some(dir) => Some([
                std::fs::File::create(dir.join(format!("{i}.stdout")))?,
                std::fs::File::create(dir.join(format!("{i}.stderr")))?,
            ]),
            None => None,
        })
    };
    let stdin = |i: usize| Stdin::Bytes(inputs[i].stdin.clone().into_bytes());
    // Each input's sandbox is set up while the one before runs (see
    // `sandbox::Command::parked`), where a second slot allows.
    let park = |i: usize| -> anyhow::Result<_> {
        Ok(runner.park(&program, limits, &inputs[i].args, stdin(i), files(i)?)?)
    };
    let ahead = runner.sandbox.can_park();
    let mut next = None;
    for i in 0..inputs.len() {
        let mut current = match next.take() {
            Some(parked) => parked,
            None => park(i)?,
        };
        current.start()?;
        if ahead && i + 1 < inputs.len() {
            next = Some(park(i + 1)?);
        }
        let out = runner.finish(&program, current)?;
        if crate::runner::startup_syntax_error(program.lang(), &out) {
            let mut ce = compile_error_run(runner, &program);
            ce.compile_output = Some(String::from_utf8_lossy(&out.stderr).into_owned());
            result.runs.push(ce);
            continue;
        }
        let mut run = run_result(out, None);
        if let Some(expected) = &inputs[i].expected_output {
            run.output_matches = (run.status == RunStatus::OK)
                .then(|| crate::protocol::same_output(&run.stdout, expected));
        }
        result.runs.push(run);
    }
    Ok(())
}

/// The program's files beside its entry point.
fn extra_files(m: &Manifest) -> Vec<(String, Vec<u8>)> {
    m.files
        .iter()
        .map(|f| (f.name.clone(), f.content.clone().into_bytes()))
        .collect()
}

/// A submission judged against a problem's tests.
fn judge_source(
    runner: &Runner,
    m: &Manifest,
    problem: &ProblemRef,
    time_limit_ms: Option<u64>,
    result: &mut JobResult,
) -> anyhow::Result<()> {
    // A fetched package lives as long as the judging.
    let (_fetched, dir) = problem_dir(runner, problem)?;
    let pkg = Package::load(&dir)?;
    let problem = judge::Problem::prepare(runner, &pkg)?;
    let tc = runner.toolchain(&m.language)?;
    let program = problem.prepare_submission(runner, tc, m.source.as_bytes(), &extra_files(m))?;
    result.compile = program.compile.clone();
    let time_limit_ms = time_limit_ms
        .or(pkg.time_limit_ms)
        .context("the problem has no time limit: run `runner-task verify` on it first")?;
    let opts = judge::Options {
        time_limit_ms,
        stop_on_failure: true,
    };
    result.judge = Some(problem.judge(runner, &program, opts)?);
    Ok(())
}

/// A setter's package verified; the package's own faults reject it (they
/// are not the platform's).
fn verify_package(
    runner: &Runner,
    problem: &ProblemRef,
    result: &mut JobResult,
) -> anyhow::Result<()> {
    let (_fetched, dir) = problem_dir(runner, problem)?;
    match Package::load(&dir)
        .map_err(anyhow::Error::from)
        .and_then(|pkg| Ok(crate::verify::verify(runner, &pkg, None, &mut |_| {})?))
    {
        Ok(report) => result.verify = Some(serde_json::to_value(report)?),
        Err(e) => result.error = Some(format!("{e:#}")),
    }
    Ok(())
}

/// The result of a run whose program did not compile.
pub fn compile_error_run(runner: &Runner, program: &crate::runner::Program) -> RunResult {
    RunResult {
        status: RunStatus::CE,
        stdout: String::new(),
        stderr: String::new(),
        exit_code: None,
        signal: None,
        time_ms: 0,
        wall_ms: 0,
        memory_kb: 0,
        compile_output: program.compile.as_ref().map(|c| c.output.clone()),
        error: None,
        isolation: runner.sandbox.layers().to_vec(),
        output_matches: None,
    }
}

/// Converts a sandbox outcome into the public run result.
pub fn run_result(out: crate::sandbox::Outcome, compile_output: Option<String>) -> RunResult {
    RunResult {
        status: match out.status {
            Status::Ok => RunStatus::OK,
            Status::Tle => RunStatus::TLE,
            Status::Mle => RunStatus::MLE,
            Status::Ole => RunStatus::OLE,
            Status::Re => RunStatus::RE,
        },
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        exit_code: out.exit_code,
        signal: out.signal,
        time_ms: out.time_ms,
        wall_ms: out.wall_ms,
        memory_kb: out.memory_kb,
        compile_output,
        error: None,
        isolation: out.isolation,
        output_matches: None,
    }
}
