//! How `livepatch-build` shows progress on stderr: a spinner on a
//! terminal, one line per phase otherwise, or nothing (`--quiet`).

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use payloads::driver::make::{MakeJob, MakeStats, Progress, Quiet};

/// One line per phase.
#[derive(Debug, Default)]
pub struct Lines;

impl Progress for Lines {
    fn build_started(&self, job: &MakeJob) {
        eprintln!(
            "livepatch-build: building the {} tree (make -j{} O={})",
            job.label,
            job.jobs.max(1),
            job.objdir.display()
        );
    }

    fn build_finished(&self, job: &MakeJob, stats: Option<&MakeStats>) {
        finished(job, stats);
    }

    fn message(&self, msg: &str) {
        eprintln!("livepatch-build: {msg}");
    }
}

/// A spinner with the file being compiled.
#[derive(Debug, Default)]
pub struct Spinner {
    bar: Mutex<Option<ProgressBar>>,
}

impl Spinner {
    fn with_bar(&self, f: impl FnOnce(&mut Option<ProgressBar>)) {
        // A panic elsewhere must not stop the output.
        let mut bar = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut bar);
    }
}

impl Progress for Spinner {
    fn build_started(&self, job: &MakeJob) {
        let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template("{spinner} {prefix} [{elapsed}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        b.set_prefix(format!("building {} tree", job.label));
        b.enable_steady_tick(Duration::from_millis(100));
        self.with_bar(|bar| *bar = Some(b));
    }

    fn compile_step(&self, _job: &MakeJob, count: usize, what: &str) {
        self.with_bar(|bar| {
            if let Some(b) = bar {
                b.set_message(format!("{count} compiled, {what}"));
            }
        });
    }

    fn build_finished(&self, job: &MakeJob, stats: Option<&MakeStats>) {
        self.with_bar(|bar| {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
        });
        finished(job, stats);
    }

    fn message(&self, msg: &str) {
        eprintln!("livepatch-build: {msg}");
    }
}

fn finished(job: &MakeJob, stats: Option<&MakeStats>) {
    if let Some(s) = stats {
        eprintln!(
            "livepatch-build: {} tree built: {} compile steps in {:.1}s",
            job.label,
            s.compiled,
            s.elapsed.as_secs_f64()
        );
    }
}

/// The display for `--quiet`, else by whether stderr is a terminal.
pub fn choose(quiet: bool) -> std::sync::Arc<dyn Progress> {
    if quiet {
        std::sync::Arc::new(Quiet)
    } else if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        std::sync::Arc::new(Spinner::default())
    } else {
        std::sync::Arc::new(Lines)
    }
}
