//! A list of scenario files as `testbed run` treats it: every file loaded
//! and checked first (one bad file and nothing runs), this runner's share
//! taken, then the scenarios run in parallel, one machine per thread.

use std::path::PathBuf;

use rayon::prelude::*;

use crate::partition::Partition;
use crate::runner::{run, Report};
use crate::scenario::{load, Images, LoadError, Scenario};

/// Why a suite did not run.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// The thread pool could not be built.
    #[error("thread pool: {0}")]
    Pool(#[from] rayon::ThreadPoolBuildError),
}

/// Loads every file; all the errors when any is bad. `extra_cmdline`
/// is added after each scenario's own command line.
pub fn load_all(
    files: &[PathBuf],
    partition: Option<Partition>,
    extra_cmdline: Option<&str>,
) -> Result<Vec<Scenario>, Vec<LoadError>> {
    let mut images = Images::default();
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        match load(f, &mut images) {
            Ok(s) => loaded.push(s),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if let Some(extra) = extra_cmdline.filter(|c| !c.is_empty()) {
        for s in &mut loaded {
            s.add_cmdline(extra);
        }
    }
    Ok(match partition {
        Some(p) => p.select(loaded, |s| s.path.clone()),
        None => loaded,
    })
}

/// Runs the scenarios, `jobs` at a time (default: one per core); the
/// reports come back in the scenarios' order.
pub fn run_all(scenarios: &[Scenario], jobs: Option<usize>) -> Result<Vec<Report>, SuiteError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.unwrap_or(0))
        .build()?;
    Ok(pool.install(|| scenarios.par_iter().map(run).collect()))
}

/// The line `testbed run` prints for a scenario.
pub fn summary(r: &Report) -> String {
    let digest = r.digest.as_deref().map_or_else(String::new, |d| {
        format!(", digest {}", &d[..d.len().min(16)])
    });
    format!(
        "{} {} ({} steps{digest}, {:.2} s)",
        if r.passed() { "PASS" } else { "FAIL" },
        r.name,
        r.steps_run,
        r.elapsed.as_secs_f64()
    )
}
