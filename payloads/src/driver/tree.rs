//! The source tree the patch is applied to, and the guarantee that it is
//! left as it was found.
//!
//! Like the original `livepatch-build`, the driver works in the given tree:
//! it applies the patch with `patch -p1`, builds, and reverse-applies it.
//! [`Session`] makes that safe: it records a checksum of every source file
//! and a copy of every file the patch names before applying, reverts on
//! every exit path (errors, panics through `Drop`, and Ctrl-C / SIGTERM
//! through [`Session::interrupt`], which the binary installs as its signal
//! handler), then verifies the checksum. If `patch -R` did not restore a
//! file, the saved copy is written back.
//!
//! All state sits behind one mutex, so a signal arriving while the patch is
//! being applied waits until `patch` has finished and then reverts it; the
//! `patch` process runs in its own process group so that the terminal's
//! SIGINT does not stop it half-way. The running `make` (if any) is
//! registered here too and runs in a process group of its own: an
//! interrupt stops make and its compilers (SIGTERM, then SIGKILL, to the
//! group) before the tree is reverted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};

/// Errors about the source tree and the patch.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// The tree could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// File or directory.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A file could not be restored.
    #[error("cannot restore {path}: {source}")]
    Write {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// `patch` could not be run.
    #[error("cannot run `patch`: {0} (install GNU patch)")]
    Spawn(std::io::Error),
    /// The patch does not apply.
    #[error(
        "patch {patch} does not apply to {srcdir} with `patch -p1 --fuzz=0`:\n{output}\n\
         make the patch against this tree (paths relative to it, a/ and b/ prefixes), \
         or pass the matching --srcdir; the tree was not changed"
    )]
    DoesNotApply {
        /// Patch file.
        patch: PathBuf,
        /// Tree.
        srcdir: PathBuf,
        /// What `patch` said.
        output: String,
    },
    /// The patch names no file.
    #[error("{patch} contains no unified diff (no `--- a/FILE` / `+++ b/FILE` lines)")]
    Empty {
        /// Patch file.
        patch: PathBuf,
    },
    /// A path in the patch leaves the tree.
    #[error("{patch}: file name `{name}` leaves the source tree; refusing to apply")]
    BadPath {
        /// Patch file.
        patch: PathBuf,
        /// The offending name.
        name: String,
    },
    /// Reverting left the tree different from before.
    #[error(
        "the source tree {srcdir} differs from before the build: {files}\n\
         {how}; check these files by hand (e.g. `git -C {srcdir} status`)"
    )]
    NotRestored {
        /// Tree.
        srcdir: PathBuf,
        /// Differing files (relative).
        files: String,
        /// What was tried.
        how: String,
    },
    /// The tree already differed when the build started (another process
    /// is editing it).
    #[error("the source tree {srcdir} changed while the patch was applied ({files}); another process is editing it")]
    ChangedUnderneath {
        /// Tree.
        srcdir: PathBuf,
        /// Differing files.
        files: String,
    },
}

/// Content checksums of every file of a source tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    files: BTreeMap<PathBuf, blake3::Hash>,
}

impl Manifest {
    /// Hash every file under `root` (relative names), skipping the
    /// directories in `skip` (absolute or relative to `root`), the default
    /// build directory `build/` and `.git`.
    pub fn scan(root: &Path, skip: &[PathBuf]) -> Result<Manifest, TreeError> {
        let root_abs = std::fs::canonicalize(root).map_err(|source| TreeError::Read {
            path: root.to_path_buf(),
            source,
        })?;
        let mut skip_abs: Vec<PathBuf> = vec![root_abs.join("build"), root_abs.join(".git")];
        for s in skip {
            let p = if s.is_absolute() {
                s.clone()
            } else {
                root_abs.join(s)
            };
            skip_abs.push(std::fs::canonicalize(&p).unwrap_or(p));
        }
        let mut files = BTreeMap::new();
        let mut stack = vec![root_abs.clone()];
        while let Some(dir) = stack.pop() {
            let rd = std::fs::read_dir(&dir).map_err(|source| TreeError::Read {
                path: dir.clone(),
                source,
            })?;
            for ent in rd {
                let ent = ent.map_err(|source| TreeError::Read {
                    path: dir.clone(),
                    source,
                })?;
                let path = ent.path();
                if skip_abs.contains(&path) {
                    continue;
                }
                let meta = std::fs::symlink_metadata(&path).map_err(|source| TreeError::Read {
                    path: path.clone(),
                    source,
                })?;
                let rel = path.strip_prefix(&root_abs).unwrap_or(&path).to_path_buf();
                if meta.is_dir() {
                    stack.push(path);
                } else if meta.file_type().is_symlink() {
                    let target = std::fs::read_link(&path).map_err(|source| TreeError::Read {
                        path: path.clone(),
                        source,
                    })?;
                    let mut h = blake3::Hasher::new();
                    h.update(b"symlink:");
                    h.update(target.as_os_str().as_encoded_bytes());
                    files.insert(rel, h.finalize());
                } else {
                    let data = std::fs::read(&path).map_err(|source| TreeError::Read {
                        path: path.clone(),
                        source,
                    })?;
                    files.insert(rel, blake3::hash(&data));
                }
            }
        }
        Ok(Manifest { files })
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True if no file was found.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// One hash over the whole tree (names and contents).
    pub fn digest(&self) -> String {
        let mut h = blake3::Hasher::new();
        for (p, d) in &self.files {
            h.update(p.as_os_str().as_encoded_bytes());
            h.update(&[0]);
            h.update(d.as_bytes());
        }
        h.finalize().to_hex().to_string()
    }

    /// Files added, removed or changed between `self` and `other`.
    pub fn differences(&self, other: &Manifest) -> Vec<PathBuf> {
        let names: BTreeSet<&PathBuf> = self.files.keys().chain(other.files.keys()).collect();
        names
            .into_iter()
            .filter(|n| self.files.get(*n) != other.files.get(*n))
            .cloned()
            .collect()
    }
}

fn list(files: &[PathBuf]) -> String {
    let mut s: Vec<String> = files
        .iter()
        .take(8)
        .map(|f| f.display().to_string())
        .collect();
    if files.len() > 8 {
        s.push(format!("and {} more", files.len() - 8));
    }
    s.join(", ")
}

/// The files a unified diff touches (relative to the tree, `-p1`).
pub fn patch_files(patch: &Path, text: &str) -> Result<Vec<PathBuf>, TreeError> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line
            .strip_prefix("--- ")
            .or_else(|| line.strip_prefix("+++ "))
        else {
            continue;
        };
        let name = rest.split('\t').next().unwrap_or(rest).trim_end();
        if name == "/dev/null" || name.is_empty() {
            continue;
        }
        // -p1: drop the first component.
        let Some((_, rel)) = name.split_once('/') else {
            continue;
        };
        let p = Path::new(rel);
        if p.components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(TreeError::BadPath {
                patch: patch.to_path_buf(),
                name: name.to_string(),
            });
        }
        out.insert(p.to_path_buf());
    }
    if out.is_empty() {
        return Err(TreeError::Empty {
            patch: patch.to_path_buf(),
        });
    }
    Ok(out.into_iter().collect())
}

/// Stop a build started in its own process group (`make` and every
/// compiler it runs): SIGTERM to the group, then SIGKILL if it has not
/// exited after a few seconds. Falls back to killing `make` alone if the
/// `kill` utility is missing.
fn stop_child(c: &mut Child) {
    let group = format!("-{}", c.id());
    let signal = |sig: &str| {
        Command::new("kill")
            .args([sig, "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if signal("-TERM") {
        let t0 = std::time::Instant::now();
        while t0.elapsed() < std::time::Duration::from_secs(3) {
            if matches!(c.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    if !matches!(c.try_wait(), Ok(Some(_))) {
        signal("-KILL");
        let _ = c.kill();
    }
    let _ = c.wait();
    // Compilers of the group may outlive make by a moment.
    signal("-KILL");
}

/// State of the applied patches.
#[derive(Debug)]
struct Applied {
    /// How many of the session's patches are applied (in order).
    count: usize,
    /// Saved contents of the files the patches name, as they were before
    /// the first one (`None`: did not exist).
    saved: Vec<(PathBuf, Option<Vec<u8>>)>,
}

#[derive(Debug, Default)]
struct State {
    applied: Option<Applied>,
    child: Option<Child>,
    interrupted: bool,
}

/// One build session on one tree: the checksum taken at the start, the
/// patches applied (in order: the stack below, then the patch being built)
/// and the running build process.
#[derive(Debug)]
pub struct Session {
    srcdir: PathBuf,
    patches: Vec<PathBuf>,
    skip: Vec<PathBuf>,
    before: Manifest,
    state: Mutex<State>,
}

/// What [`Session::finish`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Files checked.
    pub files: usize,
    /// Checksum of the tree (equal before and after).
    pub digest: String,
}

impl Session {
    /// Start a session for `patches`, applied in that order: checksum
    /// `srcdir` (skipping `skip`, e.g. the output directory if it lies
    /// inside the tree).
    pub fn new(
        srcdir: &Path,
        patches: Vec<PathBuf>,
        skip: Vec<PathBuf>,
    ) -> Result<Arc<Session>, TreeError> {
        let before = Manifest::scan(srcdir, &skip)?;
        Ok(Arc::new(Session {
            srcdir: srcdir.to_path_buf(),
            patches,
            skip,
            before,
            state: Mutex::new(State::default()),
        }))
    }

    /// The tree.
    pub fn srcdir(&self) -> &Path {
        &self.srcdir
    }

    /// The checksum taken at the start.
    pub fn manifest(&self) -> &Manifest {
        &self.before
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock must not stop the revert.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run_patch(&self, patch: &Path, extra: &[&str]) -> Result<(bool, String), TreeError> {
        let mut cmd = Command::new("patch");
        cmd.arg("-d")
            .arg(&self.srcdir)
            .args(["-p1", "-f", "--fuzz=0", "--no-backup-if-mismatch"])
            .args(["-r", "-"])
            .args(extra)
            .arg("-i")
            .arg(patch)
            .stdin(Stdio::null());
        // Own process group: the terminal's SIGINT must not stop `patch`
        // half-way; the interrupt handler waits for it and reverts.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let out = cmd.output().map_err(TreeError::Spawn)?;
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        Ok((out.status.success(), text.trim_end().to_string()))
    }

    /// Pre-flight: check that the first patch applies (`--dry-run`),
    /// without changing the tree. (Each later one is checked the same way
    /// when it is applied, on top of those before it.)
    pub fn check_applies(&self) -> Result<(), TreeError> {
        let _st = self.lock();
        let Some(first) = self.patches.first() else {
            return Ok(());
        };
        let (ok, output) = self.run_patch(first, &["-N", "--dry-run"])?;
        if ok {
            Ok(())
        } else {
            Err(TreeError::DoesNotApply {
                patch: first.clone(),
                srcdir: self.srcdir.clone(),
                output,
            })
        }
    }

    /// Apply the session's patches, in order, until `count` are applied;
    /// each is checked with a dry run first. On a failure every patch of
    /// the session is reverted.
    pub fn apply(&self, count: usize) -> Result<(), TreeError> {
        let mut st = self.lock();
        let mut done = st.applied.as_ref().map_or(0, |a| a.count);
        while done < count.min(self.patches.len()) {
            if st.interrupted {
                return Ok(());
            }
            let Some(patch) = self.patches.get(done) else {
                break;
            };
            let text = std::fs::read(patch).map_err(|source| TreeError::Read {
                path: patch.clone(),
                source,
            })?;
            let names = patch_files(patch, &String::from_utf8_lossy(&text))?;
            let (ok, output) = self.run_patch(patch, &["-N", "--dry-run"])?;
            if !ok {
                self.revert_locked(&mut st, true)?;
                return Err(TreeError::DoesNotApply {
                    patch: patch.clone(),
                    srcdir: self.srcdir.clone(),
                    output,
                });
            }
            let applied = st.applied.get_or_insert_with(|| Applied {
                count: 0,
                saved: Vec::new(),
            });
            for n in names {
                if applied.saved.iter().any(|(p, _)| *p == n) {
                    continue;
                }
                let p = self.srcdir.join(&n);
                let data = match std::fs::read(&p) {
                    Ok(d) => Some(d),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(source) => return Err(TreeError::Read { path: p, source }),
                };
                applied.saved.push((n, data));
            }
            // Saved before running: if `patch` fails half-way, the files it
            // did change are restored from `saved`.
            let (ok, output) = self.run_patch(patch, &["-N", "-s"])?;
            if !ok {
                self.revert_locked(&mut st, false)?;
                return Err(TreeError::DoesNotApply {
                    patch: patch.clone(),
                    srcdir: self.srcdir.clone(),
                    output,
                });
            }
            done += 1;
            if let Some(a) = st.applied.as_mut() {
                a.count = done;
            }
        }
        Ok(())
    }

    /// True while any patch is applied.
    pub fn is_applied(&self) -> bool {
        self.lock().applied.is_some()
    }

    fn restore_saved(&self, applied: &Applied) -> Result<(), TreeError> {
        for (rel, data) in &applied.saved {
            let p = self.srcdir.join(rel);
            match data {
                Some(d) => {
                    if std::fs::read(&p).ok().as_deref() != Some(d.as_slice()) {
                        if let Some(parent) = p.parent() {
                            std::fs::create_dir_all(parent).map_err(|source| TreeError::Write {
                                path: p.clone(),
                                source,
                            })?;
                        }
                        std::fs::write(&p, d).map_err(|source| TreeError::Write {
                            path: p.clone(),
                            source,
                        })?;
                    }
                }
                None => match std::fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(source) => return Err(TreeError::Write { path: p, source }),
                },
            }
        }
        Ok(())
    }

    /// Reverse-apply the applied patches, last first (unless `use_patch` is
    /// false); if the tree is then not as it was, write back the saved
    /// files.
    fn revert_locked(&self, st: &mut State, use_patch: bool) -> Result<(), TreeError> {
        let Some(applied) = st.applied.take() else {
            return Ok(());
        };
        let (mut ok, mut output) = (
            false,
            "not run: a patch was only partly applied".to_string(),
        );
        if use_patch {
            (ok, output) = (true, String::new());
            for patch in self.patches.iter().take(applied.count).rev() {
                let (done, text) = self.run_patch(patch, &["-R", "-s"])?;
                if !done {
                    (ok, output) = (false, text);
                    break;
                }
            }
        }
        let now = Manifest::scan(&self.srcdir, &self.skip)?;
        let diff = self.before.differences(&now);
        if diff.is_empty() {
            return Ok(());
        }
        // `patch -R` failed or left something behind: use the saved copies.
        self.restore_saved(&applied)?;
        let now = Manifest::scan(&self.srcdir, &self.skip)?;
        let diff = self.before.differences(&now);
        if diff.is_empty() {
            return Ok(());
        }
        let touched: BTreeSet<&PathBuf> = applied.saved.iter().map(|(p, _)| p).collect();
        if diff.iter().all(|d| !touched.contains(d)) {
            return Err(TreeError::ChangedUnderneath {
                srcdir: self.srcdir.clone(),
                files: list(&diff),
            });
        }
        Err(TreeError::NotRestored {
            srcdir: self.srcdir.clone(),
            files: list(&diff),
            how: if ok {
                "`patch -R` succeeded and the saved copies were written back".into()
            } else {
                format!("`patch -R` failed ({output}) and the saved copies were written back")
            },
        })
    }

    /// Reverse-apply the applied patches.
    pub fn revert(&self) -> Result<(), TreeError> {
        let mut st = self.lock();
        self.revert_locked(&mut st, true)
    }

    /// Revert if needed, then verify the whole tree against the checksum
    /// taken at the start.
    pub fn finish(&self) -> Result<Verified, TreeError> {
        self.revert()?;
        let now = Manifest::scan(&self.srcdir, &self.skip)?;
        let diff = self.before.differences(&now);
        if !diff.is_empty() {
            return Err(TreeError::ChangedUnderneath {
                srcdir: self.srcdir.clone(),
                files: list(&diff),
            });
        }
        Ok(Verified {
            files: now.len(),
            digest: now.digest(),
        })
    }

    /// Register the running build process (stopped by [`Session::interrupt`]).
    /// Returns false if the session was interrupted: the caller must not go
    /// on (the child has been killed).
    pub fn set_child(&self, child: Child) -> bool {
        let mut st = self.lock();
        if st.interrupted {
            let mut c = child;
            stop_child(&mut c);
            return false;
        }
        st.child = Some(child);
        true
    }

    /// Poll the registered child: `Some(status)` once it exited (and it is
    /// unregistered), `None` while it runs. `Err` if there is none (it was
    /// killed by an interrupt).
    pub fn poll_child(&self) -> Result<Option<std::process::ExitStatus>, std::io::Error> {
        let mut st = self.lock();
        let Some(c) = st.child.as_mut() else {
            return Err(std::io::Error::other("the build was interrupted"));
        };
        match c.try_wait()? {
            Some(status) => {
                st.child = None;
                Ok(Some(status))
            }
            None => Ok(None),
        }
    }

    /// True once [`Session::interrupt`] ran.
    pub fn interrupted(&self) -> bool {
        self.lock().interrupted
    }

    /// Signal handler: stop the build process, revert the patch and verify
    /// the tree. Safe to call from another thread at any time; later calls
    /// do nothing.
    pub fn interrupt(&self) -> Result<(), TreeError> {
        let mut st = self.lock();
        if st.interrupted {
            return Ok(());
        }
        st.interrupted = true;
        if let Some(mut c) = st.child.take() {
            stop_child(&mut c);
        }
        self.revert_locked(&mut st, true)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Last resort (a panic unwinding through the driver).
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(mut c) = st.child.take() {
            stop_child(&mut c);
        }
        if st.applied.is_some() {
            let mut taken = std::mem::take(st);
            if let Err(e) = self.revert_locked(&mut taken, true) {
                eprintln!("livepatch-build: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_file_names() {
        let p = Path::new("x.patch");
        let t = "--- a/common/memory.c\t2024-01-01\n+++ b/common/memory.c\n@@\n--- /dev/null\n+++ b/common/new.c\n";
        let f = patch_files(p, t).expect("names");
        assert_eq!(
            f,
            vec![
                PathBuf::from("common/memory.c"),
                PathBuf::from("common/new.c")
            ]
        );
        assert!(matches!(
            patch_files(p, "--- a/../etc/passwd\n+++ b/../etc/passwd\n"),
            Err(TreeError::BadPath { .. })
        ));
        assert!(matches!(
            patch_files(p, "nothing\n"),
            Err(TreeError::Empty { .. })
        ));
    }
}
