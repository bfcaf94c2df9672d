//! The language table: how each language is compiled and run, which host
//! paths its toolchain needs, and the flags that make a memory limit mean
//! what the user expects. Runner images are generated from this same table
//! (`runner-task languages --json` prints it with the packages to install);
//! the platform reads it to name and check languages. Finding a toolchain
//! on a host is the runner's (`runner_task::lang::Toolchain`).

use std::path::Path;

use serde::Serialize;

use crate::Limits;

pub mod files;
mod table;

pub use files::SourceFile;
pub use table::{LANGUAGES, PACKAGE_SCRIPTS};

/// One language. Templates may use `{box}` (the job's directory), `{tmp}`
/// (scratch), `{home}` (the resolved toolchain home), `{memory_mb}` and
/// `{stack_mb}`.
#[derive(Debug, Serialize)]
pub struct Language {
    /// The Problem Package Format's code for the language where it has one.
    pub id: &'static str,
    pub name: &'static str,
    /// The toolchain's version in the runner images (Debian bookworm's).
    pub release: &'static str,
    /// File extensions that select this language, most usual first.
    pub extensions: &'static [&'static str],
    /// Name of the source file in the box (`{main}`: see [`main_class`]).
    pub source_file: &'static str,
    /// Compiler (or syntax check) command; `None`: the source runs as is.
    pub compile: Option<&'static [&'static str]>,
    pub run: &'static [&'static str],
    /// Environment of both phases, besides PATH, HOME, TMPDIR and LANG.
    pub env: &'static [(&'static str, &'static str)],
    /// The toolchain home: the first existing match of these (a trailing
    /// `*` matches any suffix of the last component).
    pub home: &'static [&'static str],
    /// Host paths the program needs at run time (besides `{home}`).
    pub run_paths: &'static [&'static str],
    /// Host paths the compiler needs besides /usr (and `run_paths` under
    /// /etc).
    pub compile_paths: &'static [&'static str],
    /// The program needs the shared libraries and the dynamic loader.
    pub dynamic: bool,
    /// Runtime memory beyond the user's limit (JVM metaspace, code cache…):
    /// the heap gets the limit, the process gets limit + overhead.
    pub memory_overhead_mb: u64,
    /// Without cgroups, cap the address space (native code) rather than the
    /// data segment (runtimes that reserve huge address ranges).
    pub limit_address_space: bool,
    /// Messages by which the runtime reports running out of its heap.
    pub oom_markers: &'static [&'static str],
    /// When the compile step is only a syntax check that the interpreter
    /// repeats at start-up: the last line of the start-up report of a
    /// syntax error. Playground runs then skip the check (one interpreter
    /// start less) and a run failing so is a compile error.
    pub startup_syntax_errors: &'static [&'static str],
    /// Command printing the toolchain version (first line is kept).
    pub version: &'static [&'static str],
    /// Debian packages providing the toolchain (runner images, test setup).
    pub packages: &'static [&'static str],
    /// Libraries the image carries for programs of this language.
    pub libraries: &'static [Library],
    /// Files the toolchain needs in the box beside the source (name, text).
    pub support_files: &'static [(&'static str, &'static str)],
    /// The syntax the web editor highlights the language's programs as
    /// (its editor's mode name; plain text where it has none).
    pub highlight: &'static str,
    /// A first program, greeting the name on its input: the playground's
    /// starter code.
    pub hello: &'static str,
    /// A rewrite of the source before it is compiled.
    pub front_end: Option<FrontEnd>,
}

/// A rewrite of programs into what the toolchain accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrontEnd {
    /// Today's C# (top-level statements, an async `Main`, implicit usings)
    /// for Mono's compiler.
    CsharpForMcs,
}

/// A library a language's image carries: its name, its version there and
/// the Debian package it comes from.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Library {
    pub name: &'static str,
    pub version: &'static str,
    pub package: &'static str,
}

impl Library {
    pub const fn new(name: &'static str, version: &'static str, package: &'static str) -> Library {
        Library {
            name,
            version,
            package,
        }
    }
}

impl Language {
    /// Every Debian package the language's image needs: the toolchain's
    /// and its libraries'.
    pub fn all_packages(&self) -> Vec<&'static str> {
        let mut all: Vec<&'static str> = self.packages.to_vec();
        all.extend(self.libraries.iter().map(|l| l.package));
        all
    }

    /// The requested libraries (a name, and a version or its prefix) that
    /// this language's image lacks, each with why.
    pub fn missing_libraries(&self, wanted: &[(&str, Option<&str>)]) -> Vec<String> {
        let carried = || {
            self.libraries
                .iter()
                .map(|l| format!("{} {}", l.name, l.version))
                .collect::<Vec<_>>()
                .join(", ")
        };
        wanted
            .iter()
            .filter_map(|&(name, version)| {
                let Some(l) = self
                    .libraries
                    .iter()
                    .find(|l| l.name.eq_ignore_ascii_case(name))
                else {
                    return Some(if self.libraries.is_empty() {
                        format!("{name} (the {} image carries no libraries)", self.name)
                    } else {
                        format!("{name} (the {} image carries {})", self.name, carried())
                    });
                };
                let fits = version
                    .is_none_or(|v| l.version == v || l.version.starts_with(&format!("{v}.")));
                (!fits).then(|| {
                    format!(
                        "{name} {} (the {} image carries {})",
                        version.unwrap_or_default(),
                        self.name,
                        l.version
                    )
                })
            })
            .collect()
    }
}

/// The entry point's name: for Java, the public class the source declares
/// (its file must carry that name), `Main` otherwise.
pub fn main_class(lang: &Language, source: &[u8]) -> String {
    if lang.id != "java" {
        return "Main".into();
    }
    let text = String::from_utf8_lossy(source);
    let mut words = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .filter(|w| !w.is_empty());
    while let Some(w) = words.next() {
        if w == "public" {
            let mut next = words.next();
            while matches!(next, Some("final" | "abstract" | "static" | "strictfp")) {
                next = words.next();
            }
            if next == Some("class") {
                if let Some(name) = words.next() {
                    return name.to_string();
                }
            }
        }
    }
    "Main".into()
}

/// Limits of the compile phase: generous but bounded.
pub fn compile_limits() -> Limits {
    Limits {
        time_ms: 30_000,
        wall_time_ms: 60_000,
        memory_mb: 2_048,
        processes: 128,
        // Compiler messages beyond this are cut (the run is then a CE anyway).
        output_bytes: COMPILE_MESSAGES_BYTES,
        file_size_bytes: 512 << 20,
        open_files: 1_024,
        stack_mb: 64,
    }
}

/// At most this much compiler output is kept.
pub const COMPILE_MESSAGES_BYTES: u64 = 64 << 10;

pub fn by_id(id: &str) -> Option<&'static Language> {
    LANGUAGES.iter().find(|l| l.id == id)
}

/// A language by its code in the Problem Package Format's languages table
/// (`submissions.yaml`'s `language`): most codes are ids here; the
/// variants with a library (`cppgmp`, `python3numpy`) are the language
/// with its libraries.
pub fn by_format_code(code: &str) -> Option<&'static Language> {
    let id = match code {
        "cgmp" => "c",
        "cppgmp" => "cpp",
        "python3numpy" => "python3",
        "javaalgs4" => return None,
        other => other,
    };
    by_id(id)
}

/// A language's code in the Problem Package Format's languages table (the
/// directory of `include/` its submissions get).
pub fn format_code(lang: &Language) -> &'static str {
    match lang.id {
        "cpp-clang" => "cpp",
        "pypy3" => "python3",
        id => id,
    }
}

/// The language of a source file, from its extension.
pub fn by_extension(path: &Path) -> Option<&'static Language> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    LANGUAGES
        .iter()
        .find(|l| l.extensions.contains(&ext.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_the_formats_codes_and_extensions_are_unique() {
        let mut ids: Vec<&str> = LANGUAGES.iter().map(|l| l.id).collect();
        assert!(ids.len() >= 25, "{ids:?}");
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), LANGUAGES.len());
        // The Problem Package Format's codes where it names the language.
        for code in [
            "bash",
            "c",
            "cpp",
            "csharp",
            "d",
            "elixir",
            "erlang",
            "fortran",
            "go",
            "haskell",
            "java",
            "javascript",
            "kotlin",
            "lisp",
            "lua",
            "nim",
            "ocaml",
            "pascal",
            "perl",
            "php",
            "prolog",
            "python3",
            "racket",
            "ruby",
            "rust",
            "scala",
            "typescript",
        ] {
            assert!(by_id(code).is_some(), "{code}");
        }
        for l in LANGUAGES {
            assert!(!l.release.is_empty() && !l.hello.is_empty(), "{}", l.id);
            assert!(!l.packages.is_empty() && !l.version.is_empty(), "{}", l.id);
        }
        let mut exts: Vec<&str> = LANGUAGES
            .iter()
            .flat_map(|l| l.extensions.iter().copied())
            .collect();
        let n = exts.len();
        exts.sort();
        exts.dedup();
        assert_eq!(exts.len(), n);
    }

    #[test]
    fn extensions_select_languages_as_the_package_format_says() {
        for (file, id) in [
            ("a.sh", "bash"),
            ("a.kt", "kotlin"),
            ("a.ts", "typescript"),
            ("a.hs", "haskell"),
            ("a.pas", "pascal"),
            ("a.pl", "prolog"),
            ("a.pm", "perl"),
            ("a.lisp", "lisp"),
            ("a.cl", "lisp"),
            ("a.f90", "fortran"),
            ("a.ex", "elixir"),
            ("a.erl", "erlang"),
            ("a.rkt", "racket"),
            ("a.ml", "ocaml"),
            ("a.py3", "python3"),
        ] {
            assert_eq!(
                by_extension(Path::new(file)).map(|l| l.id),
                Some(id),
                "{file}"
            );
        }
    }

    #[test]
    fn libraries_are_named_by_what_the_image_lacks() {
        let py = by_id("python3").unwrap();
        let missing =
            py.missing_libraries(&[("NumPy", None), ("pandas", None), ("scipy", Some("1.10"))]);
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert!(
            missing[0].starts_with("pandas (the Python 3 image carries numpy "),
            "{missing:?}"
        );
        let cs = by_id("csharp").unwrap();
        assert!(cs
            .missing_libraries(&[("Newtonsoft.Json", Some("6.0.8"))])
            .is_empty());
        let wrong = cs.missing_libraries(&[("Newtonsoft.Json", Some("13.0.1"))]);
        assert_eq!(
            wrong,
            ["Newtonsoft.Json 13.0.1 (the C# (Mono) image carries 6.0.8)"]
        );
        assert!(py.all_packages().contains(&"python3-scipy"));
    }

    #[test]
    fn the_test_setup_installs_every_package_of_the_table() {
        let script = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/install-deps"),
        )
        .unwrap();
        let listed: Vec<&str> = script
            .lines()
            .map(|l| l.split('#').next().unwrap())
            .flat_map(str::split_whitespace)
            .collect();
        for l in LANGUAGES {
            for p in l.all_packages() {
                assert!(
                    listed.contains(&p),
                    "scripts/install-deps lacks {p} ({})",
                    l.id
                );
            }
        }
    }

    #[test]
    fn extension_lookup_is_case_insensitive() {
        assert_eq!(by_extension(Path::new("sol.CPP")).unwrap().id, "cpp");
        assert_eq!(by_extension(Path::new("Main.java")).unwrap().id, "java");
        assert!(by_extension(Path::new("notes.txt")).is_none());
    }

    #[test]
    fn java_main_class_is_the_public_class() {
        let java = by_id("java").unwrap();
        assert_eq!(
            main_class(java, b"import x;\npublic final class Sum { }"),
            "Sum"
        );
        assert_eq!(main_class(java, b"class A {} // public interface"), "Main");
        assert_eq!(main_class(by_id("c").unwrap(), b"public class X"), "Main");
    }
}
