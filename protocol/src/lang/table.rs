//! The languages, each from Debian bookworm's packages (the runner images
//! pin one snapshot of them, so `release` is what every image carries).

use super::{FrontEnd, Language, Library};

/// A natively compiled language whose binary is static: nothing of the
/// host is shown to it at run time.
const NATIVE: Language = Language {
    id: "",
    name: "",
    release: "",
    extensions: &[],
    source_file: "",
    compile: None,
    run: &["{box}/main"],
    env: &[],
    home: &[],
    run_paths: &[],
    compile_paths: &[],
    dynamic: false,
    memory_overhead_mb: 0,
    limit_address_space: true,
    oom_markers: &[],
    startup_syntax_errors: &[],
    version: &[],
    packages: &[],
    libraries: &[],
    support_files: &[],
    highlight: "",
    hello: "",
    front_end: None,
};

/// An interpreter or managed runtime: dynamically linked, shown its own
/// files at run time.
const RUNTIME: Language = Language {
    dynamic: true,
    ..NATIVE
};

/// The JVM's flags for a program: the heap is the user's limit; metaspace,
/// code cache and thread stacks are the language's overhead.
const JVM_OVERHEAD_MB: u64 = 192;

/// The JDK a JVM language runs on.
const JDK_HOME: &[&str] = &[
    "/usr/lib/jvm/java-17-openjdk-*",
    "/usr/lib/jvm/java-21-openjdk-*",
    "/usr/lib/jvm/default-java",
];

/// A static C++20 build of the program's sources by `$compiler`.
macro_rules! cxx_compile {
    ($compiler:literal) => {
        &[
            $compiler,
            "-std=gnu++20",
            "-O2",
            "-pipe",
            "-static",
            "-DONLINE_JUDGE",
            "-o",
            "{box}/main",
            "{sources}",
        ]
    };
}

/// The JVM's command for a program on class path `$cp` with main class
/// `$main`: the heap is the user's limit, one GC thread, an out-of-memory
/// error ends it.
macro_rules! jvm_run {
    ($cp:literal, $main:literal) => {
        &[
            "{home}/bin/java",
            "-Xmx{memory_mb}m",
            "-Xss{stack_mb}m",
            "-XX:+UseSerialGC",
            "-XX:-UsePerfData",
            "-XX:+ExitOnOutOfMemoryError",
            "-Xshare:auto",
            "-cp",
            $cp,
            $main,
        ]
    };
}

/// The JDK's configuration, which its programs read at start.
const JVM_RUN_PATHS: &[&str] = &["/etc/java-17-openjdk", "/etc/java-21-openjdk"];

/// JVM-hosted compilers (kotlinc, scalac) read their JVM's flags here: a
/// bounded heap, one GC thread, no shared performance file.
const JVM_COMPILER_OPTS: (&str, &str) = (
    "JAVA_OPTS",
    "-Xmx768m -Xss8m -XX:+UseSerialGC -XX:-UsePerfData -XX:TieredStopAtLevel=1",
);

/// A syntax check of every Python source of the program.
const PYTHON_SYNTAX_CHECK: &str = "import os, sys\nfor f in sys.argv[1:]: compile(open(f, 'rb').read(), os.path.basename(f), 'exec')";

/// Node.js for JavaScript and the compiled TypeScript alike.
const NODE_RUN: &[&str] = &[
    "/usr/bin/node",
    "--max-old-space-size={memory_mb}",
    "--stack-size=65500",
    "{box}/main.js",
];

/// The Node.js globals a TypeScript program may use without `@types/node`
/// (which Debian does not package): the compiler checks everything else.
const NODE_GLOBALS_D_TS: &str = "\
declare var console: any;
declare function setTimeout(f: (...a: any[]) => void, ms?: number, ...a: any[]): any;
declare function clearTimeout(t: any): void;
declare function setInterval(f: (...a: any[]) => void, ms?: number, ...a: any[]): any;
declare function clearInterval(t: any): void;
declare function setImmediate(f: (...a: any[]) => void, ...a: any[]): any;
declare function queueMicrotask(f: () => void): void;
declare var TextEncoder: any;
declare var TextDecoder: any;
declare var require: (id: string) => any;
declare var process: any;
declare var module: any;
declare var exports: any;
declare var Buffer: any;
declare var __dirname: string;
declare var __filename: string;
";

/// A language run by Node.js: its heap is the user's limit.
const NODE: Language = Language {
    run: NODE_RUN,
    // Node reads the system OpenSSL configuration at start; it is not
    // visible in the sandbox and not needed.
    env: &[("UV_THREADPOOL_SIZE", "2"), ("OPENSSL_CONF", "/dev/null")],
    // Debian's Node.js loads some of its own built-in modules from
    // /usr/share/nodejs at start.
    run_paths: &["/usr/bin/node", "/usr/share/nodejs"],
    memory_overhead_mb: 96,
    limit_address_space: false,
    oom_markers: &["JavaScript heap out of memory"],
    ..RUNTIME
};

/// A language run by the JVM (its `run` names the class path and class).
const JVM: Language = Language {
    home: JDK_HOME,
    run_paths: JVM_RUN_PATHS,
    memory_overhead_mb: JVM_OVERHEAD_MB,
    limit_address_space: false,
    oom_markers: &["java.lang.OutOfMemoryError"],
    ..RUNTIME
};

pub static LANGUAGES: &[Language] = &[
    Language {
        id: "python3",
        name: "Python 3",
        release: "3.11",
        extensions: &["py", "py3"],
        source_file: "main.py",
        // A syntax check, so that a syntax error is a compile error.
        compile: Some(&[
            "/usr/bin/python3",
            "-I",
            "-c",
            PYTHON_SYNTAX_CHECK,
            "{sources}",
        ]),
        // Isolated from the environment and the user's site, but with the
        // program's own directory on the path (its other modules).
        run: &["/usr/bin/python3", "-B", "-E", "-s", "{box}/main.py"],
        env: &[("PYTHONIOENCODING", "utf-8"), ("OPENBLAS_NUM_THREADS", "1")],
        home: &["/usr/lib/python3.*"],
        // numpy finds its BLAS through /etc/alternatives.
        run_paths: &[
            "/usr/bin/python3",
            "/usr/lib/python3/dist-packages",
            "/etc/alternatives",
        ],
        oom_markers: &["MemoryError"],
        startup_syntax_errors: &["SyntaxError: ", "IndentationError: ", "TabError: "],
        version: &["/usr/bin/python3", "--version"],
        packages: &["python3"],
        libraries: &[
            Library::new("numpy", "1.24.2", "python3-numpy"),
            Library::new("scipy", "1.10.1", "python3-scipy"),
        ],
        highlight: "python",
        hello: "name = input()\nprint(f\"Hello, {name}!\")\n",
        ..RUNTIME
    },
    Language {
        id: "pypy3",
        name: "Python 3 (PyPy)",
        release: "7.3.11 (Python 3.9)",
        source_file: "main.py",
        compile: Some(&[
            "/usr/bin/pypy3",
            "-c",
            PYTHON_SYNTAX_CHECK,
            "{sources}",
        ]),
        run: &["/usr/bin/pypy3", "-B", "-E", "-s", "{box}/main.py"],
        // PyPy's collector raises MemoryError at this heap size.
        env: &[
            ("PYTHONIOENCODING", "utf-8"),
            ("PYPY_GC_MAX", "{memory_mb}MB"),
        ],
        home: &["/usr/lib/pypy3.*"],
        run_paths: &["/usr/bin/pypy3", "/usr/lib/pypy3"],
        memory_overhead_mb: 64,
        limit_address_space: false,
        oom_markers: &["MemoryError"],
        startup_syntax_errors: &["SyntaxError: ", "IndentationError: ", "TabError: "],
        version: &["/usr/bin/pypy3", "--version"],
        packages: &["pypy3"],
        highlight: "python",
        hello: "name = input()\nprint(f\"Hello, {name}!\")\n",
        ..RUNTIME
    },
    Language {
        id: "c",
        name: "C (GCC, C17)",
        release: "GCC 12.2",
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
            "{sources}",
            "-lm",
        ]),
        version: &["/usr/bin/gcc", "--version"],
        packages: &["gcc", "libc6-dev"],
        highlight: "cpp",
        hello: "#include <stdio.h>\n\nint main(void) {\n    char name[100];\n    if (scanf(\"%99s\", name) == 1) printf(\"Hello, %s!\\n\", name);\n    return 0;\n}\n",
        ..NATIVE
    },
    Language {
        id: "cpp",
        name: "C++ (G++, C++20)",
        release: "GCC 12.2",
        extensions: &["cpp", "cc", "cxx", "c++"],
        source_file: "main.cpp",
        compile: Some(cxx_compile!("/usr/bin/g++")),
        oom_markers: &["std::bad_alloc"],
        version: &["/usr/bin/g++", "--version"],
        packages: &["g++"],
        libraries: &[Library::new("boost", "1.74.0", "libboost-dev")],
        highlight: "cpp",
        hello: "#include <iostream>\n#include <string>\n\nint main() {\n    std::string name;\n    std::cin >> name;\n    std::cout << \"Hello, \" << name << \"!\\n\";\n}\n",
        ..NATIVE
    },
    Language {
        id: "cpp-clang",
        name: "C++ (Clang, C++20)",
        release: "Clang 14",
        source_file: "main.cpp",
        compile: Some(cxx_compile!("/usr/bin/clang++")),
        oom_markers: &["std::bad_alloc"],
        version: &["/usr/bin/clang++", "--version"],
        packages: &["clang", "g++"],
        libraries: &[Library::new("boost", "1.74.0", "libboost-dev")],
        highlight: "cpp",
        hello: "#include <iostream>\n#include <string>\n\nint main() {\n    std::string name;\n    std::cin >> name;\n    std::cout << \"Hello, \" << name << \"!\\n\";\n}\n",
        ..NATIVE
    },
    Language {
        id: "java",
        name: "Java (OpenJDK)",
        release: "17",
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
            // The program's other classes are compiled as it uses them.
            "-sourcepath",
            "{box}",
            "{box}/{main}.java",
        ]),
        run: jvm_run!("{box}", "{main}"),
        version: &["{home}/bin/java", "-version"],
        packages: &["openjdk-17-jdk-headless"],
        highlight: "java",
        hello: "import java.util.Scanner;\n\npublic class Main {\n    public static void main(String[] args) {\n        String name = new Scanner(System.in).next();\n        System.out.println(\"Hello, \" + name + \"!\");\n    }\n}\n",
        ..JVM
    },
    Language {
        id: "kotlin",
        name: "Kotlin (JVM)",
        release: "1.3.31",
        extensions: &["kt"],
        source_file: "main.kt",
        compile: Some(&[
            "/usr/bin/kotlinc",
            "-nowarn",
            "-include-runtime",
            "-d",
            "{box}/main.jar",
            "{sources}",
        ]),
        run: jvm_run!("{box}/main.jar", "MainKt"),
        env: &[JVM_COMPILER_OPTS],
        version: &["/usr/bin/kotlinc", "-version"],
        packages: &["kotlin", "openjdk-17-jdk-headless"],
        highlight: "kotlin",
        hello: "fun main() {\n    val name = readLine()!!.trim()\n    println(\"Hello, $name!\")\n}\n",
        ..JVM
    },
    Language {
        id: "scala",
        name: "Scala (JVM)",
        release: "2.11.12",
        extensions: &["scala"],
        source_file: "main.scala",
        compile: Some(&["/usr/bin/scalac", "-nowarn", "-d", "{box}", "{sources}"]),
        run: jvm_run!("{box}:/usr/share/java/scala-library.jar", "Main"),
        env: &[JVM_COMPILER_OPTS],
        run_paths: &[
            "/etc/java-17-openjdk",
            "/etc/java-21-openjdk",
            "/usr/share/java/scala-library.jar",
            "/usr/share/scala-2.11/lib",
        ],
        version: &["/usr/bin/scalac", "-version"],
        packages: &["scala", "openjdk-17-jdk-headless"],
        highlight: "scala",
        hello: "object Main {\n  def main(args: Array[String]): Unit = {\n    val name = scala.io.StdIn.readLine().trim\n    println(s\"Hello, $name!\")\n  }\n}\n",
        ..JVM
    },
    Language {
        id: "go",
        name: "Go",
        release: "1.19",
        extensions: &["go"],
        source_file: "main.go",
        compile: Some(&[
            "{home}/bin/go",
            "build",
            "-o",
            "{box}/main",
            "{sources}",
        ]),
        env: &[
            ("GOCACHE", "{tmp}/go-cache"),
            ("GOPATH", "{tmp}/go"),
            ("CGO_ENABLED", "0"),
            ("GO111MODULE", "off"),
            ("GOMEMLIMIT", "{memory_mb}MiB"),
            ("GOTOOLCHAIN", "local"),
        ],
        home: &["/usr/lib/go-*", "/usr/lib/go", "/usr/local/go"],
        memory_overhead_mb: 32,
        limit_address_space: false,
        oom_markers: &["runtime: out of memory"],
        version: &["{home}/bin/go", "version"],
        packages: &["golang-go"],
        highlight: "go",
        hello: "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tvar name string\n\tfmt.Scan(&name)\n\tfmt.Printf(\"Hello, %s!\\n\", name)\n}\n",
        ..NATIVE
    },
    Language {
        id: "rust",
        name: "Rust",
        release: "1.63",
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
        oom_markers: &["memory allocation of"],
        version: &["/usr/bin/rustc", "--version"],
        packages: &["rustc"],
        highlight: "rust",
        hello: "use std::io::stdin;\n\nfn main() {\n    let mut name = String::new();\n    stdin().read_line(&mut name).unwrap();\n    println!(\"Hello, {}!\", name.trim());\n}\n",
        ..NATIVE
    },
    Language {
        id: "javascript",
        name: "JavaScript (Node.js)",
        release: "18",
        extensions: &["js", "mjs", "cjs"],
        source_file: "main.js",
        compile: Some(&["/usr/bin/node", "--check", "{box}/main.js"]),
        version: &["/usr/bin/node", "--version"],
        packages: &["nodejs"],
        highlight: "javascript",
        hello: "const name = require(\"fs\").readFileSync(0, \"utf8\").trim();\nconsole.log(`Hello, ${name}!`);\n",
        ..NODE
    },
    Language {
        id: "typescript",
        name: "TypeScript (Node.js)",
        release: "4.8",
        extensions: &["ts"],
        source_file: "main.ts",
        compile: Some(&[
            "/usr/bin/tsc",
            "--target",
            "es2021",
            // Node.js, not a browser: no DOM globals (`name`, `document`…).
            "--lib",
            "es2021",
            "--module",
            "commonjs",
            "--skipLibCheck",
            "--outDir",
            "{box}",
            "{box}/main.ts",
            "{box}/coderun-node.d.ts",
        ]),
        version: &["/usr/bin/tsc", "--version"],
        packages: &["node-typescript", "nodejs"],
        support_files: &[("coderun-node.d.ts", NODE_GLOBALS_D_TS)],
        highlight: "typescript",
        hello: "const name: string = require(\"fs\").readFileSync(0, \"utf8\").trim();\nconsole.log(`Hello, ${name}!`);\n",
        ..NODE
    },
    Language {
        id: "csharp",
        name: "C# (Mono)",
        release: "Mono 6.8 (C# 7)",
        extensions: &["cs"],
        source_file: "main.cs",
        compile: Some(&[
            "/usr/bin/mono",
            "/usr/lib/mono/4.5/mcs.exe",
            "-optimize+",
            "-nologo",
            "-r:System.Net.Http.dll",
            "-r:System.Numerics.dll",
            "-r:/usr/lib/cli/Newtonsoft.Json-5.0/Newtonsoft.Json.dll",
            "-out:{box}/main.exe",
            "{sources}",
        ]),
        run: &[
            "/usr/bin/mono",
            "--gc-params=max-heap-size={memory_mb}m",
            "{box}/main.exe",
        ],
        env: &[("MONO_GC_PARAMS", "max-heap-size={memory_mb}m")],
        run_paths: &[
            "/usr/bin/mono",
            "/usr/lib/mono",
            "/etc/mono",
            "/usr/lib/libmono-native.so*",
            "/usr/lib/libMonoPosixHelper.so",
        ],
        memory_overhead_mb: 64,
        limit_address_space: false,
        oom_markers: &["System.OutOfMemoryException", "Out of memory"],
        version: &["/usr/bin/mono", "--version"],
        packages: &["mono-mcs", "mono-runtime", "libmono-system-net-http4.0-cil"],
        libraries: &[Library::new("Newtonsoft.Json", "6.0.8", "libnewtonsoft-json-cil-dev")],
        front_end: Some(FrontEnd::CsharpForMcs),
        highlight: "csharp",
        hello: "var name = Console.ReadLine();\nConsole.WriteLine($\"Hello, {name}!\");\n",
        ..RUNTIME
    },
    Language {
        id: "bash",
        name: "Bash",
        release: "5.2",
        extensions: &["sh"],
        source_file: "main.sh",
        compile: Some(&["/usr/bin/bash", "-n", "{box}/main.sh"]),
        run: &["/usr/bin/bash", "{box}/main.sh"],
        // A script's tools (sort, tr, awk…) are the host's programs.
        run_paths: &["/usr/bin"],
        oom_markers: &["Cannot allocate memory"],
        version: &["/usr/bin/bash", "--version"],
        packages: &["bash", "coreutils", "gawk"],
        highlight: "shell",
        hello: "read -r name\necho \"Hello, $name!\"\n",
        ..RUNTIME
    },
    Language {
        id: "ruby",
        name: "Ruby",
        release: "3.1",
        extensions: &["rb"],
        source_file: "main.rb",
        compile: Some(&["/usr/bin/ruby", "-c", "{box}/main.rb"]),
        run: &["/usr/bin/ruby", "{box}/main.rb"],
        run_paths: &["/usr/bin/ruby", "/usr/lib/ruby"],
        oom_markers: &["NoMemoryError"],
        version: &["/usr/bin/ruby", "--version"],
        packages: &["ruby"],
        highlight: "ruby",
        hello: "name = gets.strip\nputs \"Hello, #{name}!\"\n",
        ..RUNTIME
    },
    Language {
        id: "php",
        name: "PHP",
        release: "8.2",
        extensions: &["php"],
        source_file: "main.php",
        compile: Some(&["/usr/bin/php", "-n", "-l", "{box}/main.php"]),
        // Without the host's php.ini (-n): PHP's own memory limit is the
        // user's, and no extension is loaded behind the program's back.
        run: &[
            "/usr/bin/php",
            "-n",
            "-d",
            "memory_limit={memory_mb}M",
            "{box}/main.php",
        ],
        run_paths: &["/usr/bin/php", "/usr/share/zoneinfo"],
        memory_overhead_mb: 16,
        oom_markers: &["Allowed memory size of"],
        version: &["/usr/bin/php", "--version"],
        packages: &["php-cli"],
        highlight: "php",
        hello: "<?php\n$name = trim(fgets(STDIN));\necho \"Hello, $name!\\n\";\n",
        ..RUNTIME
    },
    Language {
        id: "perl",
        name: "Perl",
        release: "5.36",
        extensions: &["pm"],
        source_file: "main.pl",
        compile: Some(&["/usr/bin/perl", "-c", "{box}/main.pl"]),
        run: &["/usr/bin/perl", "{box}/main.pl"],
        run_paths: &[
            "/usr/bin/perl",
            "/usr/share/perl",
            "/usr/share/perl5",
            "/etc/perl",
        ],
        oom_markers: &["Out of memory"],
        version: &["/usr/bin/perl", "-e", "print \"perl $^V\\n\""],
        packages: &["perl"],
        highlight: "perl",
        hello: "my $name = <STDIN>;\nchomp $name;\nprint \"Hello, $name!\\n\";\n",
        ..RUNTIME
    },
    Language {
        id: "lua",
        name: "Lua",
        release: "5.4",
        extensions: &["lua"],
        source_file: "main.lua",
        compile: Some(&["/usr/bin/luac5.4", "-p", "{box}/main.lua"]),
        run: &["/usr/bin/lua5.4", "{box}/main.lua"],
        run_paths: &["/usr/bin/lua5.4"],
        oom_markers: &["not enough memory"],
        version: &["/usr/bin/lua5.4", "-v"],
        packages: &["lua5.4"],
        highlight: "lua",
        hello: "local name = io.read(\"l\")\nprint(\"Hello, \" .. name .. \"!\")\n",
        ..RUNTIME
    },
    Language {
        id: "haskell",
        name: "Haskell (GHC)",
        release: "GHC 9.0",
        extensions: &["hs"],
        source_file: "main.hs",
        compile: Some(&[
            "/usr/bin/ghc",
            "-O",
            "-rtsopts",
            "-v0",
            "-outputdir",
            "{tmp}/ghc",
            "-i{box}",
            "-o",
            "{box}/main",
            "{box}/main.hs",
        ]),
        // The runtime's heap is the user's limit.
        run: &["{box}/main", "+RTS", "-M{memory_mb}m", "-RTS"],
        compile_paths: &["/var/lib/ghc"],
        memory_overhead_mb: 16,
        // GHC's runtime reserves a terabyte of address space up front.
        limit_address_space: false,
        oom_markers: &["Heap exhausted"],
        version: &["/usr/bin/ghc", "--version"],
        packages: &["ghc"],
        highlight: "haskell",
        hello: "main :: IO ()\nmain = do\n  name <- getLine\n  putStrLn (\"Hello, \" ++ name ++ \"!\")\n",
        ..RUNTIME
    },
    Language {
        id: "ocaml",
        name: "OCaml",
        release: "4.13",
        extensions: &["ml"],
        source_file: "main.ml",
        // The program's modules in the order of their dependencies.
        compile: Some(&[
            "/usr/bin/sh",
            "-c",
            "cd {box} && exec /usr/bin/ocamlopt -o main $(/usr/bin/ocamldep -sort *.ml)",
        ]),
        oom_markers: &["Out_of_memory"],
        version: &["/usr/bin/ocamlopt", "-version"],
        packages: &["ocaml-nox"],
        highlight: "ocaml",
        hello: "let () =\n  let name = read_line () in\n  Printf.printf \"Hello, %s!\\n\" name\n",
        ..RUNTIME
    },
    Language {
        id: "pascal",
        name: "Pascal (Free Pascal)",
        release: "3.2.2",
        extensions: &["pas"],
        source_file: "main.pas",
        compile: Some(&[
            "/usr/bin/fpc",
            "-O2",
            "-XS",
            "-vew",
            "-FE{box}",
            "-o{box}/main",
            "{box}/main.pas",
        ]),
        compile_paths: &["/etc/fpc.cfg", "/etc/fpc-3.2.2.cfg"],
        // Runtime error 203: heap overflow.
        oom_markers: &["Runtime error 203"],
        version: &["/usr/bin/fpc", "-iV"],
        packages: &["fp-compiler", "fp-units-base"],
        highlight: "pascal",
        hello: "program Main;\nvar name: string;\nbegin\n  readln(name);\n  writeln('Hello, ', name, '!');\nend.\n",
        ..NATIVE
    },
    Language {
        id: "fortran",
        name: "Fortran (GFortran)",
        release: "GCC 12.2",
        extensions: &["f90"],
        source_file: "main.f90",
        compile: Some(&[
            "/usr/bin/gfortran",
            "-O2",
            "-pipe",
            "-static",
            "-o",
            "{box}/main",
            "{sources}",
        ]),
        oom_markers: &["Allocation would exceed memory limit"],
        version: &["/usr/bin/gfortran", "--version"],
        packages: &["gfortran"],
        highlight: "fortran",
        hello: "program main\n  character(len=100) :: name\n  read (*, '(A)') name\n  print '(A)', 'Hello, ' // trim(name) // '!'\nend program main\n",
        ..NATIVE
    },
    Language {
        id: "d",
        name: "D (LDC)",
        release: "LDC 1.30",
        extensions: &["d"],
        source_file: "main.d",
        compile: Some(&[
            "/usr/bin/ldc2",
            "-O",
            "-release",
            "-of={box}/main",
            "{sources}",
        ]),
        compile_paths: &["/etc/ldc2.conf"],
        oom_markers: &["OutOfMemoryError"],
        limit_address_space: false,
        version: &["/usr/bin/ldc2", "--version"],
        packages: &["ldc"],
        highlight: "d",
        hello: "import std.stdio, std.string;\n\nvoid main() {\n    auto name = readln().strip();\n    writeln(\"Hello, \", name, \"!\");\n}\n",
        ..RUNTIME
    },
    Language {
        id: "nim",
        name: "Nim",
        release: "1.6",
        extensions: &["nim"],
        source_file: "main.nim",
        compile: Some(&[
            "/usr/bin/nim",
            "compile",
            "-d:release",
            "--hints:off",
            "--verbosity:0",
            "--nimcache:{tmp}/nimcache",
            "--passL:-static",
            "-o:{box}/main",
            "{box}/main.nim",
        ]),
        compile_paths: &["/etc/nim"],
        oom_markers: &["out of memory"],
        version: &["/usr/bin/nim", "--version"],
        packages: &["nim", "gcc", "libc6-dev"],
        highlight: "nim",
        hello: "let name = stdin.readLine()\necho \"Hello, \", name, \"!\"\n",
        ..NATIVE
    },
    Language {
        id: "erlang",
        name: "Erlang",
        release: "OTP 25",
        extensions: &["erl"],
        source_file: "main.erl",
        compile: Some(&["/usr/bin/erlc", "-o", "{box}", "{sources}"]),
        // The module `main`'s main/0; `erlang halt` ends the VM as soon as
        // it returns (with output flushed).
        run: &[
            "/usr/bin/erl",
            "-noshell",
            "-pa",
            "{box}",
            "-run",
            "main",
            "main",
            "-s",
            "erlang",
            "halt",
            "-extra",
        ],
        // erl is a shell script: the shell and its tools are shown too.
        run_paths: &["/usr/bin", "/usr/lib/erlang"],
        memory_overhead_mb: 64,
        limit_address_space: false,
        oom_markers: &["Cannot allocate", "eheap_alloc"],
        version: &[
            "/usr/bin/erl",
            "-noshell",
            "-eval",
            "io:format(\"Erlang/OTP ~s~n\", [erlang:system_info(otp_release)]), halt().",
        ],
        packages: &["erlang-nox"],
        highlight: "erlang",
        hello: "-module(main).\n-export([main/0]).\n\nmain() ->\n    Name = string:trim(io:get_line(\"\")),\n    io:format(\"Hello, ~s!~n\", [Name]).\n",
        ..RUNTIME
    },
    Language {
        id: "elixir",
        name: "Elixir",
        release: "1.14",
        extensions: &["ex", "exs"],
        source_file: "main.exs",
        // A parse of the script (no evaluation): a syntax error is a
        // compile error.
        compile: Some(&[
            "/usr/bin/elixir",
            "-e",
            "[f] = System.argv(); Code.string_to_quoted!(File.read!(f), file: \"main.exs\")",
            "{box}/main.exs",
        ]),
        run: &["/usr/bin/elixir", "{box}/main.exs"],
        run_paths: &["/usr/bin", "/usr/lib/erlang", "/usr/lib/elixir"],
        memory_overhead_mb: 64,
        limit_address_space: false,
        oom_markers: &["Cannot allocate", "eheap_alloc"],
        version: &["/usr/bin/elixir", "--short-version"],
        packages: &["elixir", "erlang-nox"],
        highlight: "elixir",
        hello: "name = IO.gets(\"\") |> String.trim()\nIO.puts(\"Hello, #{name}!\")\n",
        ..RUNTIME
    },
    Language {
        id: "lisp",
        name: "Common Lisp (SBCL)",
        release: "SBCL 2.2.9",
        extensions: &["lisp", "cl"],
        source_file: "main.lisp",
        // Compiled to a fasl; a failure (an error, or a full WARNING) is a
        // compile error, as judges that run SBCL treat it.
        compile: Some(&[
            "/usr/bin/sbcl",
            "--noinform",
            "--non-interactive",
            "--no-sysinit",
            "--no-userinit",
            "--eval",
            "(multiple-value-bind (out warnings failure) (compile-file \"main.lisp\") (declare (ignore out warnings)) (sb-ext:exit :code (if failure 1 0)))",
        ]),
        // The dynamic space (SBCL's heap) is the user's limit.
        run: &[
            "/usr/bin/sbcl",
            "--dynamic-space-size",
            "{memory_mb}MB",
            "--script",
            "{box}/main.fasl",
        ],
        run_paths: &["/usr/bin/sbcl", "/usr/lib/sbcl"],
        memory_overhead_mb: 64,
        limit_address_space: false,
        oom_markers: &["Heap exhausted"],
        version: &["/usr/bin/sbcl", "--version"],
        packages: &["sbcl"],
        highlight: "commonlisp",
        hello: "(let ((name (read-line)))\n  (format t \"Hello, ~a!~%\" name))\n",
        ..RUNTIME
    },
    Language {
        id: "racket",
        name: "Racket",
        release: "8.7",
        extensions: &["rkt"],
        source_file: "main.rkt",
        compile: Some(&["/usr/bin/raco", "make", "{box}/main.rkt"]),
        run: &["/usr/bin/racket", "{box}/main.rkt"],
        run_paths: &[
            "/usr/bin/racket",
            "/usr/lib/racket",
            "/usr/share/racket",
            "/etc/racket",
        ],
        memory_overhead_mb: 128,
        limit_address_space: false,
        oom_markers: &["out of memory"],
        version: &["/usr/bin/racket", "--version"],
        packages: &["racket"],
        highlight: "scheme",
        hello: "#lang racket/base\n(define name (read-line))\n(printf \"Hello, ~a!\\n\" name)\n",
        ..RUNTIME
    },
    Language {
        id: "prolog",
        name: "Prolog (SWI-Prolog)",
        release: "9.0",
        extensions: &["pl"],
        source_file: "main.pl",
        // Loads the program and halts before its main goal; an error in
        // loading fails the check.
        compile: Some(&[
            "/usr/bin/swipl",
            "--on-error=status",
            "-q",
            "-g",
            "halt",
            "{box}/main.pl",
        ]),
        // The program's stacks are the user's limit; it starts from
        // `:- initialization(main, main).`
        run: &["/usr/bin/swipl", "--stack-limit={memory_mb}m", "{box}/main.pl"],
        run_paths: &["/usr/bin/swipl", "/usr/lib/swi-prolog"],
        memory_overhead_mb: 32,
        limit_address_space: false,
        oom_markers: &["Stack limit", "Not enough resources"],
        version: &["/usr/bin/swipl", "--version"],
        packages: &["swi-prolog-nox"],
        highlight: "prolog",
        hello: ":- initialization(main, main).\n\nmain :-\n    read_line_to_string(user_input, Name),\n    format(\"Hello, ~w!~n\", [Name]).\n",
        ..RUNTIME
    },
];

/// A package's program given as `build` and `run` scripts (its validators,
/// format 2025-09), not a language of submissions: built by its `build`
/// (if any) in its own directory, run as its `run`. Both steps see what
/// compilers see (all of /usr: `sh`, `cc`, `c++`, `python3`).
pub static PACKAGE_SCRIPTS: Language = Language {
    id: "package-scripts",
    name: "build and run scripts",
    source_file: "coderun-build.sh",
    compile: Some(&["/usr/bin/sh", "{box}/coderun-build.sh"]),
    run: &["{box}/coderun-run"],
    // /bin, /lib and the loader are links into /usr (merged /usr).
    run_paths: &["/usr", "/etc/alternatives", "/etc/ld.so.cache"],
    limit_address_space: false,
    ..NATIVE
};
