//! Languages on this host: the protocol's language table
//! ([`coderun_protocol::lang`]) with each toolchain found where it is
//! installed, the host paths it needs bound, and its environment.

use std::path::{Path, PathBuf};
use std::process::Command as HostCommand;

pub use coderun_protocol::lang::*;

pub mod csharp;

use crate::sandbox::Bind;

/// Shared libraries and the loader, for dynamically linked runtimes.
const DYNAMIC_LIBS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/etc/ld.so.cache",
];

/// Compilers see all of /usr (read-only) and the alternatives they link through.
const COMPILE_PATHS: &[&str] = &["/usr", "/etc/alternatives", "/etc/ld.so.cache"];

fn expand(pattern: &str) -> Vec<PathBuf> {
    let p = Path::new(pattern);
    let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
        return vec![];
    };
    let Some(prefix) = name.strip_suffix('*') else {
        return if p.exists() {
            vec![p.to_path_buf()]
        } else {
            vec![]
        };
    };
    let dir = p.parent().unwrap_or(Path::new("/"));
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// A language whose toolchain was found on this host.
#[derive(Debug, Clone)]
pub struct Toolchain {
    pub lang: &'static Language,
    pub home: Option<PathBuf>,
    /// What [`Toolchain::run_binds`] shows, found once: the runner's image
    /// does not change while it runs, and each run would otherwise look
    /// every path up again.
    run_binds: Vec<Bind>,
}

impl Toolchain {
    /// Finds the language's toolchain on this host, or says what is missing.
    pub fn find(lang: &'static Language) -> Result<Toolchain, String> {
        let home = if lang.home.is_empty() {
            None
        } else {
            Some(
                lang.home
                    .iter()
                    .flat_map(|h| expand(h))
                    .next()
                    .ok_or_else(|| format!("no toolchain at {}", lang.home.join(" or ")))?,
            )
        };
        let tc = Toolchain::new(lang, home);
        for argv in lang.compile.iter().map(|c| c[0]).chain([lang.run[0]]) {
            if argv.starts_with("{box}") {
                continue;
            }
            let exe = tc.fill(argv, 0, 0);
            if !Path::new(&exe).exists() {
                return Err(format!("{exe} is not installed"));
            }
        }
        Ok(tc)
    }

    /// Replaces `{home}`, `{memory_mb}` and `{stack_mb}`; `{box}` and
    /// `{tmp}` are left for the sandbox.
    pub fn fill(&self, template: &str, memory_mb: u64, stack_mb: u64) -> String {
        let home = self
            .home
            .as_ref()
            .map(|h| h.display().to_string())
            .unwrap_or_default();
        template
            .replace("{home}", &home)
            .replace("{memory_mb}", &memory_mb.to_string())
            .replace("{stack_mb}", &stack_mb.to_string())
    }

    fn new(lang: &'static Language, home: Option<PathBuf>) -> Toolchain {
        let mut tc = Toolchain {
            lang,
            home,
            run_binds: Vec::new(),
        };
        tc.run_binds = tc.find_run_binds();
        tc
    }

    /// Host paths shown to the program at run time.
    pub fn run_binds(&self) -> Vec<Bind> {
        self.run_binds.clone()
    }

    fn find_run_binds(&self) -> Vec<Bind> {
        let mut v: Vec<Bind> = self.home.iter().map(|h| Bind::same(h.clone())).collect();
        v.extend(
            self.lang
                .run_paths
                .iter()
                .flat_map(|p| expand(p))
                .map(Bind::same),
        );
        if self.lang.dynamic {
            v.extend(DYNAMIC_LIBS.iter().flat_map(|p| expand(p)).map(Bind::same));
        }
        v
    }

    /// Host paths shown to the compiler.
    pub fn compile_binds(&self) -> Vec<Bind> {
        let mut v: Vec<Bind> = COMPILE_PATHS
            .iter()
            .flat_map(|p| expand(p))
            .map(Bind::same)
            .collect();
        v.extend(
            self.lang
                .run_paths
                .iter()
                .filter(|p| p.starts_with("/etc"))
                .chain(self.lang.compile_paths)
                .flat_map(|p| expand(p))
                .map(Bind::same),
        );
        v
    }

    /// The environment of both phases.
    pub fn env(&self, memory_mb: u64) -> Vec<(String, String)> {
        let mut env = vec![
            (
                "PATH".to_string(),
                "/usr/local/bin:/usr/bin:/bin".to_string(),
            ),
            ("HOME".to_string(), "{tmp}".to_string()),
            ("TMPDIR".to_string(), "{tmp}".to_string()),
            ("LANG".to_string(), "C.UTF-8".to_string()),
        ];
        env.extend(
            self.lang
                .env
                .iter()
                .map(|(k, v)| (k.to_string(), self.fill(v, memory_mb, 0))),
        );
        env
    }

    /// The source as the toolchain is given it (see [`FrontEnd`]).
    pub fn front_end<'a>(&self, source: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        match self.lang.front_end {
            None => source.into(),
            Some(FrontEnd::CsharpForMcs) => match std::str::from_utf8(source) {
                Ok(text) => csharp::for_mcs(text).into_bytes().into(),
                // Not UTF-8: the compiler says what is wrong with it.
                Err(_) => source.into(),
            },
        }
    }

    /// The toolchain's version line, asked of the host toolchain itself.
    pub fn version(&self) -> Option<String> {
        let argv: Vec<String> = self
            .lang
            .version
            .iter()
            .map(|a| self.fill(a, 0, 0))
            .collect();
        let out = HostCommand::new(&argv[0])
            .args(&argv[1..])
            .env_clear()
            .output()
            .ok()?;
        let text = if out.stdout.is_empty() {
            out.stderr
        } else {
            out.stdout
        };
        // The first line that is not a warning of the JVM a compiler runs on.
        String::from_utf8_lossy(&text)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.contains("warning"))
            .map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_filled() {
        let tc = Toolchain::new(by_id("java").unwrap(), Some("/jdk".into()));
        assert_eq!(
            tc.fill("{home}/bin/java -Xmx{memory_mb}m", 256, 64),
            "/jdk/bin/java -Xmx256m"
        );
    }
}
