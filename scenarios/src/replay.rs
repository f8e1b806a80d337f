//! Replay files (`NAME-HASH.replay.toml`): everything needed to run a
//! failing schedule again — the scenario (path and content hash), the
//! image's build-id, every payload file's hash, the command-line words
//! added, the schedule, the race windows, the steps left out, the
//! failure, the digest and the schedule log — and reproducing it: the
//! scenario runs again with that schedule and the new log is compared
//! entry by entry with the recorded one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::command::{Command, Livepatch};
use crate::machine::{build_id, LogEntry, ScheduleLog, Strategy};
use crate::runner::{self, Options, Run};
use crate::scenario::{self, Images, LoadError, Scenario, StepKind};
use crate::schedule;

/// The replay-file format this testbed writes and reads.
pub const REPLAY_VERSION: u32 = 1;

/// Why a replay file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Reading or writing a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a replay file of this version.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The scenario file no longer loads.
    #[error(transparent)]
    Scenario(#[from] Box<LoadError>),
    /// Something the run depends on is not what it was.
    #[error("{what} changed since the failure was recorded: it was {recorded}, it is {now}")]
    Changed {
        /// What.
        what: String,
        /// Then.
        recorded: String,
        /// Now.
        now: String,
    },
}

/// A file a payload is uploaded from, and its contents' BLAKE3.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadFile {
    /// The path, as the scenario resolves it.
    pub file: String,
    /// BLAKE3 of its contents, hex.
    pub blake3: String,
}

/// What failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedFailure {
    /// Kind and place ([`runner::Failure::signature`]).
    pub signature: String,
    /// The first failure, as `testbed run` prints it.
    pub message: String,
    /// The crash report, when the machine stopped.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub report: String,
}

/// A replay file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayFile {
    /// [`REPLAY_VERSION`].
    pub version: u32,
    /// The scenario file.
    pub scenario: String,
    /// BLAKE3 of its text.
    pub scenario_blake3: String,
    /// The image's build-id.
    pub build_id: String,
    /// Words added after the scenario's own command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<String>,
    /// The payload files the scenario uploads.
    #[serde(default)]
    pub payloads: Vec<PayloadFile>,
    /// The schedule ([`schedule::format`]).
    pub strategy: String,
    /// A sweep's injection ([`schedule::format_injection`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inject: Option<String>,
    /// Race windows, `[start, end)` as hex addresses.
    #[serde(default)]
    pub windows: Vec<[String; 2]>,
    /// Steps left out (1-based, as `testbed run` numbers them).
    #[serde(default)]
    pub skip: Vec<usize>,
    /// The step (1-based) before which the schedule took effect.
    pub fork: usize,
    /// The digest at the end of the run.
    pub digest: String,
    /// What failed.
    pub failure: RecordedFailure,
    /// The schedule log, JSON.
    pub log: String,
}

/// The payload files `s` uploads, with their hashes (a missing file is
/// recorded as such: the run reports it the same way every time).
pub fn payload_files(s: &Scenario) -> Vec<PayloadFile> {
    let mut seen = BTreeSet::new();
    for step in &s.steps {
        if let StepKind::Command(
            _,
            Command::Livepatch(Livepatch::Upload { file, .. } | Livepatch::Load { file, .. }),
        ) = &step.kind
        {
            seen.insert(s.base.join(file));
        }
    }
    seen.into_iter()
        .map(|p| PayloadFile {
            file: p.display().to_string(),
            blake3: std::fs::read(&p)
                .map(|b| blake3::hash(&b).to_hex().to_string())
                .unwrap_or_else(|_| "missing".to_string()),
        })
        .collect()
}

fn scenario_hash(path: &Path) -> Result<String, ReplayError> {
    std::fs::read(path)
        .map(|b| blake3::hash(&b).to_hex().to_string())
        .map_err(|source| ReplayError::Io {
            path: path.to_path_buf(),
            source,
        })
}

impl ReplayFile {
    /// The record of `run`, a failing run of `s` under `strategy` with
    /// `opts` (its windows and skipped steps).
    pub fn record(
        s: &Scenario,
        cmdline: Option<&str>,
        strategy: &Strategy,
        opts: &Options,
        run: &Run,
    ) -> Result<ReplayFile, ReplayError> {
        let first = run.report.failures.first();
        Ok(ReplayFile {
            version: REPLAY_VERSION,
            scenario: s.path.display().to_string(),
            scenario_blake3: scenario_hash(&s.path)?,
            build_id: build_id(&s.image),
            cmdline: cmdline.map(str::to_string),
            payloads: payload_files(s),
            strategy: schedule::format(strategy),
            inject: opts.inject.as_ref().map(schedule::format_injection),
            windows: opts
                .windows
                .iter()
                .map(|(a, b)| [format!("{a:#x}"), format!("{b:#x}")])
                .collect(),
            skip: opts.skip.iter().map(|i| i + 1).collect(),
            fork: opts.fork + 1,
            digest: run.report.digest.clone().unwrap_or_default(),
            failure: RecordedFailure {
                signature: first.map(runner::Failure::signature).unwrap_or_default(),
                message: first.map(ToString::to_string).unwrap_or_default(),
                report: run
                    .crash
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            },
            log: run
                .log
                .as_ref()
                .map(ScheduleLog::to_json)
                .unwrap_or_default(),
        })
    }

    /// Reads a replay file.
    pub fn read(path: &Path) -> Result<ReplayFile, ReplayError> {
        let text = std::fs::read_to_string(path).map_err(|source| ReplayError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let r: ReplayFile = toml::from_str(&text).map_err(|e| ReplayError::Format {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if r.version != REPLAY_VERSION {
            return Err(ReplayError::Format {
                path: path.to_path_buf(),
                message: format!(
                    "replay format version {} is not supported: this testbed reads version \
                     {REPLAY_VERSION}",
                    r.version
                ),
            });
        }
        Ok(r)
    }

    /// Writes it to `path`.
    pub fn write(&self, path: &Path) -> Result<(), ReplayError> {
        let text = toml::to_string(self).map_err(|e| ReplayError::Format {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        std::fs::write(path, text).map_err(|source| ReplayError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The recorded schedule log.
    pub fn schedule_log(&self, path: &Path) -> Result<ScheduleLog, ReplayError> {
        ScheduleLog::from_json(&self.log).map_err(|e| ReplayError::Format {
            path: path.to_path_buf(),
            message: format!("log: {e}"),
        })
    }

    /// Loads the scenario and checks that nothing the run depends on
    /// changed; gives the scenario and the run's options (the schedule in
    /// `strategy`).
    pub fn prepare(&self, path: &Path) -> Result<(Scenario, Options), ReplayError> {
        let spath = PathBuf::from(&self.scenario);
        let now = scenario_hash(&spath)?;
        if now != self.scenario_blake3 {
            return Err(changed(
                format!("scenario {}", spath.display()),
                &self.scenario_blake3,
                &now,
            ));
        }
        let mut images = Images::default();
        let mut s = scenario::load(&spath, &mut images).map_err(Box::new)?;
        if let Some(extra) = &self.cmdline {
            s.add_cmdline(extra);
        }
        let id = build_id(&s.image);
        if id != self.build_id {
            return Err(changed("the image's build-id".into(), &self.build_id, &id));
        }
        for (was, is) in self.payloads.iter().zip(payload_files(&s)) {
            if was != &is {
                return Err(changed(
                    format!("payload {}", was.file),
                    &was.blake3,
                    &is.blake3,
                ));
            }
        }
        let strategy = schedule::parse(&self.strategy).map_err(|e| ReplayError::Format {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let inject = match &self.inject {
            Some(i) => Some(
                schedule::parse_injection(i).map_err(|e| ReplayError::Format {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?,
            ),
            None => None,
        };
        let hex = |s: &str| {
            u64::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|e| ReplayError::Format {
                path: path.to_path_buf(),
                message: format!("window bound '{s}': {e}"),
            })
        };
        let windows = self
            .windows
            .iter()
            .map(|[a, b]| Ok((hex(a)?, hex(b)?)))
            .collect::<Result<Vec<_>, ReplayError>>()?;
        let opts = Options {
            strategy: Some(strategy),
            windows,
            skip: self.skip.iter().map(|i| i.saturating_sub(1)).collect(),
            timeline: false,
            fork: self.fork.saturating_sub(1),
            lean: false,
            probes: Vec::new(),
            inject,
        };
        Ok((s, opts))
    }
}

fn changed(what: String, recorded: &str, now: &str) -> ReplayError {
    ReplayError::Changed {
        what,
        recorded: recorded.to_string(),
        now: now.to_string(),
    }
}

/// How a replay compared with the record.
#[derive(Debug)]
pub enum Verdict {
    /// Same log, same failure, same digest.
    Reproduced,
    /// The run left the recorded one.
    Diverged {
        /// Index of the first log entry that differs.
        entry: usize,
        /// What the record has there.
        expected: Option<Box<LogEntry>>,
        /// What the run did.
        got: Option<Box<LogEntry>>,
    },
    /// Same log, another outcome (cannot happen on a deterministic
    /// machine; reported should it ever).
    Outcome {
        /// Recorded signature and digest.
        expected: String,
        /// Now.
        got: String,
    },
}

/// Compares a replayed run with the record.
pub fn compare(recorded: &ScheduleLog, file: &ReplayFile, run: &Run) -> Verdict {
    let empty = Vec::new();
    let got = run.log.as_ref().map_or(&empty, |l| &l.entries);
    let want = &recorded.entries;
    let n = got.len().max(want.len());
    if let Some(i) = (0..n).find(|&i| got.get(i) != want.get(i)) {
        return Verdict::Diverged {
            entry: i,
            expected: want.get(i).cloned().map(Box::new),
            got: got.get(i).cloned().map(Box::new),
        };
    }
    let sig = run
        .report
        .failures
        .first()
        .map(runner::Failure::signature)
        .unwrap_or_default();
    let digest = run.report.digest.clone().unwrap_or_default();
    if sig != file.failure.signature || digest != file.digest {
        return Verdict::Outcome {
            expected: format!("{} digest {}", file.failure.signature, file.digest),
            got: format!("{sig} digest {digest}"),
        };
    }
    Verdict::Reproduced
}
