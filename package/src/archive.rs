//! Unpacking uploaded problem packages (zip or tar.gz) into a directory,
//! refusing anything that could escape it or exhaust the disk: absolute or
//! `..` paths, links leading outside, devices, too many entries, too many
//! bytes (a compression bomb stops at the limit, not at the end).

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

/// Files and directories in one package.
pub const MAX_ENTRIES: usize = 20_000;
/// Unpacked bytes of one package.
pub const MAX_UNPACKED_BYTES: u64 = 512 << 20;

/// Why an archive was refused; the message is for the uploader.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("the archive is not a valid {0} file: {1}")]
    Corrupt(&'static str, String),
    #[error("entry {0:?}: {1}")]
    Entry(String, &'static str),
    #[error("more than {MAX_ENTRIES} entries")]
    TooManyEntries,
    #[error("more than {MAX_UNPACKED_BYTES} bytes unpacked")]
    TooLarge,
    #[error("writing the unpacked package: {0}")]
    Io(#[from] std::io::Error),
}

/// Archive formats accepted for `POST /problems/import`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Zip,
    TarGz,
}

impl Format {
    /// Tells the format from the first bytes.
    pub fn sniff(bytes: &[u8]) -> Option<Format> {
        if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
            Some(Format::Zip)
        } else if bytes.starts_with(&[0x1f, 0x8b]) {
            Some(Format::TarGz)
        } else {
            None
        }
    }
}

/// A relative path inside the package, or an error naming the entry.
fn safe_path(name: &str) -> Result<PathBuf, ArchiveError> {
    let mut out = PathBuf::new();
    for c in Path::new(name).components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return Err(ArchiveError::Entry(name.into(), "path leaves the package")),
        }
    }
    if out.as_os_str().len() > 1024 || out.components().count() > 32 {
        return Err(ArchiveError::Entry(name.into(), "path too long or deep"));
    }
    Ok(out)
}

/// A symlink is kept only if its target, resolved lexically from the
/// link's directory, stays inside the package.
fn check_link(name: &str, rel: &Path, target: &Path) -> Result<(), ArchiveError> {
    if target.is_absolute() {
        return Err(ArchiveError::Entry(name.into(), "link target is absolute"));
    }
    let mut depth: i64 = rel.components().count() as i64 - 1;
    for c in target.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            _ => return Err(ArchiveError::Entry(name.into(), "bad link target")),
        }
        if depth < 0 {
            return Err(ArchiveError::Entry(
                name.into(),
                "link leads outside the package",
            ));
        }
    }
    Ok(())
}

struct Budget {
    entries: usize,
    bytes: u64,
}

impl Budget {
    fn entry(&mut self) -> Result<(), ArchiveError> {
        self.entries += 1;
        if self.entries > MAX_ENTRIES {
            return Err(ArchiveError::TooManyEntries);
        }
        Ok(())
    }

    /// Copies at most the remaining budget; more is an error.
    fn copy(&mut self, from: &mut dyn Read, to: &Path) -> Result<(), ArchiveError> {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = std::fs::File::create(to)?;
        let left = MAX_UNPACKED_BYTES - self.bytes;
        let n = std::io::copy(&mut from.take(left + 1), &mut file)?;
        if n > left {
            return Err(ArchiveError::TooLarge);
        }
        self.bytes += n;
        file.flush()?;
        Ok(())
    }
}

/// Unpacks `bytes` into `dest` (which must exist and be empty).
pub fn unpack(format: Format, bytes: &[u8], dest: &Path) -> Result<(), ArchiveError> {
    let mut budget = Budget {
        entries: 0,
        bytes: 0,
    };
    match format {
        Format::Zip => unpack_zip(bytes, dest, &mut budget),
        Format::TarGz => unpack_tar_gz(bytes, dest, &mut budget),
    }
}

fn unpack_zip(bytes: &[u8], dest: &Path, budget: &mut Budget) -> Result<(), ArchiveError> {
    let corrupt = |e: zip::result::ZipError| ArchiveError::Corrupt("zip", e.to_string());
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(corrupt)?;
    if zip.len() > MAX_ENTRIES {
        return Err(ArchiveError::TooManyEntries);
    }
    for i in 0..zip.len() {
        budget.entry()?;
        let mut entry = zip.by_index(i).map_err(corrupt)?;
        let name = entry.name().to_string();
        let rel = safe_path(&name)?;
        let to = dest.join(&rel);
        let mode = entry.unix_mode().unwrap_or(0);
        if entry.is_dir() {
            std::fs::create_dir_all(&to)?;
        } else if mode & 0o170000 == 0o120000 {
            let mut target = String::new();
            entry
                .by_ref()
                .take(4096)
                .read_to_string(&mut target)
                .map_err(|_| ArchiveError::Entry(name.clone(), "bad link target"))?;
            check_link(&name, &rel, Path::new(&target))?;
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::os::unix::fs::symlink(&target, &to)?;
        } else {
            budget.copy(&mut entry, &to)?;
            set_executable(&to, mode)?;
        }
    }
    Ok(())
}

fn unpack_tar_gz(bytes: &[u8], dest: &Path, budget: &mut Budget) -> Result<(), ArchiveError> {
    let corrupt = |e: std::io::Error| ArchiveError::Corrupt("tar.gz", e.to_string());
    let gz = flate2::read::GzDecoder::new(bytes);
    let mut tar = tar::Archive::new(gz);
    for entry in tar.entries().map_err(corrupt)? {
        budget.entry()?;
        let mut entry = entry.map_err(corrupt)?;
        let name = entry
            .path()
            .map_err(corrupt)?
            .to_string_lossy()
            .into_owned();
        let rel = safe_path(&name)?;
        let to = dest.join(&rel);
        let kind = entry.header().entry_type();
        let mode = entry.header().mode().unwrap_or(0o644);
        if kind.is_dir() {
            std::fs::create_dir_all(&to)?;
        } else if kind.is_file() {
            budget.copy(&mut entry, &to)?;
            set_executable(&to, mode)?;
        } else if kind.is_symlink() {
            let target = entry
                .link_name()
                .map_err(corrupt)?
                .ok_or(ArchiveError::Entry(name.clone(), "link without target"))?
                .into_owned();
            check_link(&name, &rel, &target)?;
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::os::unix::fs::symlink(&target, &to)?;
        } else if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        } else {
            return Err(ArchiveError::Entry(
                name,
                "only files, directories and symlinks are allowed",
            ));
        }
    }
    Ok(())
}

/// The files of a program sent as a zip: regular files side by side (or
/// all under one top directory), read in memory within `max_files` and
/// `max_bytes` (a compression bomb stops at the limit).
pub fn program_files_from_zip(
    bytes: &[u8],
    max_files: usize,
    max_bytes: u64,
) -> Result<Vec<(String, Vec<u8>)>, ArchiveError> {
    let corrupt = |e: zip::result::ZipError| ArchiveError::Corrupt("zip", e.to_string());
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(corrupt)?;
    if zip.len() > max_files.saturating_mul(2) + 1 {
        return Err(ArchiveError::TooManyEntries);
    }
    let mut files: Vec<(Vec<String>, Vec<u8>)> = Vec::new();
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(corrupt)?;
        let name = entry.name().to_string();
        let rel = safe_path(&name)?;
        if entry.is_dir() {
            continue;
        }
        if entry.unix_mode().unwrap_or(0) & 0o170000 == 0o120000 {
            return Err(ArchiveError::Entry(name, "links are not program files"));
        }
        if files.len() == max_files {
            return Err(ArchiveError::TooManyEntries);
        }
        let mut content = Vec::new();
        let left = max_bytes - total;
        entry.by_ref().take(left + 1).read_to_end(&mut content)?;
        if content.len() as u64 > left {
            return Err(ArchiveError::TooLarge);
        }
        total += content.len() as u64;
        let parts = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        files.push((parts, content));
    }
    // One top directory holding everything is the program's, not a file's.
    let top = files
        .first()
        .and_then(|(p, _)| (p.len() == 2).then(|| p[0].clone()));
    let strip = top.is_some_and(|t| files.iter().all(|(p, _)| p.len() == 2 && p[0] == t));
    files
        .into_iter()
        .map(|(mut parts, content)| {
            if strip {
                parts.remove(0);
            }
            match parts.as_slice() {
                [name] => Ok((name.clone(), content)),
                _ => Err(ArchiveError::Entry(
                    parts.join("/"),
                    "a program's files sit side by side, not in directories",
                )),
            }
        })
        .collect()
}

/// Keeps the executable bit (validators may be scripts); nothing else.
fn set_executable(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let perm = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(perm))
}

/// Packs `dir` (its contents at the top) as a tar.gz, links kept as links.
pub fn pack_tar_gz(dir: &Path) -> std::io::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut b = tar::Builder::new(gz);
    b.follow_symlinks(false);
    b.append_dir_all(".", dir)?;
    b.into_inner()?.finish()
}

/// The package root inside an unpacked archive: the top directory if it has
/// `problem.yaml`, else its only subdirectory that has one.
pub fn package_root(dir: &Path) -> Option<PathBuf> {
    if dir.join("problem.yaml").is_file() {
        return Some(dir.to_path_buf());
    }
    let subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| e.path())
        .collect();
    match subdirs.as_slice() {
        [only] if only.join("problem.yaml").is_file() => Some(only.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_gz(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for (name, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            // Raw names: the builder itself refuses `..`, an attacker's tool does not.
            let raw = &mut h.as_old_mut().name;
            raw[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(l) = link {
                h.set_link_name(l).unwrap();
            }
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn tar_gz_unpacks_and_finds_the_root() {
        let bytes = tar_gz(&[
            (
                "p/problem.yaml",
                tar::EntryType::Regular,
                b"name: x\n",
                None,
            ),
            ("p/data/secret/1.in", tar::EntryType::Regular, b"1\n", None),
            (
                "p/data/secret/2.in",
                tar::EntryType::Symlink,
                b"",
                Some("1.in"),
            ),
        ]);
        assert_eq!(Format::sniff(&bytes), Some(Format::TarGz));
        let dir = tempfile::tempdir().unwrap();
        unpack(Format::TarGz, &bytes, dir.path()).unwrap();
        let root = package_root(dir.path()).unwrap();
        assert_eq!(root, dir.path().join("p"));
        assert_eq!(
            std::fs::read(root.join("data/secret/2.in")).unwrap(),
            b"1\n"
        );
    }

    #[test]
    fn packed_directories_unpack_the_same() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("data/secret")).unwrap();
        std::fs::write(src.path().join("problem.yaml"), "name: x\n").unwrap();
        std::fs::write(src.path().join("data/secret/1.in"), "1\n").unwrap();
        std::os::unix::fs::symlink("1.in", src.path().join("data/secret/2.in")).unwrap();
        let bytes = pack_tar_gz(src.path()).unwrap();
        let dest = tempfile::tempdir().unwrap();
        unpack(Format::sniff(&bytes).unwrap(), &bytes, dest.path()).unwrap();
        assert_eq!(package_root(dest.path()).unwrap(), dest.path());
        assert_eq!(
            std::fs::read(dest.path().join("data/secret/2.in")).unwrap(),
            b"1\n"
        );
        assert!(
            std::fs::symlink_metadata(dest.path().join("data/secret/2.in"))
                .unwrap()
                .is_symlink()
        );
    }

    #[test]
    fn escapes_are_refused() {
        for (name, kind, link) in [
            ("../evil", tar::EntryType::Regular, None),
            ("/etc/evil", tar::EntryType::Regular, None),
            ("a/link", tar::EntryType::Symlink, Some("../../etc/passwd")),
            ("a/link", tar::EntryType::Symlink, Some("/etc/passwd")),
            ("dev", tar::EntryType::Char, None),
        ] {
            let bytes = tar_gz(&[(name, kind, b"", link)]);
            let dir = tempfile::tempdir().unwrap();
            let e = unpack(Format::TarGz, &bytes, dir.path()).unwrap_err();
            assert!(matches!(e, ArchiveError::Entry(..)), "{name}: {e}");
        }
    }

    #[test]
    fn zip_bombs_stop_at_the_limit() {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        w.start_file("problem.yaml", opts).unwrap();
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..(MAX_UNPACKED_BYTES >> 20) + 1 {
            w.write_all(&chunk).unwrap();
        }
        let bytes = w.finish().unwrap().into_inner();
        assert!(bytes.len() < 2 << 20, "compressed: {}", bytes.len());
        assert_eq!(Format::sniff(&bytes), Some(Format::Zip));
        let dir = tempfile::tempdir().unwrap();
        let e = unpack(Format::Zip, &bytes, dir.path()).unwrap_err();
        assert!(matches!(e, ArchiveError::TooLarge), "{e}");
    }

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, content) in files {
            if name.ends_with('/') {
                w.add_directory(*name, opts).unwrap();
            } else {
                w.start_file(*name, opts).unwrap();
                w.write_all(content).unwrap();
            }
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn program_zips_give_files_side_by_side_within_limits() {
        let flat = zip_of(&[("main.py", b"import u"), ("u.py", b"X = 1")]);
        let files = program_files_from_zip(&flat, 8, 1024).unwrap();
        assert_eq!(files[0], ("main.py".to_string(), b"import u".to_vec()));
        assert_eq!(files.len(), 2);
        // One top directory is stripped.
        let top = zip_of(&[("sol/", b""), ("sol/main.py", b""), ("sol/u.py", b"")]);
        let names: Vec<String> = program_files_from_zip(&top, 8, 1024)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["main.py", "u.py"]);
        for (bad, why) in [
            (
                zip_of(&[("a/main.py", b""), ("b/u.py", b"")]),
                "side by side",
            ),
            (zip_of(&[("../main.py", b"")]), ""),
        ] {
            let e = program_files_from_zip(&bad, 8, 1024).unwrap_err();
            assert!(
                matches!(e, ArchiveError::Entry(..)) && e.to_string().contains(why),
                "{e}"
            );
        }
        let big = zip_of(&[("main.py", &[b'x'; 2000])]);
        assert!(matches!(
            program_files_from_zip(&big, 8, 1024),
            Err(ArchiveError::TooLarge)
        ));
        let many = zip_of(&[("a.py", b""), ("b.py", b""), ("c.py", b"")]);
        assert!(matches!(
            program_files_from_zip(&many, 2, 1024),
            Err(ArchiveError::TooManyEntries)
        ));
    }
}
