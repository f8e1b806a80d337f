//! Finding the objects a patch changed: the `.o` files of the original and
//! the patched build, compared byte for byte.
//!
//! Both builds compile every source from the same directory with relative
//! names, so an object whose sources did not change is identical in both.
//! Link-time helpers (hidden `.name.o`, e.g. the embedded symbol tables
//! of the three-pass link) and the test payloads' objects (`test/`) are not
//! part of the hypervisor's code and are skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Errors scanning the build directories.
#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    /// A directory or object could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A build produced no object at all.
    #[error("no object files under {dir}; did the build use O={dir}?")]
    NoObjects {
        /// Build directory.
        dir: PathBuf,
    },
}

/// How the two builds differ.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Objects in both builds with different bytes (relative paths, sorted).
    pub changed: Vec<PathBuf>,
    /// Objects only in the patched build (new source files).
    pub added: Vec<PathBuf>,
    /// Objects only in the original build (removed source files).
    pub removed: Vec<PathBuf>,
    /// Objects compared.
    pub compared: usize,
}

fn skip_dir(rel: &Path) -> bool {
    rel == Path::new("test") || rel == Path::new("tools")
}

/// Every hypervisor object under `dir`, by relative path.
pub fn scan(dir: &Path) -> Result<BTreeMap<PathBuf, PathBuf>, ObjectsError> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|source| ObjectsError::Read {
            path: d.clone(),
            source,
        })?;
        for ent in rd {
            let ent = ent.map_err(|source| ObjectsError::Read {
                path: d.clone(),
                source,
            })?;
            let path = ent.path();
            let rel = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
            let name = ent.file_name();
            let name = name.to_string_lossy();
            let ft = ent.file_type().map_err(|source| ObjectsError::Read {
                path: path.clone(),
                source,
            })?;
            if ft.is_dir() {
                if !skip_dir(&rel) {
                    stack.push(path);
                }
            } else if ft.is_file() && name.ends_with(".o") && !name.starts_with('.') {
                out.insert(rel, path);
            }
        }
    }
    if out.is_empty() {
        return Err(ObjectsError::NoObjects {
            dir: dir.to_path_buf(),
        });
    }
    Ok(out)
}

/// Compare the objects of two builds.
pub fn compare(orig_dir: &Path, patched_dir: &Path) -> Result<Changes, ObjectsError> {
    let orig = scan(orig_dir)?;
    let patched = scan(patched_dir)?;
    let mut ch = Changes::default();
    for (rel, op) in &orig {
        match patched.get(rel) {
            None => ch.removed.push(rel.clone()),
            Some(pp) => {
                ch.compared += 1;
                let read = |p: &Path| {
                    std::fs::read(p).map_err(|source| ObjectsError::Read {
                        path: p.to_path_buf(),
                        source,
                    })
                };
                if read(op)? != read(pp)? {
                    ch.changed.push(rel.clone());
                }
            }
        }
    }
    for rel in patched.keys() {
        if !orig.contains_key(rel) {
            ch.added.push(rel.clone());
        }
    }
    Ok(ch)
}
