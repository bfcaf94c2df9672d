//! Compile once, run many: a source file becomes a [`Program`] in its own box
//! directory (compiled in the sandbox with the compile limits), which then
//! runs any number of times with the run limits.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::lang::{self, Language, Toolchain};
use crate::sandbox::{
    Command, Limits, Outcome, Profile, Sandbox, SandboxError, Status, Stdin, Stdout,
};

/// A platform error while preparing or running a program.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("unknown language {0:?}")]
    UnknownLanguage(String),
    #[error("language {id} is not available on this runner: {why}")]
    Unavailable { id: &'static str, why: String },
    #[error("preparing the job directory: {0}")]
    Box(#[source] std::io::Error),
    #[error("output validator: {0}")]
    Validator(String),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
}

pub use coderun_protocol::CompileReport;

/// A compiled (or syntax-checked) program, ready to run.
#[derive(Debug)]
pub struct Program {
    pub toolchain: Toolchain,
    /// The entry point's name (`{main}` in the language's templates).
    pub main: String,
    pub compile: Option<CompileReport>,
    box_dir: PathBuf,
    /// A test's own copy holding its files (`.files`): runs in its box,
    /// where the files are, rather than in a scratch directory.
    runs_in_box: bool,
}

impl Program {
    pub fn lang(&self) -> &'static Language {
        self.toolchain.lang
    }

    /// The host directory holding the compiled program.
    pub fn box_dir(&self) -> &Path {
        &self.box_dir
    }

    /// Its entry point's file name in its box (`main.py`, `Main.java`).
    pub fn source_file(&self) -> String {
        source_file_name(&self.toolchain, &self.main)
    }

    /// Fills a language template: the toolchain's placeholders and `{main}`.
    fn fill(&self, template: &str, limits: &Limits) -> String {
        self.toolchain
            .fill(template, limits.memory_mb, limits.stack_mb)
            .replace("{main}", &self.main)
    }

    /// A sandbox command running `argv` (a compile or run template) with the
    /// language's environment; binds, box and streams are the caller's.
    fn command_for(&self, argv: &[&str], limits: Limits) -> Command {
        let mut cmd = Command::new(self.fill(argv[0], &limits), limits);
        cmd.args = argv[1..].iter().map(|a| self.fill(a, &limits)).collect();
        cmd.env = self.toolchain.env(limits.memory_mb);
        cmd
    }

    /// False when compilation failed (the program cannot run).
    pub fn compiled(&self) -> bool {
        self.compile.as_ref().is_none_or(|c| c.ok)
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.box_dir);
    }
}

/// The name a program whose entry point is `main` (`{main}` in the
/// language's templates) gets for it in its box.
fn source_file_name(toolchain: &Toolchain, main: &str) -> String {
    toolchain
        .fill(toolchain.lang.source_file, 0, 0)
        .replace("{main}", main)
}

/// Files and directories a test's `.files` and its program's box may hold.
const MAX_TEST_FILES: usize = 10_000;

/// What a tree copied by [`copy_tree`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tree {
    /// A package's (or part of one): symbolic links are followed (a
    /// package's test groups may be links), files are copied readable by
    /// anyone (the copy's root directory is what keeps them private).
    Package,
    /// A compiled program's box: files are hard links (the program is
    /// shared, never written), symbolic links are not followed (a
    /// compiler's could point anywhere).
    Box,
}

/// Copies the tree `from` into the directory `to`, replacing what is there
/// of the same name (the link, never what it links to); at most `budget`
/// entries.
fn copy_tree(from: &Path, to: &Path, tree: Tree, budget: &mut usize) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        *budget = budget
            .checked_sub(1)
            .ok_or_else(|| std::io::Error::other(format!("{}: too many files", from.display())))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let meta = match tree {
            Tree::Package => std::fs::metadata(&src)?,
            Tree::Box => std::fs::symlink_metadata(&src)?,
        };
        if meta.is_dir() {
            if !dst.is_dir() {
                std::fs::create_dir(&dst)?;
                std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o755))?;
            }
            copy_tree(&src, &dst, tree, budget)?;
        } else if meta.is_file() {
            match std::fs::remove_file(&dst) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            if tree == Tree::Box && std::fs::hard_link(&src, &dst).is_ok() {
                continue;
            }
            std::fs::copy(&src, &dst)?;
            let mode = match tree {
                Tree::Package => 0o644,
                Tree::Box => meta.permissions().mode() & 0o755 | 0o444,
            };
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(mode))?;
        }
    }
    Ok(())
}

/// A program's files read from a file or a directory: its language (from
/// the extensions), its entry point (the language's rule, `preferred`
/// stems first among several sources) and the files beside it.
#[derive(Debug)]
pub struct ProgramFiles {
    pub lang: &'static Language,
    pub source: Vec<u8>,
    pub extra: Vec<(String, Vec<u8>)>,
}

impl ProgramFiles {
    pub fn read(path: &Path, preferred: &[&str]) -> Result<ProgramFiles, String> {
        Self::read_as(path, None, preferred)
    }

    /// Like [`ProgramFiles::read`], in `lang` when given.
    pub fn read_as(
        path: &Path,
        lang: Option<&'static Language>,
        preferred: &[&str],
    ) -> Result<ProgramFiles, String> {
        let shown = path.display();
        let mut files = read_files(path)?;
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        let lang = match lang {
            Some(l) => l,
            None => lang::files::language_of(&names).map_err(|e| format!("{shown}: {e}"))?,
        };
        let listed: Vec<(&str, &[u8])> = files.iter().map(|(n, c)| (n.as_str(), &c[..])).collect();
        let entry = lang::files::entry_point(lang, &listed, preferred)
            .map_err(|e| format!("{shown}: {e}"))?;
        let (_, source) = files.remove(entry);
        Ok(ProgramFiles {
            lang,
            source,
            extra: files,
        })
    }
}

impl ProgramFiles {
    /// The files with a package's constants substituted (its own programs:
    /// validators and example submissions, never a user's).
    pub fn with_constants(mut self, pkg: &crate::package::Package) -> ProgramFiles {
        if pkg.constants.is_empty() {
            return self;
        }
        self.source = pkg.substitute(&self.source);
        for (_, content) in &mut self.extra {
            *content = pkg.substitute(content);
        }
        self
    }
}

impl ProgramFiles {
    /// A package's `build`/`run` program: every file of its directory,
    /// beside the step that builds it (`source`).
    pub fn scripts(path: &Path, build: &[u8]) -> Result<ProgramFiles, String> {
        Ok(ProgramFiles {
            lang: &lang::PACKAGE_SCRIPTS,
            source: build.to_vec(),
            extra: read_files(path)?,
        })
    }
}

/// The files of a program: the file itself, or those of its directory (by
/// name, at most [`lang::files::MAX_FILES`]).
fn read_files(path: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let shown = path.display();
    if !path.is_dir() {
        return Ok(vec![read_named(path)?]);
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| format!("{shown}: {e}"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    if entries.len() > lang::files::MAX_FILES {
        return Err(format!(
            "{shown}: {} files; at most {}",
            entries.len(),
            lang::files::MAX_FILES
        ));
    }
    entries.iter().map(|f| read_named(f)).collect()
}

/// A file's name and bytes.
fn read_named(path: &Path) -> Result<(String, Vec<u8>), String> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((name.into_owned(), bytes))
}

/// The runner: a sandbox plus a place for job boxes.
#[derive(Debug)]
pub struct Runner {
    pub sandbox: Sandbox,
    boxes: PathBuf,
}

impl Runner {
    pub fn new(sandbox: Sandbox, work_dir: &Path) -> Result<Runner, RunError> {
        let boxes = work_dir.join("boxes");
        std::fs::create_dir_all(&boxes).map_err(RunError::Box)?;
        // Reachable by sandboxed uids (bind sources, feedback), not listable.
        std::fs::set_permissions(&boxes, std::os::unix::fs::PermissionsExt::from_mode(0o711))
            .map_err(RunError::Box)?;
        Ok(Runner { sandbox, boxes })
    }

    pub fn toolchain(&self, id: &str) -> Result<Toolchain, RunError> {
        let lang = lang::by_id(id).ok_or_else(|| RunError::UnknownLanguage(id.to_string()))?;
        Toolchain::find(lang).map_err(|why| RunError::Unavailable { id: lang.id, why })
    }

    /// A fresh directory under the runner's work directory. In the
    /// restricted profile only root may enter it until it is lent to a run
    /// (see `sandbox::Command::private`); in the full one a run sees only
    /// what is mounted into its own root, and the slots' uids mount these.
    pub fn scratch_dir(&self, prefix: &str) -> std::io::Result<PathBuf> {
        let dir = self
            .boxes
            .join(format!("{prefix}-{}", crate::sandbox::unique_name()));
        let mut builder = std::fs::DirBuilder::new();
        if self.sandbox.profile() == Profile::Restricted {
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        }
        builder.create(&dir)?;
        Ok(dir)
    }

    /// A problem package's directory as judging may use it. A sandboxed
    /// program's input is handed to it open, but its path is no secret
    /// (`/proc/self/fd/0`): in the restricted profile, where programs share
    /// the host's file system, a package that another uid could enter is
    /// first copied where only root can. The copy lives as long as the
    /// returned guard.
    pub fn private_package(
        &self,
        dir: &Path,
    ) -> Result<(Option<tempfile::TempDir>, PathBuf), RunError> {
        if self.sandbox.profile() == Profile::Full || only_root_enters(dir) {
            return Ok((None, dir.to_path_buf()));
        }
        let copy = tempfile::Builder::new()
            .prefix("package-")
            .tempdir_in(&self.boxes)
            .map_err(RunError::Box)?;
        std::fs::set_permissions(copy.path(), std::fs::Permissions::from_mode(0o700))
            .map_err(RunError::Box)?;
        let to = copy.path().join("package");
        std::fs::create_dir(&to).map_err(RunError::Box)?;
        // As many entries as an uploaded package may have.
        let mut budget = crate::archive::MAX_ENTRIES;
        copy_tree(dir, &to, Tree::Package, &mut budget).map_err(RunError::Box)?;
        Ok((Some(copy), to))
    }

    /// Writes the source into a fresh box and compiles it once.
    pub fn prepare(&self, toolchain: Toolchain, source: &[u8]) -> Result<Program, RunError> {
        self.prepare_with(toolchain, source, &[])
    }

    /// Like [`Runner::prepare`], for playground runs: a syntax check the
    /// interpreter repeats at start-up is left to the run (see
    /// [`startup_syntax_error`]).
    pub fn prepare_for_runs(
        &self,
        toolchain: Toolchain,
        source: &[u8],
        extra: &[(String, Vec<u8>)],
    ) -> Result<Program, RunError> {
        let check = toolchain.lang.startup_syntax_errors.is_empty();
        self.prepare_inner(toolchain, source, extra, check)
    }

    /// Like [`Runner::prepare`], with extra files (headers, modules) beside
    /// the source.
    pub fn prepare_with(
        &self,
        toolchain: Toolchain,
        source: &[u8],
        extra: &[(String, Vec<u8>)],
    ) -> Result<Program, RunError> {
        self.prepare_inner(toolchain, source, extra, true)
    }

    /// The name a program's entry point gets in its box (`main.py`,
    /// `Main.java` after the source's class).
    pub fn entry_file_name(&self, toolchain: &Toolchain, source: &[u8]) -> String {
        source_file_name(toolchain, &lang::main_class(toolchain.lang, source))
    }

    fn prepare_inner(
        &self,
        toolchain: Toolchain,
        source: &[u8],
        extra: &[(String, Vec<u8>)],
        compile: bool,
    ) -> Result<Program, RunError> {
        let box_dir = self.scratch_dir("box").map_err(RunError::Box)?;
        let main = lang::main_class(toolchain.lang, source);
        let mut program = Program {
            toolchain,
            main,
            compile: None,
            box_dir,
            runs_in_box: false,
        };
        let lang = program.lang();
        let source_file = program.source_file();
        for (name, bytes) in extra {
            if name.contains('/') || *name == source_file || name.starts_with('.') {
                continue;
            }
            std::fs::write(program.box_dir.join(name), bytes).map_err(RunError::Box)?;
        }
        let source = program.toolchain.front_end(source);
        std::fs::write(program.box_dir.join(&source_file), &source).map_err(RunError::Box)?;
        for (name, text) in lang.support_files {
            std::fs::write(program.box_dir.join(name), text).map_err(RunError::Box)?;
        }
        if let Some(compile) = lang.compile.filter(|_| compile) {
            let mut cmd = program.command_for(compile, lang::compile_limits());
            // `{sources}`: the program's other sources, then its entry
            // point (modules before their users), for compilers that take
            // them all.
            let mut others: Vec<String> = extra
                .iter()
                .map(|(name, _)| name.clone())
                .filter(|n| *n != source_file && lang::files::is_source_of(lang, n))
                .collect();
            others.sort();
            let sources: Vec<String> = others
                .into_iter()
                .chain([source_file.clone()])
                .map(|n| format!("{{box}}/{n}"))
                .collect();
            cmd.args = std::mem::take(&mut cmd.args)
                .into_iter()
                .flat_map(|a| {
                    if a == "{sources}" {
                        sources.clone()
                    } else {
                        vec![a]
                    }
                })
                .collect();
            cmd.binds = program.toolchain.compile_binds();
            cmd.box_dir = Some((program.box_dir.clone(), true));
            cmd.cwd = "{box}".into();
            cmd.limit_address_space = false;
            let out = self.sandbox.run(cmd)?;
            let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
            output.push_str(&String::from_utf8_lossy(&out.stderr));
            let ok = out.status == Status::Ok;
            if !ok {
                let why = match out.status {
                    Status::Tle => "\n[compilation exceeded its time limit]",
                    Status::Mle => "\n[compilation exceeded its memory limit]",
                    Status::Ole => "\n[compiler output truncated]",
                    _ => "",
                };
                output.push_str(why);
            }
            program.compile = Some(CompileReport {
                ok,
                output,
                time_ms: out.time_ms,
                wall_ms: out.wall_ms,
                memory_kb: out.memory_kb,
            });
        }
        Ok(program)
    }

    /// Builds the sandbox command for one run of `program`.
    pub fn command(
        &self,
        program: &Program,
        limits: Limits,
        args: &[String],
        stdin: Stdin,
        stdout: Stdout,
    ) -> Command {
        let lang = program.lang();
        let mut cmd = program.command_for(lang.run, limits);
        cmd.args.extend(args.iter().cloned());
        cmd.binds = program.toolchain.run_binds();
        cmd.box_dir = Some((program.box_dir.clone(), false));
        if program.runs_in_box {
            cmd.cwd = "{box}".into();
        }
        cmd.memory_bytes = (limits.memory_mb + lang.memory_overhead_mb) << 20;
        cmd.limit_address_space = lang.limit_address_space;
        cmd.stdin = stdin;
        cmd.stdout = stdout;
        cmd
    }

    /// A copy of a compiled program with a test's files (`.files`) in its
    /// box, its working directory: the program's files are hard links (the
    /// compiled program is shared, never written: a test file of the same
    /// name replaces the link, not what it links to), the test's copies.
    /// Gone when dropped.
    pub fn with_files(&self, program: &Program, files: &Path) -> Result<Program, RunError> {
        let box_dir = self.scratch_dir("box").map_err(RunError::Box)?;
        let copy = Program {
            toolchain: program.toolchain.clone(),
            main: program.main.clone(),
            compile: None,
            box_dir,
            runs_in_box: true,
        };
        let mut budget = MAX_TEST_FILES;
        copy_tree(&program.box_dir, &copy.box_dir, Tree::Box, &mut budget)
            .map_err(RunError::Box)?;
        copy_tree(files, &copy.box_dir, Tree::Package, &mut budget).map_err(RunError::Box)?;
        Ok(copy)
    }

    /// Runs a compiled program once.
    pub fn run(
        &self,
        program: &Program,
        limits: Limits,
        args: &[String],
        stdin: Stdin,
    ) -> Result<Outcome, RunError> {
        self.run_live(program, limits, args, stdin, None)
    }

    /// Sets up a run of `program` that waits to start (see
    /// `sandbox::Command::parked`); finish it with [`Runner::finish`].
    pub fn park(
        &self,
        program: &Program,
        limits: Limits,
        args: &[String],
        stdin: Stdin,
        live: Option<[std::fs::File; 2]>,
    ) -> Result<crate::sandbox::Running<'_>, RunError> {
        self.spawn(program, limits, args, stdin, live, true)
    }

    /// Starts a parked run if it is not yet, and waits for its outcome.
    pub fn finish(
        &self,
        program: &Program,
        run: crate::sandbox::Running<'_>,
    ) -> Result<Outcome, RunError> {
        Ok(classify_runtime_oom(program.lang(), run.wait()?))
    }

    fn spawn(
        &self,
        program: &Program,
        limits: Limits,
        args: &[String],
        stdin: Stdin,
        live: Option<[std::fs::File; 2]>,
        parked: bool,
    ) -> Result<crate::sandbox::Running<'_>, RunError> {
        let mut cmd = self.command(program, limits, args, stdin, Stdout::Capture);
        cmd.live = live;
        cmd.parked = parked;
        Ok(self.sandbox.spawn(cmd)?)
    }

    /// Runs a compiled program once, copying its output to `live` (stdout,
    /// stderr) as it comes.
    pub fn run_live(
        &self,
        program: &Program,
        limits: Limits,
        args: &[String],
        stdin: Stdin,
        live: Option<[std::fs::File; 2]>,
    ) -> Result<Outcome, RunError> {
        let run = self.spawn(program, limits, args, stdin, live, false)?;
        self.finish(program, run)
    }
}

/// A run that never started because the interpreter found a syntax error
/// (only for programs prepared by [`Runner::prepare_for_runs`]): exit code
/// 1, no output, and a start-up report (no traceback) ending in a syntax
/// error. The run is then a compile error.
pub fn startup_syntax_error(lang: &Language, out: &Outcome) -> bool {
    if out.status != Status::Re || out.exit_code != Some(1) || !out.stdout.is_empty() {
        return false;
    }
    let err = String::from_utf8_lossy(&out.stderr);
    !err.contains("Traceback (most recent call last)")
        && err.trim_start().starts_with("File ")
        && err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .is_some_and(|last| {
                lang.startup_syntax_errors
                    .iter()
                    .any(|m| last.starts_with(m))
            })
}

/// A runtime that reports running out of its own heap (the JVM, V8, Go,
/// Python's MemoryError) exits with an error rather than being killed: that
/// is a memory limit, not a runtime error.
pub fn classify_runtime_oom(lang: &Language, mut out: Outcome) -> Outcome {
    if out.status == Status::Re {
        // The JVM reports on stdout, the others on stderr; only the tail
        // matters (the runtime's last words).
        let tail =
            |b: &[u8]| String::from_utf8_lossy(&b[b.len().saturating_sub(4096)..]).into_owned();
        let (stdout, stderr) = (tail(&out.stdout), tail(&out.stderr));
        if lang
            .oom_markers
            .iter()
            .any(|m| stderr.contains(m) || stdout.contains(m))
        {
            out.status = Status::Mle;
        }
    }
    out
}

/// Whether only root can reach `dir` by path: it or one of its ancestors
/// is root's and closed to everyone else.
fn only_root_enters(dir: &Path) -> bool {
    let Ok(dir) = dir.canonicalize() else {
        return false;
    };
    dir.ancestors()
        .any(|a| std::fs::metadata(a).is_ok_and(|m| m.uid() == 0 && m.mode() & 0o077 == 0))
}
