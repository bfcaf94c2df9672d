//! Every language of the table in the sandbox: its starter program (the
//! playground's), a sum read from stdin, a compile error, a runtime error
//! and a memory hog, from `tests/languages/ID/`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use runner_task::lang::LANGUAGES;
use runner_task::sandbox::{Profile, Status, Stdin};

use crate::helpers::{limits, runner, TestRunner};

/// Other implementations of a language run its programs.
const SAME_PROGRAMS: &[(&str, &str)] = &[("pypy3", "python3"), ("cpp-clang", "cpp")];

fn programs(id: &str) -> PathBuf {
    let id = SAME_PROGRAMS
        .iter()
        .find(|(other, _)| *other == id)
        .map_or(id, |(_, same)| same);
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/languages")
        .join(id)
}

/// The program `name` (any extension) of a language's directory.
fn program(dir: &Path, name: &str) -> Vec<u8> {
    let file = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_stem().is_some_and(|s| s == name))
        .unwrap_or_else(|| panic!("no {name}.* in {}", dir.display()));
    std::fs::read(file).unwrap()
}

/// What is wrong with one language, if anything.
fn check(t: &TestRunner, id: &str) -> Vec<String> {
    let mut wrong = Vec::new();
    let dir = programs(id);
    let tc = || t.runner.toolchain(id).unwrap();
    let lang = tc().lang;
    let mut expect = |case: &str, src: &[u8], stdin: &[u8], want: Status, stdout: Option<&str>| {
        let program = t.runner.prepare(tc(), src).unwrap();
        if !program.compiled() {
            wrong.push(format!(
                "{id} {case}: does not compile: {:?}",
                program.compile
            ));
            return;
        }
        // The memory hog gets 64 MiB; the others room for any runtime.
        let lim = if want == Status::Mle {
            limits(10_000, 64)
        } else {
            limits(10_000, 256)
        };
        let out = t
            .runner
            .run(&program, lim, &[], Stdin::Bytes(stdin.to_vec()))
            .unwrap();
        let out = runner_task::runner::classify_runtime_oom(lang, out);
        let text = String::from_utf8_lossy(&out.stdout);
        if out.status != want || stdout.is_some_and(|s| s != text) {
            wrong.push(format!(
                "{id} {case}: {:?} (want {want:?}), stdout {text:?}, stderr {:?}",
                out.status,
                String::from_utf8_lossy(&out.stderr[..out.stderr.len().min(600)])
            ));
        }
    };
    expect(
        "hello",
        lang.hello.as_bytes(),
        b"world\n",
        Status::Ok,
        Some("Hello, world!\n"),
    );
    expect(
        "sum",
        &program(&dir, "sum"),
        b"2 3\n",
        Status::Ok,
        Some("5\n"),
    );
    expect("re", &program(&dir, "re"), b"", Status::Re, None);
    expect("mle", &program(&dir, "mle"), b"", Status::Mle, None);
    let ce = t.runner.prepare(tc(), &program(&dir, "ce")).unwrap();
    match &ce.compile {
        Some(c) if !c.ok && !c.output.trim().is_empty() => {}
        other => wrong.push(format!("{id} ce: {other:?}")),
    }
    wrong
}

#[test]
fn every_language_runs_its_programs_and_gets_their_verdicts() {
    let t = runner(Profile::Full);
    let ids: Vec<&str> = LANGUAGES.iter().map(|l| l.id).collect();
    let next = Mutex::new(ids.into_iter());
    let wrong = Mutex::new(Vec::new());
    // As many languages at once as the runner has slots.
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some(id) = next.lock().unwrap().next() else {
                    break;
                };
                let found = check(&t, id);
                wrong.lock().unwrap().extend(found);
            });
        }
    });
    let wrong = wrong.into_inner().unwrap();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    t.assert_host_clean();
}

/// The seeds' own C# example: top-level statements, `args` and a top-level
/// `await`, on Mono.
#[test]
fn todays_csharp_runs_as_written() {
    let t = runner(Profile::Full);
    let src = program(&programs("csharp"), "seed");
    let out = t.run(
        "csharp",
        std::str::from_utf8(&src).unwrap(),
        limits(5_000, 256),
        &["foo", "bar"],
    );
    assert_eq!(out.status, Status::Ok, "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "passed arguments:\nfoo\nbar\ncounter: 0\ncounter: 1\ncounter: 2\ncounter: 3\ncounter: 4\n"
    );
    // An async Main of a class, returning an exit code; a function among
    // the statements; a compile error keeps its line.
    let out = t.run(
        "csharp",
        "class P {\n  static async Task<int> Main() { await Task.Yield(); Console.WriteLine(\"in\"); return 0; }\n}\n",
        limits(5_000, 256),
        &[],
    );
    assert_eq!(
        (out.status, &out.stdout[..]),
        (Status::Ok, &b"in\n"[..]),
        "{out:?}"
    );
    let out = t.run(
        "csharp",
        "static long Twice(long x) => 2 * x;\nConsole.WriteLine(Twice(21));\n",
        limits(5_000, 256),
        &[],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "42\n", "{out:?}");
    let tc = t.runner.toolchain("csharp").unwrap();
    let bad = t
        .runner
        .prepare(tc, b"Console.WriteLine(1);\n\nint x = \"no\";\n")
        .unwrap();
    let report = bad.compile.as_ref().unwrap();
    assert!(
        !report.ok && report.output.contains("main.cs(3,"),
        "{}",
        report.output
    );
}

/// The libraries the table says an image carries work in the sandbox.
#[test]
fn declared_libraries_are_usable() {
    let t = runner(Profile::Full);
    for (lang, src, want) in [
        (
            "python3",
            "import numpy, scipy.special\nprint(int(numpy.arange(5).sum()), int(scipy.special.comb(5, 2)))\n",
            "10 10\n",
        ),
        (
            "cpp",
            "#include <boost/multiprecision/cpp_int.hpp>\n#include <iostream>\nint main() { boost::multiprecision::cpp_int x = 1; for (int i = 0; i < 100; i++) x *= 2; std::cout << x % 1000 << std::endl; }\n",
            "376\n",
        ),
        (
            "csharp",
            "using Newtonsoft.Json;\nConsole.WriteLine(JsonConvert.SerializeObject(new[] { 1, 2 }));\n",
            "[1,2]\n",
        ),
    ] {
        let out = t.run(lang, src, limits(10_000, 256), &[]);
        assert_eq!(
            (out.status, String::from_utf8_lossy(&out.stdout).as_ref()),
            (Status::Ok, want),
            "{lang}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A language, a program's entry point and its other files.
type Split = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// A program of several files: its entry point and a module of its own,
/// in each language's way of splitting a program.
#[test]
fn programs_of_several_files_compile_and_run_as_one() {
    let t = runner(Profile::Full);
    let cases: &[Split] = &[
        ("python3", "import util\nprint(util.twice(21))\n", &[("util.py", "def twice(x):\n    return 2 * x\n")]),
        ("c", "#include <stdio.h>\n#include \"util.h\"\nint main(void) { printf(\"%d\\n\", twice(21)); return 0; }\n", &[("util.h", "int twice(int x);\n"), ("util.c", "#include \"util.h\"\nint twice(int x) { return 2 * x; }\n")]),
        ("cpp", "#include <iostream>\nint twice(int);\nint main() { std::cout << twice(21) << std::endl; }\n", &[("util.cpp", "int twice(int x) { return 2 * x; }\n")]),
        ("java", "public class Main { public static void main(String[] a) { System.out.println(Util.twice(21)); } }\n", &[("Util.java", "public class Util { static int twice(int x) { return 2 * x; } }\n")]),
        ("kotlin", "fun main() { println(twice(21)) }\n", &[("util.kt", "fun twice(x: Int) = 2 * x\n")]),
        ("go", "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(twice(21)) }\n", &[("util.go", "package main\n\nfunc twice(x int) int { return 2 * x }\n")]),
        ("rust", "mod util;\nfn main() { println!(\"{}\", util::twice(21)); }\n", &[("util.rs", "pub fn twice(x: i32) -> i32 { 2 * x }\n")]),
        ("javascript", "console.log(require('./util').twice(21));\n", &[("util.js", "exports.twice = (x) => 2 * x;\n")]),
        ("csharp", "Console.WriteLine(Util.Twice(21));\n", &[("util.cs", "static class Util { public static int Twice(int x) { return 2 * x; } }\n")]),
        ("haskell", "import Util (twice)\nmain :: IO ()\nmain = print (twice 21)\n", &[("Util.hs", "module Util (twice) where\ntwice :: Int -> Int\ntwice x = 2 * x\n")]),
        ("ocaml", "let () = print_int (Util.twice 21); print_newline ()\n", &[("util.ml", "let twice x = 2 * x\n")]),
        ("erlang", "-module(main).\n-export([main/0]).\nmain() -> io:format(\"~p~n\", [util:twice(21)]).\n", &[("util.erl", "-module(util).\n-export([twice/1]).\ntwice(X) -> 2 * X.\n")]),
        ("fortran", "program main\n  use util\n  print '(I0)', twice(21)\nend program main\n", &[("util.f90", "module util\ncontains\n  integer function twice(x)\n    integer, intent(in) :: x\n    twice = 2 * x\n  end function twice\nend module util\n")]),
    ];
    let mut wrong = Vec::new();
    for (lang, main, others) in cases {
        let tc = t.runner.toolchain(lang).unwrap();
        let extra: Vec<(String, Vec<u8>)> = others
            .iter()
            .map(|(n, c)| (n.to_string(), c.as_bytes().to_vec()))
            .collect();
        let program = t.runner.prepare_with(tc, main.as_bytes(), &extra).unwrap();
        if !program.compiled() {
            wrong.push(format!("{lang}: {:?}", program.compile));
            continue;
        }
        let out = t
            .runner
            .run(&program, limits(10_000, 256), &[], Stdin::Null)
            .unwrap();
        if (out.status, String::from_utf8_lossy(&out.stdout).as_ref()) != (Status::Ok, "42\n") {
            wrong.push(format!("{lang}: {out:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
