//! Building the hypervisor tree with its own Makefile, out of tree
//! (`make -C SRCDIR O=DIR -jN`), with a log file and a progress line.
//!
//! No compiler or flags of the driver's own are passed: the objects must be
//! compiled exactly as the running hypervisor was, so that unchanged code
//! compiles to identical bytes and changed code to what the patched
//! hypervisor would contain.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::tree::Session;

/// Errors building a tree.
#[derive(Debug, thiserror::Error)]
pub enum MakeError {
    /// `make` could not be started.
    #[error("cannot run `make`: {0} (install make and gcc)")]
    Spawn(std::io::Error),
    /// The log could not be written.
    #[error("cannot write the build log {path}: {source}")]
    Log {
        /// Log file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The build failed.
    #[error("the {label} build failed ({status}); the full log is {log}:\n{tail}\n{hint}")]
    Failed {
        /// "original" or "patched".
        label: String,
        /// Exit status.
        status: String,
        /// Log file.
        log: PathBuf,
        /// Last lines of the log.
        tail: String,
        /// What to do.
        hint: String,
    },
    /// The build was interrupted.
    #[error("the {label} build was interrupted")]
    Interrupted {
        /// "original" or "patched".
        label: String,
    },
}

/// One out-of-tree build.
#[derive(Debug, Clone)]
pub struct MakeJob {
    /// The tree (`make -C`).
    pub srcdir: PathBuf,
    /// Output directory (`O=`).
    pub objdir: PathBuf,
    /// Parallel jobs (`-j`).
    pub jobs: usize,
    /// Log file.
    pub log: PathBuf,
    /// "original" or "patched".
    pub label: String,
    /// What to say if it fails.
    pub hint: String,
}

/// What a build did.
#[derive(Debug, Clone, Default)]
pub struct MakeStats {
    /// Compile steps seen (`CC`/`AS` lines).
    pub compiled: usize,
    /// Wall-clock time.
    pub elapsed: Duration,
}

/// Where the driver reports progress. The library only reports; the
/// binary decides how to show it (spinner, lines or nothing).
pub trait Progress: Send + Sync + std::fmt::Debug {
    /// A build of `job` starts.
    fn build_started(&self, job: &MakeJob) {
        let _ = job;
    }
    /// `job` compiled its `count`th file, `what`.
    fn compile_step(&self, job: &MakeJob, count: usize, what: &str) {
        let _ = (job, count, what);
    }
    /// `job` ended: with its statistics if it succeeded.
    fn build_finished(&self, job: &MakeJob, stats: Option<&MakeStats>) {
        let _ = (job, stats);
    }
    /// A step of the driver worth telling the user.
    fn message(&self, msg: &str) {
        let _ = msg;
    }
}

/// No progress output.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Progress for Quiet {}

/// A compile step in the quiet make output ("  CC      common/foo.c").
fn compile_step(line: &str) -> Option<&str> {
    let t = line.trim_start();
    let (tool, rest) = t.split_once(char::is_whitespace)?;
    matches!(tool, "CC" | "AS" | "HOSTCC").then(|| rest.trim())
}

enum Msg {
    Line(String),
    Done,
}

fn pump(src: impl Read + Send + 'static, tx: mpsc::Sender<Msg>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let r = BufReader::new(src);
        for line in r.split(b'\n') {
            let Ok(line) = line else { break };
            if tx
                .send(Msg::Line(String::from_utf8_lossy(&line).into_owned()))
                .is_err()
            {
                break;
            }
        }
        let _ = tx.send(Msg::Done);
    })
}

/// Last `n` lines of a log, for error messages.
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(n);
    lines[from..]
        .iter()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Run one build; the child is registered with `session` so that an
/// interrupt stops it.
pub fn run(
    job: &MakeJob,
    session: &Session,
    progress: &dyn Progress,
) -> Result<MakeStats, MakeError> {
    let start = Instant::now();
    let mut log = std::fs::File::create(&job.log).map_err(|source| MakeError::Log {
        path: job.log.clone(),
        source,
    })?;
    let mut cmd = Command::new("make");
    cmd.arg("-C")
        .arg(&job.srcdir)
        .arg(format!("O={}", job.objdir.display()))
        .arg(format!("-j{}", job.jobs.max(1)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Own process group: an interrupt stops make and all its compilers
    // together (Session::interrupt), before the tree is reverted, whether
    // the signal came from the terminal or to this process alone.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let _ = writeln!(log, "$ {cmd:?}");
    let mut child = cmd.spawn().map_err(MakeError::Spawn)?;
    let (tx, rx) = mpsc::channel();
    let readers = [
        child.stdout.take().map(|o| pump(o, tx.clone())),
        child.stderr.take().map(|e| pump(e, tx.clone())),
    ];
    drop(tx);
    if !session.set_child(child) {
        return Err(MakeError::Interrupted {
            label: job.label.clone(),
        });
    }

    progress.build_started(job);

    let mut stats = MakeStats::default();
    let mut open = readers.iter().filter(|r| r.is_some()).count();
    let status = loop {
        // Drain output (with a short wait), then check the process.
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(Msg::Line(l)) => {
                let _ = writeln!(log, "{l}");
                if let Some(what) = compile_step(&l) {
                    stats.compiled += 1;
                    progress.compile_step(job, stats.compiled, what);
                }
                continue;
            }
            Ok(Msg::Done) => {
                open = open.saturating_sub(1);
                continue;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                open = 0;
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        match session.poll_child() {
            Ok(Some(st)) if open == 0 => break st,
            Ok(Some(st)) => {
                // Exited: collect the rest of its output.
                while let Ok(m) = rx.recv_timeout(Duration::from_millis(200)) {
                    match m {
                        Msg::Line(l) => {
                            let _ = writeln!(log, "{l}");
                            if compile_step(&l).is_some() {
                                stats.compiled += 1;
                            }
                        }
                        Msg::Done => {
                            open = open.saturating_sub(1);
                            if open == 0 {
                                break;
                            }
                        }
                    }
                }
                break st;
            }
            Ok(None) => {}
            Err(_) => {
                progress.build_finished(job, None);
                return Err(MakeError::Interrupted {
                    label: job.label.clone(),
                });
            }
        }
    };
    for r in readers.into_iter().flatten() {
        let _ = r.join();
    }
    let _ = log.flush();
    stats.elapsed = start.elapsed();
    if !status.success() {
        progress.build_finished(job, None);
        return Err(MakeError::Failed {
            label: job.label.clone(),
            status: status.to_string(),
            log: job.log.clone(),
            tail: log_tail(&job.log, 15),
            hint: job.hint.clone(),
        });
    }
    progress.build_finished(job, Some(&stats));
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compile_steps_are_recognised() {
        assert_eq!(compile_step("  CC      common/foo.c"), Some("common/foo.c"));
        assert_eq!(
            compile_step("  AS      arch/x86/entry.S"),
            Some("arch/x86/entry.S")
        );
        assert_eq!(compile_step("  LD      mini-xen.tmp"), None);
        assert_eq!(compile_step("make: Entering directory"), None);
    }
}
