//! The build of the unmodified tree, cached between runs: a second patch
//! against the same tree (same checksum, same configuration, same
//! compiler) starts from a copy of that build instead of building it again.
//!
//! An entry is the whole build directory, stored under a key that hashes
//! the tree's checksum, the `--config` file, the compiler's version and the
//! environment variables that change how mini-xen's Makefile compiles. It
//! is built elsewhere and renamed into place, so a reader only ever sees
//! complete entries, also with several runs at once; the driver still
//! checks a restored build's build-id against XEN-SYMS.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Errors of the cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A file of the cache or of a build directory.
    #[error("build cache: {path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Environment variables that reach the compiler through make.
const BUILD_ENV: [&str; 6] = ["CC", "CFLAGS", "LD", "LDFLAGS", "OBJCOPY", "MAKEFLAGS"];

/// A cache directory.
#[derive(Debug, Clone)]
pub struct BuildCache {
    dir: PathBuf,
}

impl BuildCache {
    /// The cache in `dir` (created when first stored to).
    pub fn new(dir: &Path) -> BuildCache {
        BuildCache {
            dir: dir.to_path_buf(),
        }
    }

    /// `$XDG_CACHE_HOME/livepatch-build`, else `$HOME/.cache/livepatch-build`.
    pub fn default_dir() -> Option<PathBuf> {
        let base = match std::env::var_os("XDG_CACHE_HOME") {
            Some(d) if !d.is_empty() => PathBuf::from(d),
            _ => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
        };
        Some(base.join("livepatch-build"))
    }

    /// The key of a build of a tree with checksum `tree_digest` and
    /// configuration `config` (its contents).
    pub fn key(tree_digest: &str, config: Option<&[u8]>) -> String {
        let mut h = blake3::Hasher::new();
        h.update(b"livepatch-build unmodified tree v1\0");
        h.update(tree_digest.as_bytes());
        h.update(b"\0config\0");
        if let Some(c) = config {
            h.update(&(c.len() as u64).to_le_bytes());
            h.update(c);
        }
        let cc = std::env::var("CC").unwrap_or_else(|_| "gcc".to_string());
        let version = Command::new(&cc)
            .arg("--version")
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default();
        h.update(b"\0compiler\0");
        h.update(&version);
        for var in BUILD_ENV {
            h.update(var.as_bytes());
            h.update(b"=");
            if let Some(v) = std::env::var_os(var) {
                h.update(v.as_encoded_bytes());
            }
            h.update(b"\0");
        }
        h.finalize().to_hex()[..32].to_string()
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }

    /// Copy the entry `key` into `dst` (an empty directory). False if there
    /// is no such entry.
    pub fn restore(&self, key: &str, dst: &Path) -> Result<bool, CacheError> {
        let src = self.entry(key);
        if !src.is_dir() {
            return Ok(false);
        }
        copy_tree(&src, dst)?;
        Ok(true)
    }

    /// Store the build in `src` as entry `key` (no-op if another run stored
    /// it first).
    pub fn store(&self, key: &str, src: &Path) -> Result<(), CacheError> {
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let tmp = self.dir.join(format!(".tmp-{key}-{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        copy_tree(src, &tmp)?;
        let dst = self.entry(key);
        if std::fs::rename(&tmp, &dst).is_err() {
            // Another run was first (or the entry appeared meanwhile).
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        Ok(())
    }
}

/// Copy the directory `src` into `dst` (created); symlinks are copied as
/// links.
fn copy_tree(src: &Path, dst: &Path) -> Result<(), CacheError> {
    std::fs::create_dir_all(dst).map_err(io(dst))?;
    let mut entries: Vec<_> = std::fs::read_dir(src)
        .map_err(io(src))?
        .collect::<Result<_, _>>()
        .map_err(io(src))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let from = e.path();
        let to = dst.join(e.file_name());
        let ft = e.file_type().map_err(io(&from))?;
        if ft.is_dir() {
            copy_tree(&from, &to)?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&from).map_err(io(&from))?;
            std::os::unix::fs::symlink(target, &to).map_err(io(&to))?;
        } else {
            std::fs::copy(&from, &to).map_err(io(&from))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_tree_and_config() {
        let a = BuildCache::key("tree-a", None);
        assert_eq!(a, BuildCache::key("tree-a", None));
        assert_ne!(a, BuildCache::key("tree-b", None));
        assert_ne!(a, BuildCache::key("tree-a", Some(b"CONFIG_X=y")));
        assert_eq!(a.len(), 32);
    }
}
