//! Problems as packages: a problem created from JSON is written as a
//! Problem Package Format directory, so judging has one input format; and a
//! package (uploaded or written) is read back into a [`Problem`] record.

use std::path::Path;

use coderun_package::{Kind, Package};

use crate::domain::{Millis, Problem, ProblemKind, Sample};
use crate::requests::{CheckerRequest, ProblemRequest};

/// Samples larger than this are not copied into the record (the statement
/// should hold small examples; the package keeps them all).
pub const MAX_SAMPLE_BYTES: u64 = 64 << 10;
/// At most this many samples are shown.
pub const MAX_SAMPLES: usize = 10;

/// Writes `req` as a legacy-format package into `dir`.
pub fn write_package(req: &ProblemRequest, dir: &Path) -> std::io::Result<()> {
    let flags = match req.checker {
        CheckerRequest::Tokens => "case_sensitive".to_string(),
        CheckerRequest::CaseInsensitive => String::new(),
        CheckerRequest::Float { tolerance } => format!("float_tolerance {tolerance}"),
        CheckerRequest::Exact => "case_sensitive exact".to_string(),
    };
    let yaml = serde_yaml::to_string(&serde_json::json!({
        "problem_format_version": "legacy",
        "name": req.title,
        "validator_flags": flags,
        "limits": {
            "time_limit": req.time_limit_ms as f64 / 1000.0,
            "memory": req.memory_mb,
        },
    }))
    .map_err(std::io::Error::other)?;
    std::fs::write(dir.join("problem.yaml"), yaml)?;
    let statement_dir = dir.join("problem_statement");
    std::fs::create_dir_all(&statement_dir)?;
    std::fs::write(statement_dir.join("problem.md"), &req.statement)?;
    for (i, t) in req.tests.iter().enumerate() {
        let group = if t.sample { "sample" } else { "secret" };
        let d = dir.join("data").join(group);
        std::fs::create_dir_all(&d)?;
        let name = t.name.clone().unwrap_or_else(|| format!("{:03}", i + 1));
        std::fs::write(d.join(format!("{name}.in")), &t.input)?;
        std::fs::write(d.join(format!("{name}.ans")), &t.output)?;
    }
    Ok(())
}

/// Images a statement may show, at most this many, each at most this
/// large (the others are not served).
pub const MAX_STATEMENT_IMAGES: usize = 64;
pub const MAX_STATEMENT_IMAGE_BYTES: u64 = 4 << 20;

/// The content type of a statement image, by its name; None: not one.
pub fn image_type(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "svg" => "image/svg+xml",
        "gif" => "image/gif",
        _ => return None,
    })
}

/// The statement's directory: `statement/` since 2025-09,
/// `problem_statement/` before.
fn statement_dir(pkg: &Package) -> (&'static str, std::path::PathBuf) {
    ["statement", "problem_statement"]
        .into_iter()
        .map(|d| (d, pkg.dir.join(d)))
        .find(|(_, d)| d.is_dir())
        .unwrap_or(("problem_statement", pkg.dir.join("problem_statement")))
}

/// The statement's images, as paths in the package (`statement/graph.png`):
/// the files of the statement's directory an image type names, small
/// enough, and no others (the route that serves them serves nothing else).
fn statement_images(pkg: &Package) -> Vec<String> {
    let (name, dir) = statement_dir(pkg);
    let mut images: Vec<String> = std::fs::read_dir(&dir)
        .map(|r| {
            r.flatten()
                .filter(|e| {
                    e.metadata()
                        .is_ok_and(|m| m.is_file() && m.len() <= MAX_STATEMENT_IMAGE_BYTES)
                })
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|f| image_type(f).is_some())
                .map(|f| format!("{name}/{f}"))
                .collect()
        })
        .unwrap_or_default();
    images.sort();
    images.truncate(MAX_STATEMENT_IMAGES);
    images
}

/// The statement of a package: Markdown if it has one (the package's
/// constants substituted), else its LaTeX statement converted to Markdown
/// with math (see `coderun_package::latex`).
fn statement(pkg: &Package) -> String {
    let (_, d) = statement_dir(pkg);
    for name in [
        "problem.en.md",
        "problem.md",
        "problem.en.tex",
        "problem.tex",
    ] {
        if let Ok(bytes) = std::fs::read(d.join(name)) {
            let text = if name.ends_with(".md") {
                String::from_utf8_lossy(&pkg.substitute(&bytes)).into_owned()
            } else {
                coderun_package::latex::to_markdown(
                    &String::from_utf8_lossy(&bytes),
                    &pkg.constants,
                )
            };
            return text
                .chars()
                .take(crate::requests::MAX_STATEMENT_BYTES)
                .collect();
        }
    }
    String::new()
}

/// Builds the record of a loaded package.
pub fn record(
    pkg: &Package,
    id: &str,
    version: u64,
    author: &str,
    now: Millis,
) -> Result<Problem, String> {
    let time_limit_ms = pkg.time_limit_ms.ok_or(
        "the package states no time limit and has no accepted submission to derive one from",
    )?;
    let mut samples = Vec::new();
    for t in pkg.tests.iter().filter(|t| t.sample).take(MAX_SAMPLES) {
        let small = |p: &Path| std::fs::metadata(p).map(|m| m.len() <= MAX_SAMPLE_BYTES);
        if small(&t.input).unwrap_or(false) && small(&t.answer).unwrap_or(false) {
            samples.push(Sample {
                name: t.name.clone(),
                input: std::fs::read_to_string(&t.input).unwrap_or_default(),
                output: std::fs::read_to_string(&t.answer).unwrap_or_default(),
            });
        }
    }
    Ok(Problem {
        id: id.to_string(),
        title: pkg
            .name
            .chars()
            .take(crate::requests::MAX_TITLE_CHARS)
            .collect(),
        statement: statement(pkg),
        statement_images: statement_images(pkg),
        kind: match pkg.kind {
            Kind::Scoring => ProblemKind::Scoring,
            _ => ProblemKind::PassFail,
        },
        time_limit_ms,
        memory_mb: pkg.memory_mb,
        code_limit_kib: pkg.code_kib,
        samples,
        test_count: pkg.tests.len() as u32,
        version,
        author: author.to_string(),
        created_at: now,
        updated_at: now,
        verify_report: None,
        import_id: None,
    })
}

/// A problem id from a package's directory or name: lowercase, `-` for
/// anything else, trimmed to 64.
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-');
    out.chars()
        .take(64)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::TestRequest;

    #[test]
    fn json_problems_become_loadable_packages() {
        let req = ProblemRequest {
            id: Some("add".into()),
            title: "Add".into(),
            statement: "Add $a+b$.".into(),
            time_limit_ms: 1500,
            memory_mb: 128,
            checker: CheckerRequest::Float { tolerance: 1e-6 },
            tests: vec![
                TestRequest {
                    name: None,
                    input: "1 2\n".into(),
                    output: "3\n".into(),
                    sample: true,
                },
                TestRequest {
                    name: Some("big".into()),
                    input: "5 5\n".into(),
                    output: "10\n".into(),
                    sample: false,
                },
            ],
        };
        req.validate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        write_package(&req, dir.path()).unwrap();
        let pkg = Package::load(dir.path()).unwrap();
        assert_eq!(pkg.tests.len(), 2);
        let p = record(&pkg, "add", 1, "setter", 7).unwrap();
        assert_eq!(p.title, "Add");
        assert_eq!(p.statement, "Add $a+b$.");
        assert_eq!(p.time_limit_ms, 1500);
        assert_eq!(p.memory_mb, 128);
        assert_eq!(
            p.samples,
            vec![Sample {
                name: "sample/001".into(),
                input: "1 2\n".into(),
                output: "3\n".into()
            }]
        );
        assert_eq!(p.test_count, 2);
    }

    #[test]
    fn a_statements_images_are_listed_and_nothing_else_of_the_package() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let write = |p: &str, bytes: &[u8]| {
            let p = d.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        };
        write(
            "problem.yaml",
            b"problem_format_version: 2025-09\nname: G\nlimits:\n  time_limit: 1\n",
        );
        write("statement/problem.en.md", b"![A graph](graph.png)");
        write("statement/graph.png", b"\x89PNG");
        write("statement/plot.SVG", b"<svg/>");
        write("statement/notes.txt", b"setter's notes");
        write("data/secret/1.in", b"1\n");
        write("data/secret/1.ans", b"1\n");
        let p = record(&Package::load(d).unwrap(), "g", 1, "setter", 7).unwrap();
        assert_eq!(
            p.statement_images,
            ["statement/graph.png", "statement/plot.SVG"]
        );
        assert_eq!(image_type("plot.SVG"), Some("image/svg+xml"));
        assert_eq!(image_type("1.ans"), None);
    }

    /// The statement shown for a one-test package with this
    /// `problem.yaml` and this statement file.
    fn statement_of(yaml: &str, file: &str, text: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("problem.yaml"), yaml).unwrap();
        let file = d.join(file);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
        std::fs::create_dir_all(d.join("data/secret")).unwrap();
        std::fs::write(d.join("data/secret/1.in"), "1 2\n").unwrap();
        std::fs::write(d.join("data/secret/1.ans"), "3\n").unwrap();
        statement(&Package::load(d).unwrap())
    }

    #[test]
    fn a_2025_09_statement_is_read_from_statement_with_its_constants() {
        let yaml = "problem_format_version: 2025-09\nname: Add\nconstants:\n  max_n: 1000\n";
        let md = "Add $a+b$, $a < {{max_n}}$.";
        assert_eq!(
            statement_of(yaml, "statement/problem.en.md", md),
            "Add $a+b$, $a < 1000$."
        );
    }

    #[test]
    fn a_latex_statement_is_shown_as_markdown() {
        let tex = "\\problemname{Add}\nAdd \\emph{two} numbers $a, b$.\n\\begin{Output}\nTheir sum.\n\\end{Output}\n";
        let shown = statement_of("name: Add\n", "problem_statement/problem.en.tex", tex);
        assert_eq!(
            shown,
            "Add *two* numbers $a, b$.\n\n## Output\n\nTheir sum.\n"
        );
    }

    #[test]
    fn slugs_are_valid_ids() {
        assert_eq!(slug("Hello, World!"), "hello-world");
        assert_eq!(slug("--a__b--"), "a-b");
        crate::requests::check_problem_id("id", &slug("Sum of Two")).unwrap();
    }
}
