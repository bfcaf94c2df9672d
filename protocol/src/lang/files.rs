//! Programs of several files: which file is the entry point, and what names
//! and sizes the files may have.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{by_extension, Language};

/// Files of one program at most.
pub const MAX_FILES: usize = 64;
/// A file name's length at most.
pub const MAX_FILE_NAME_BYTES: usize = 100;

/// One file of a program of several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    /// A plain name (`[A-Za-z0-9._-]`, not starting with `.`): the files of
    /// a program sit side by side.
    pub name: String,
    pub content: String,
}

/// Checks names (plain, unique), count and total size.
pub fn check_files(files: &[SourceFile], max_total_bytes: usize) -> Result<(), String> {
    if files.len() > MAX_FILES {
        return Err(format!("{} files; at most {MAX_FILES}", files.len()));
    }
    let mut total = 0;
    for (i, f) in files.iter().enumerate() {
        let plain = !f.name.is_empty()
            && f.name.len() <= MAX_FILE_NAME_BYTES
            && !f.name.starts_with('.')
            && f.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !plain {
            return Err(format!(
                "files[{i}].name {:?}: 1-{MAX_FILE_NAME_BYTES} characters of A-Z, a-z, 0-9, '.', '_' and '-', not starting with '.'",
                f.name
            ));
        }
        if files[..i].iter().any(|g| g.name == f.name) {
            return Err(format!("files[{i}].name {:?} is given twice", f.name));
        }
        if f.content.contains('\0') {
            return Err(format!("files[{i}] ({}) contains a NUL byte", f.name));
        }
        total += f.content.len();
    }
    if total > max_total_bytes {
        return Err(format!(
            "the files hold {total} bytes; at most {max_total_bytes}"
        ));
    }
    Ok(())
}

/// The extensions of a language's sources (its own, or its source file's
/// for languages chosen by id only, such as `pypy3`).
pub fn source_extensions(lang: &Language) -> Vec<&'static str> {
    let mut exts = lang.extensions.to_vec();
    if let Some(ext) = Path::new(lang.source_file)
        .extension()
        .and_then(|e| e.to_str())
    {
        if !exts.contains(&ext) {
            exts.push(ext);
        }
    }
    exts
}

/// Whether `name` is a source of `lang` (by its extension).
pub fn is_source_of(lang: &Language, name: &str) -> bool {
    let ext = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    ext.is_some_and(|e| source_extensions(lang).contains(&e.as_str()))
}

/// The entry point among a program's files, by the language's rule: its
/// only source; else the one named `main` (any case) or one of
/// `preferred`; else, for Java and Kotlin, the one declaring `main`.
pub fn entry_point(
    lang: &Language,
    files: &[(&str, &[u8])],
    preferred: &[&str],
) -> Result<usize, String> {
    let sources: Vec<usize> = (0..files.len())
        .filter(|&i| is_source_of(lang, files[i].0))
        .collect();
    let stem = |i: usize| {
        Path::new(files[i].0)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    let declares_main = |i: usize| {
        let text = String::from_utf8_lossy(files[i].1);
        match lang.id {
            "java" => text.contains("static void main("),
            "kotlin" => text.contains("fun main("),
            _ => false,
        }
    };
    match sources.as_slice() {
        [] => Err(format!(
            "no {} source among the files (.{})",
            lang.name,
            source_extensions(lang).join(", .")
        )),
        [one] => Ok(*one),
        many => many
            .iter()
            .copied()
            .find(|&i| stem(i) == "main")
            .or_else(|| {
                many.iter()
                    .copied()
                    .find(|&i| preferred.contains(&stem(i).as_str()))
            })
            .or_else(|| {
                let declaring: Vec<usize> =
                    many.iter().copied().filter(|&i| declares_main(i)).collect();
                (declaring.len() == 1).then(|| declaring[0])
            })
            .ok_or_else(|| {
                format!(
                    "cannot tell the entry point among {} {} sources: name one main.{}",
                    many.len(),
                    lang.name,
                    source_extensions(lang)[0]
                )
            }),
    }
}

/// The language of a program of several files: the one whose sources they
/// are, when exactly one language's are among them.
pub fn language_of(names: &[&str]) -> Result<&'static Language, String> {
    let mut found: Vec<&'static Language> = names
        .iter()
        .filter_map(|n| by_extension(Path::new(n)))
        .collect();
    found.sort_by_key(|l| l.id);
    found.dedup_by_key(|l| l.id);
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err("no file of a known language".into()),
        many => Err(format!(
            "files of several languages ({})",
            many.iter().map(|l| l.id).collect::<Vec<_>>().join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::by_id;
    use super::*;

    fn f(name: &str, content: &str) -> SourceFile {
        SourceFile {
            name: name.into(),
            content: content.into(),
        }
    }

    #[test]
    fn the_entry_point_is_the_only_source_or_main_or_the_one_declaring_main() {
        let py = by_id("python3").unwrap();
        assert_eq!(
            entry_point(py, &[("util.py", b""), ("README", b"")], &[]),
            Ok(0)
        );
        assert_eq!(
            entry_point(
                py,
                &[("util.py", b""), ("main.py", b""), ("x.py", b"")],
                &[]
            ),
            Ok(1)
        );
        let err = entry_point(py, &[("a.py", b""), ("b.py", b"")], &[]).unwrap_err();
        assert!(err.contains("name one main.py"), "{err}");
        // Languages chosen by id alone take their source file's extension.
        let pypy = by_id("pypy3").unwrap();
        assert_eq!(
            entry_point(pypy, &[("h.txt", b""), ("sol.py", b"")], &[]),
            Ok(1)
        );
        let java = by_id("java").unwrap();
        let files: [(&str, &[u8]); 2] = [
            ("Point.java", b"class Point {}"),
            (
                "Solution.java",
                b"public class Solution { public static void main(String[] a) {} }",
            ),
        ];
        assert_eq!(entry_point(java, &files, &[]), Ok(1));
        assert_eq!(
            entry_point(
                by_id("c").unwrap(),
                &[("a.c", b""), ("checker.c", b"")],
                &["checker"]
            ),
            Ok(1)
        );
    }

    #[test]
    fn file_names_counts_and_sizes_are_checked() {
        assert!(check_files(&[f("main.py", "x"), f("util.py", "y")], 10).is_ok());
        for bad in ["../x.py", "a/b.py", ".hidden", "", "a b.py"] {
            assert!(check_files(&[f(bad, "")], 10).is_err(), "{bad}");
        }
        assert!(check_files(&[f("a.py", ""), f("a.py", "")], 10).is_err());
        assert!(check_files(&[f("a.py", "12345"), f("b.py", "123456")], 10).is_err());
        let many: Vec<SourceFile> = (0..=MAX_FILES)
            .map(|i| f(&format!("f{i}.py"), ""))
            .collect();
        assert!(check_files(&many, 10).is_err());
    }

    #[test]
    fn the_language_of_files_is_the_one_their_extensions_name() {
        assert_eq!(
            language_of(&["main.cpp", "util.h", "x.cc"]).unwrap().id,
            "cpp"
        );
        assert!(language_of(&["a.py", "b.rb"]).is_err());
        assert!(language_of(&["notes.txt"]).is_err());
    }
}
