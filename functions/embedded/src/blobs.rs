//! Blobs in a directory: a key is a relative path. Objects are written to
//! a temporary name and renamed, so a reader sees all of one or nothing.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use coderun_core::error::PortError;
use coderun_core::ports::{Blobs, PortResult};

#[derive(Debug, Clone)]
pub struct DirBlobs {
    root: PathBuf,
}

/// Keys are made by the services, but a path must never leave the root.
fn check_key(key: &str) -> PortResult<()> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && key.trim_end_matches('/').split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-#".contains(&b))
        });
    if !ok {
        return Err(PortError::internal(format!("invalid blob key {key:?}")));
    }
    Ok(())
}

fn io(e: std::io::Error) -> PortError {
    PortError::unavailable(e)
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let dest = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &dest)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &dest)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}

impl DirBlobs {
    pub fn new(root: impl Into<PathBuf>) -> std::io::Result<DirBlobs> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(DirBlobs {
            root: root.canonicalize()?,
        })
    }

    /// The file of a key (the local launcher hands these to runners).
    pub fn path(&self, key: &str) -> PathBuf {
        self.root.join(key.trim_end_matches('/'))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    async fn blocking<T: Send + 'static>(
        f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
    ) -> PortResult<T> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(PortError::internal)?
            .map_err(io)
    }
}

fn temp_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".partial-{}", coderun_core::ids::random_hex(6)));
    path.with_file_name(name)
}

#[async_trait]
impl Blobs for DirBlobs {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> PortResult<()> {
        check_key(key)?;
        let path = self.path(key);
        Self::blocking(move || {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let tmp = temp_name(&path);
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, &path)
        })
        .await
    }

    async fn get(&self, key: &str) -> PortResult<Option<Vec<u8>>> {
        check_key(key)?;
        let path = self.path(key);
        Self::blocking(move || match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        })
        .await
    }

    async fn put_dir(&self, prefix: &str, dir: &Path) -> PortResult<()> {
        check_key(prefix)?;
        let path = self.path(prefix);
        let dir = dir.to_path_buf();
        Self::blocking(move || {
            let tmp = temp_name(&path);
            copy_tree(&dir, &tmp)?;
            if path.exists() {
                std::fs::remove_dir_all(&path)?;
            }
            std::fs::rename(&tmp, &path)
        })
        .await
    }

    async fn delete_prefix(&self, prefix: &str) -> PortResult<()> {
        check_key(prefix)?;
        let path = self.path(prefix);
        Self::blocking(move || {
            // A writer may add to the tree while it is removed (a problem
            // replaced as it is deleted), and another removal may take
            // entries first: gone is gone, and a tree that grew is removed
            // again, a bounded number of times.
            let mut tries = 0;
            loop {
                let r = match std::fs::symlink_metadata(&path) {
                    Ok(m) if m.is_dir() => std::fs::remove_dir_all(&path),
                    Ok(_) => std::fs::remove_file(&path),
                    Err(e) => Err(e),
                };
                match r {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty && tries < 10 => {
                        tries += 1;
                    }
                    r => return r,
                }
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn objects_and_trees_round_trip_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = DirBlobs::new(dir.path().join("blobs")).unwrap();
        blobs.put("sources/a", b"x".to_vec()).await.unwrap();
        assert_eq!(blobs.get("sources/a").await.unwrap().unwrap(), b"x");
        assert_eq!(blobs.get("sources/b").await.unwrap(), None);
        for bad in ["../x", "/etc/passwd", "a/../../b", "a//b", ""] {
            assert!(blobs.put(bad, vec![]).await.is_err(), "{bad}");
        }
        let pkg = dir.path().join("pkg");
        std::fs::create_dir_all(pkg.join("data")).unwrap();
        std::fs::write(pkg.join("data/1.in"), "1").unwrap();
        blobs.put_dir("problems/p/v1", &pkg).await.unwrap();
        assert_eq!(
            blobs.get("problems/p/v1/data/1.in").await.unwrap().unwrap(),
            b"1"
        );
        blobs.delete_prefix("problems/p/").await.unwrap();
        assert_eq!(blobs.get("problems/p/v1/data/1.in").await.unwrap(), None);
        blobs.delete_prefix("sources/a").await.unwrap();
        blobs.delete_prefix("sources/a").await.unwrap();
    }
}
