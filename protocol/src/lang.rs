//! The language table: how each language is compiled and run, which host
//! paths its toolchain needs, and the flags that make a memory limit mean
//! what the user expects. Runner images are generated from this same table
//! (`runner-task languages --json` prints it with the packages to install);
//! the platform reads it to name and check languages. Finding a toolchain
//! on a host is the runner's (`runner_task::lang::Toolchain`).

use std::path::Path;

use serde::Serialize;

use crate::Limits;

/// One language. Templates may use `{box}` (the job's directory), `{tmp}`
/// (scratch), `{home}` (the resolved toolchain home), `{memory_mb}` and
/// `{stack_mb}`.
#[derive(Debug, Serialize)]
pub struct Language {
    pub id: &'static str,
    pub name: &'static str,
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
}

pub static LANGUAGES: &[Language] = &[
    Language {
        id: "python3",
        name: "Python 3",
        extensions: &["py"],
        source_file: "main.py",
        // A syntax check, so that a syntax error is a compile error.
        compile: Some(&[
            "/usr/bin/python3",
            "-I",
            "-c",
            "import sys; compile(open(sys.argv[1], 'rb').read(), 'main.py', 'exec')",
            "{box}/main.py",
        ]),
        run: &["/usr/bin/python3", "-B", "-I", "{box}/main.py"],
        env: &[("PYTHONIOENCODING", "utf-8")],
        home: &["/usr/lib/python3.*"],
        run_paths: &["/usr/bin/python3", "/usr/lib/python3/dist-packages"],
        dynamic: true,
        memory_overhead_mb: 0,
        limit_address_space: true,
        oom_markers: &["MemoryError"],
        startup_syntax_errors: &["SyntaxError: ", "IndentationError: ", "TabError: "],
        version: &["/usr/bin/python3", "--version"],
        packages: &["python3"],
    },
    Language {
        id: "c",
        name: "C (GCC, C17)",
        extensions: &["c"],
        source_file: "main.c",
        compile: Some(&[
            "/usr/bin/gcc",
            "-std=gnu17",
            "-O2",
            "-pipe",
            "-static",
            "-DONLINE_JUDGE",
            "-o",
            "{box}/main",
            "{box}/main.c",
            "-lm",
        ]),
        run: &["{box}/main"],
        env: &[],
        home: &[],
        run_paths: &[],
        dynamic: false,
        memory_overhead_mb: 0,
        limit_address_space: true,
        oom_markers: &[],
        startup_syntax_errors: &[],
        version: &["/usr/bin/gcc", "--version"],
        packages: &["gcc", "libc6-dev"],
    },
    Language {
        id: "cpp",
        name: "C++ (G++, C++20)",
        extensions: &["cpp", "cc", "cxx", "c++"],
        source_file: "main.cpp",
        compile: Some(&[
            "/usr/bin/g++",
            "-std=gnu++20",
            "-O2",
            "-pipe",
            "-static",
            "-DONLINE_JUDGE",
            "-o",
            "{box}/main",
            "{box}/main.cpp",
        ]),
        run: &["{box}/main"],
        env: &[],
        home: &[],
        run_paths: &[],
        dynamic: false,
        memory_overhead_mb: 0,
        limit_address_space: true,
        oom_markers: &["std::bad_alloc"],
        startup_syntax_errors: &[],
        version: &["/usr/bin/g++", "--version"],
        packages: &["g++"],
    },
    Language {
        id: "java",
        name: "Java (OpenJDK)",
        extensions: &["java"],
        source_file: "{main}.java",
        compile: Some(&[
            "{home}/bin/javac",
            "-J-Xmx512m",
            "-J-XX:+UseSerialGC",
            "-J-XX:TieredStopAtLevel=1",
            "-J-XX:-UsePerfData",
            "-encoding",
            "UTF-8",
            "-d",
            "{box}",
            "{box}/{main}.java",
        ]),
        run: &[
            "{home}/bin/java",
            "-Xmx{memory_mb}m",
            "-Xss{stack_mb}m",
            "-XX:+UseSerialGC",
            "-XX:-UsePerfData",
            "-XX:+ExitOnOutOfMemoryError",
            "-Xshare:auto",
            "-cp",
            "{box}",
            "{main}",
        ],
        env: &[],
        home: &[
            "/usr/lib/jvm/java-17-openjdk-*",
            "/usr/lib/jvm/java-21-openjdk-*",
            "/usr/lib/jvm/default-java",
        ],
        run_paths: &["/etc/java-17-openjdk", "/etc/java-21-openjdk"],
        dynamic: true,
        memory_overhead_mb: 192,
        limit_address_space: false,
        oom_markers: &["java.lang.OutOfMemoryError"],
        startup_syntax_errors: &[],
        version: &["{home}/bin/java", "-version"],
        packages: &["openjdk-17-jdk-headless"],
    },
    Language {
        id: "go",
        name: "Go",
        extensions: &["go"],
        source_file: "main.go",
        compile: Some(&[
            "{home}/bin/go",
            "build",
            "-o",
            "{box}/main",
            "{box}/main.go",
        ]),
        run: &["{box}/main"],
        env: &[
            ("GOCACHE", "{tmp}/go-cache"),
            ("GOPATH", "{tmp}/go"),
            ("CGO_ENABLED", "0"),
            ("GO111MODULE", "off"),
            ("GOMEMLIMIT", "{memory_mb}MiB"),
            ("GOTOOLCHAIN", "local"),
        ],
        home: &["/usr/lib/go-*", "/usr/lib/go", "/usr/local/go"],
        run_paths: &[],
        dynamic: false,
        memory_overhead_mb: 32,
        limit_address_space: false,
        oom_markers: &["runtime: out of memory"],
        startup_syntax_errors: &[],
        version: &["{home}/bin/go", "version"],
        packages: &["golang-go"],
    },
    Language {
        id: "rust",
        name: "Rust",
        extensions: &["rs"],
        source_file: "main.rs",
        compile: Some(&[
            "/usr/bin/rustc",
            "--edition",
            "2021",
            "-C",
            "opt-level=2",
            "-C",
            "target-feature=+crt-static",
            "-C",
            "debuginfo=0",
            "--cfg",
            "online_judge",
            "-o",
            "{box}/main",
            "{box}/main.rs",
        ]),
        run: &["{box}/main"],
        env: &[],
        home: &[],
        run_paths: &[],
        dynamic: false,
        memory_overhead_mb: 0,
        limit_address_space: true,
        oom_markers: &["memory allocation of"],
        startup_syntax_errors: &[],
        version: &["/usr/bin/rustc", "--version"],
        packages: &["rustc"],
    },
    Language {
        id: "javascript",
        name: "JavaScript (Node.js)",
        extensions: &["js", "mjs", "cjs"],
        source_file: "main.js",
        compile: Some(&["/usr/bin/node", "--check", "{box}/main.js"]),
        run: &[
            "/usr/bin/node",
            "--max-old-space-size={memory_mb}",
            "--stack-size=65500",
            "{box}/main.js",
        ],
        // Node reads the system OpenSSL configuration at start; it is not
        // visible in the sandbox and not needed.
        env: &[("UV_THREADPOOL_SIZE", "2"), ("OPENSSL_CONF", "/dev/null")],
        home: &[],
        // Debian's Node.js loads some of its own built-in modules from
        // /usr/share/nodejs at start.
        run_paths: &["/usr/bin/node", "/usr/share/nodejs"],
        dynamic: true,
        memory_overhead_mb: 96,
        limit_address_space: false,
        oom_markers: &["JavaScript heap out of memory"],
        startup_syntax_errors: &[],
        version: &["/usr/bin/node", "--version"],
        packages: &["nodejs"],
    },
    Language {
        id: "csharp",
        name: "C# (Mono)",
        extensions: &["cs"],
        source_file: "main.cs",
        compile: Some(&[
            "/usr/bin/mono",
            "/usr/lib/mono/4.5/mcs.exe",
            "-optimize+",
            "-nologo",
            "-out:{box}/main.exe",
            "{box}/main.cs",
        ]),
        run: &[
            "/usr/bin/mono",
            "--gc-params=max-heap-size={memory_mb}m",
            "{box}/main.exe",
        ],
        env: &[("MONO_GC_PARAMS", "max-heap-size={memory_mb}m")],
        home: &[],
        run_paths: &["/usr/bin/mono", "/usr/lib/mono", "/etc/mono"],
        dynamic: true,
        memory_overhead_mb: 64,
        limit_address_space: false,
        oom_markers: &["System.OutOfMemoryException", "Out of memory"],
        startup_syntax_errors: &[],
        version: &["/usr/bin/mono", "--version"],
        packages: &["mono-mcs", "mono-runtime"],
    },
];

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
    fn ids_are_the_documented_eight_and_extensions_are_unique() {
        let ids: Vec<&str> = LANGUAGES.iter().map(|l| l.id).collect();
        assert_eq!(
            ids,
            [
                "python3",
                "c",
                "cpp",
                "java",
                "go",
                "rust",
                "javascript",
                "csharp"
            ]
        );
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
