//! Runs a loaded scenario once on its own machine, deterministically: the
//! steps in order, each expectation checked, every failure recorded with
//! its step and line.

use std::collections::BTreeSet;
use std::fmt;
use std::io::Write;
use std::time::{Duration, Instant};

use crate::expect::{ConsoleCursor, Mismatch, Previous};
use crate::machine::{
    crash_kind, livepatch_ranges, Crash, CrashReason, Event, MachineError, Probe, ScheduleLog,
    Strategy, Testbed, Timeline, When,
};
use crate::scenario::{Scenario, Step, StepKind};
use crate::shell::{Outcome, Shell, ShellError};

/// Why a scenario failed at a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// An expectation did not hold.
    Expectation {
        /// 1-based step.
        step: usize,
        /// Its line.
        line: usize,
        /// What was expected and what happened.
        mismatch: Mismatch,
    },
    /// A command failed and the next step does not expect it to.
    Command {
        /// 1-based step.
        step: usize,
        /// Its line.
        line: usize,
        /// The command.
        command: String,
        /// Its exit status.
        status: i32,
    },
    /// The machine crashed or failed (step 0: while booting).
    Machine {
        /// 1-based step, 0 for the boot.
        step: usize,
        /// Its line (0 for the boot).
        line: usize,
        /// What stopped it: a detector's name, `panic`, `deadlock`, ...
        kind: String,
        /// The function it stopped in, when known.
        place: Option<String>,
        /// The report.
        report: String,
    },
}

impl Failure {
    /// What kind of failure this is and where, independent of the
    /// schedule that led to it: two runs with one signature found the
    /// same problem (explore keeps one of each; minimise keeps it).
    pub fn signature(&self) -> String {
        match self {
            Failure::Expectation { step, mismatch, .. } => {
                format!("expect-{}@step{step}", mismatch.what)
            }
            Failure::Command { step, status, .. } => format!("status-{status}@step{step}"),
            Failure::Machine { kind, place, .. } => {
                format!("{kind}@{}", place.as_deref().unwrap_or("?"))
            }
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Expectation {
                step,
                line,
                mismatch,
            } => write!(f, "step {step} (line {line}): {mismatch}"),
            Failure::Command {
                step,
                line,
                command,
                status,
            } => write!(
                f,
                "step {step} (line {line}): `{command}` exited with status {status} \
                 and the next step does not expect a failure"
            ),
            Failure::Machine {
                step: 0, report, ..
            } => {
                write!(f, "the machine failed while booting: {report}")
            }
            Failure::Machine {
                step, line, report, ..
            } => {
                write!(f, "step {step} (line {line}): the machine failed: {report}")
            }
        }
    }
}

/// What one run of a scenario gave.
#[derive(Clone, Debug)]
pub struct Report {
    /// The scenario's name.
    pub name: String,
    /// What it checks (the file's `about`).
    pub about: Option<String>,
    /// Every failure, in order.
    pub failures: Vec<Failure>,
    /// Steps carried out.
    pub steps_run: usize,
    /// The commands and their output, as a shell script session shows it.
    pub transcript: String,
    /// Everything the hypervisor printed.
    pub console: String,
    /// The run's digest, when the machine survived.
    pub digest: Option<String>,
    /// Host time taken.
    pub elapsed: Duration,
}

impl Report {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

fn machine_failure(step: usize, line: usize, e: &MachineError) -> Failure {
    let (kind, place) = match e.crash() {
        Some(c) => {
            let (k, p) = crash_kind(c);
            (k.to_string(), p)
        }
        None => ("error".to_string(), None),
    };
    Failure::Machine {
        step,
        line,
        kind,
        place,
        report: e.to_string(),
    }
}

fn shell_failure(step: usize, line: usize, e: &ShellError) -> Failure {
    match e {
        ShellError::Machine(m) => machine_failure(step, line, m),
        other => Failure::Machine {
            step,
            line,
            kind: "error".to_string(),
            place: None,
            report: other.to_string(),
        },
    }
}

/// How to run a scenario beyond what its file says.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The schedule from the first step on (after the boot), instead of
    /// the machine's seed.
    pub strategy: Option<Strategy>,
    /// Race windows `[start, end)`, open from the first step on.
    pub windows: Vec<(u64, u64)>,
    /// Steps left out (0-based), as minimisation drops injections.
    pub skip: BTreeSet<usize>,
    /// Record a timeline.
    pub timeline: bool,
    /// The step (0-based) before which the schedule, windows and timeline
    /// take effect: the steps before it run under the machine's seed (an
    /// exploration runs them once and forks every schedule from there).
    pub fork: usize,
    /// The run keeps no schedule log and no digest (hashing RAM is most
    /// of a short run's cost; explore runs a failure it keeps again, whole).
    pub lean: bool,
    /// Probes armed at the fork; [`Run::probes`] says where they fired.
    pub probes: Vec<Probe>,
    /// An injection armed at the fork (a sweep's run).
    pub inject: Option<Injection>,
}

/// `event` into `vcpu` when vCPU `of` has retired `count` instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Injection {
    /// The target.
    pub vcpu: usize,
    /// The event.
    pub event: Event,
    /// The vCPU whose count triggers it.
    pub of: usize,
    /// Its retired count then.
    pub count: u64,
}

/// A run with everything the race tools need from it.
pub struct Run {
    /// What happened.
    pub report: Report,
    /// The schedule log from power-on (`None` when the boot failed).
    pub log: Option<ScheduleLog>,
    /// The timeline, when asked for.
    pub timeline: Option<Timeline>,
    /// The crash that ended the run, if one did (expected or not).
    pub crash: Option<Box<Crash>>,
    /// Fine (single-instruction) steps the run took in its windows.
    pub fine_steps: u64,
    /// The retired count of each probe's vCPU when it fired, in the order
    /// of [`Options::probes`] (`None`: it did not fire).
    pub probes: Vec<Option<u64>>,
}

/// Runs `s` once.
pub fn run(s: &Scenario) -> Report {
    run_with(s, &Options::default()).report
}

/// Boots `s`'s machine and lets it run up to the first step.
pub fn boot(s: &Scenario) -> Result<Testbed, Failure> {
    Testbed::new(s.image.clone(), &s.boot)
        .and_then(|mut tb| {
            tb.run_for(s.boot_ns)?;
            Ok(tb)
        })
        .map_err(|e| machine_failure(0, 0, &e))
}

/// Runs `s` once on a fresh machine, with `opts`.
pub fn run_with(s: &Scenario, opts: &Options) -> Run {
    let started = Instant::now();
    match boot(s) {
        Ok(tb) => {
            let (mut run, _) = run_booted(s, tb, opts);
            run.report.elapsed = started.elapsed();
            run
        }
        Err(f) => Run {
            report: Report {
                name: s.name.clone(),
                about: s.about.clone(),
                failures: vec![f],
                steps_run: 0,
                transcript: String::new(),
                console: String::new(),
                digest: None,
                elapsed: started.elapsed(),
            },
            log: None,
            timeline: None,
            crash: None,
            fine_steps: 0,
            probes: Vec::new(),
        },
    }
}

/// A scenario part-way through: everything of a run but the machine, so
/// a run can stop before a step, the machine be snapshotted, and many
/// runs go on from there (each from the machine restored and a clone of
/// this).
#[derive(Clone, Debug, Default)]
pub struct Progress {
    next: usize,
    prev: Option<(Outcome, String)>,
    cursor: usize,
    stopped: Option<&'static str>,
    failures: Vec<Failure>,
    steps_run: usize,
    transcript: Vec<u8>,
    dmesg_read: usize,
    crash: Option<Box<Crash>>,
    /// The run ended early (the machine failed, or a command failed that
    /// no expectation covers).
    ended: bool,
    /// The machine failed (no step can run on it).
    dead: bool,
}

impl Progress {
    /// Whether the run is over before its last step.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The first failure so far.
    pub fn first_failure(&self) -> Option<&Failure> {
        self.failures.first()
    }
}

/// Runs `s`'s steps before step `upto` (0-based) on `tb`, from `p`.
pub fn advance(
    s: &Scenario,
    tb: Testbed,
    mut p: Progress,
    upto: usize,
    skip: &BTreeSet<usize>,
) -> (Progress, Testbed) {
    let out = std::mem::take(&mut p.transcript);
    let mut sh = Shell::resume(tb, out, p.dmesg_read, s.base.clone());
    if !p.ended {
        steps(s, &mut sh, &mut p, upto.min(s.steps.len()), skip);
    }
    let (tb, out, dmesg_read) = sh.suspend();
    p.transcript = out;
    p.dmesg_read = dmesg_read;
    (p, tb)
}

/// Runs `s`'s steps on `tb`, a machine booted for it (perhaps restored
/// from a snapshot taken after [`boot`]); gives the machine back. The
/// options take effect before step `opts.fork`.
pub fn run_booted(s: &Scenario, tb: Testbed, opts: &Options) -> (Run, Testbed) {
    let (p, tb) = advance(s, tb, Progress::default(), opts.fork, &opts.skip);
    run_from(s, tb, p, opts)
}

/// Goes on with `p` on `tb` (where `p` left it): installs `opts`'
/// schedule, windows and timeline, runs the remaining steps, and checks
/// that every NMI and MCE delivered was handled.
pub fn run_from(s: &Scenario, mut tb: Testbed, mut p: Progress, opts: &Options) -> (Run, Testbed) {
    let started = Instant::now();
    let mut setup = || -> Result<Vec<u32>, MachineError> {
        if opts.timeline {
            tb.record_timeline(livepatch_ranges(&s.image));
        }
        if let Some(st) = &opts.strategy {
            tb.set_strategy(*st)?;
        }
        for &(a, b) in &opts.windows {
            tb.add_window(a, b);
        }
        let mut ids = Vec::new();
        for p in &opts.probes {
            ids.push(tb.arm_probe(p)?);
        }
        if let Some(i) = opts.inject {
            tb.inject_at_retired(i.vcpu, i.event, i.of, i.count)?;
        }
        Ok(ids)
    };
    let mut probe_ids = Vec::new();
    if !p.ended {
        match setup() {
            Ok(ids) => probe_ids = ids,
            Err(e) => {
                p.failures.push(machine_failure(p.next, 0, &e));
                p.ended = true;
                p.dead = true;
            }
        }
    }
    let (mut p, mut tb) = advance(s, tb, p, s.steps.len(), &opts.skip);
    if !p.dead && p.crash.is_none() {
        // Every NMI and MCE delivered must have been handled by the end.
        if let Err(e) = tb.check_events() {
            let n = s.steps.len();
            let line = s.steps.last().map_or(0, |st| st.line);
            p.failures.push(machine_failure(n, line, &e));
            p.crash = e.crash().cloned().map(Box::new);
        }
    }
    let log = if opts.lean && probe_ids.is_empty() {
        None
    } else {
        tb.schedule_log().ok()
    };
    let probes = probe_ids
        .iter()
        .map(|&id| {
            log.iter().flat_map(|l| &l.entries).find_map(|e| match e {
                crate::machine::LogEntry::Fired { fired, .. } if fired.trigger.0 == id => {
                    Some(fired.retired)
                }
                _ => None,
            })
        })
        .collect();
    let report = Report {
        name: s.name.clone(),
        about: s.about.clone(),
        failures: p.failures,
        steps_run: p.steps_run,
        transcript: String::from_utf8_lossy(&p.transcript).into_owned(),
        console: String::from_utf8_lossy(tb.console()).into_owned(),
        // The machine's digest at the end, also after a crash (a replay
        // of a failing run reproduces it).
        digest: log.as_ref().and_then(|l| match l.entries.last() {
            Some(crate::machine::LogEntry::End { digest, .. }) => Some(digest.clone()),
            _ => None,
        }),
        elapsed: started.elapsed(),
    };
    let run = Run {
        report,
        log,
        timeline: tb.take_timeline(),
        crash: p.crash,
        fine_steps: tb.fine_steps(),
        probes,
    };
    (run, tb)
}

/// The detector that stopped the machine in `e`, if one did.
fn detector_of(e: &ShellError) -> Option<(&'static str, Box<Crash>)> {
    match e {
        ShellError::Machine(MachineError::Crash(c)) => match &c.reason {
            CrashReason::Detected(f) => Some((f.name(), c.clone())),
            _ => None,
        },
        _ => None,
    }
}

/// Carries out steps `p.next..upto` (leaving out `skip`). A detector hit
/// the next step expects stops the machine and leaves its crash in
/// `p.crash`; the console can still be checked.
fn steps(
    s: &Scenario,
    sh: &mut Shell<Vec<u8>>,
    p: &mut Progress,
    upto: usize,
    skip: &BTreeSet<usize>,
) {
    while p.next < upto {
        let i = p.next;
        p.next += 1;
        let step = &s.steps[i];
        if skip.contains(&i) {
            continue;
        }
        let (n, line) = (i + 1, step.line);
        p.steps_run = n;
        match &step.kind {
            StepKind::Command(text, cmd) => {
                let _ = writeln!(sh.output(), "$ {text}");
                let start = sh.output().len();
                let outcome = match sh.exec(cmd) {
                    Ok(o) => o,
                    Err(e) => {
                        if let Some((name, c)) = detector_of(&e) {
                            let _ = write!(sh.output(), "{c}");
                            let expected = matches!(
                                s.steps.get(i + 1),
                                Some(Step { kind: StepKind::Expect(x), .. })
                                    if x.expected_detector() == Some(name)
                            );
                            p.crash = Some(c);
                            if expected {
                                p.stopped = Some(name);
                                continue;
                            }
                        }
                        p.failures.push(shell_failure(n, line, &e));
                        if p.crash.is_none() {
                            p.crash = e_crash(&e);
                        }
                        p.ended = true;
                        p.dead = true;
                        return;
                    }
                };
                let output = String::from_utf8_lossy(&sh.output()[start..]).into_owned();
                let status = outcome.status;
                p.prev = Some((outcome, output));
                if status != 0 && !expects_failure(s.steps.get(i + 1)) {
                    p.failures.push(Failure::Command {
                        step: n,
                        line,
                        command: text.clone(),
                        status,
                    });
                    p.ended = true;
                    return;
                }
            }
            StepKind::Expect(e) => {
                let prev = p.prev.as_ref().map(|(outcome, output)| Previous {
                    outcome,
                    output: output.as_str(),
                });
                let mut cursor = ConsoleCursor(p.cursor);
                let checked = e.check(prev.as_ref(), sh.machine(), &mut cursor, p.stopped);
                p.cursor = cursor.0;
                match checked {
                    Ok(ms) => {
                        p.failures
                            .extend(ms.into_iter().map(|mismatch| Failure::Expectation {
                                step: n,
                                line,
                                mismatch,
                            }))
                    }
                    Err(e) => {
                        p.failures.push(shell_failure(n, line, &e));
                        p.crash = e_crash(&e);
                        p.ended = true;
                        p.dead = true;
                        return;
                    }
                }
            }
            other => {
                let _ = writeln!(sh.output(), "# {}", describe(other));
                let tb = sh.machine();
                let now = tb.now();
                let r = match other {
                    StepKind::Inject { vcpu, event, when } => tb.inject(*vcpu, *event, when),
                    StepKind::Hold(v) => tb.hold(*v, u64::MAX),
                    StepKind::Release(v) => tb.hold(*v, now),
                    StepKind::Delay { vcpu, ns } => tb.hold(*vcpu, now.saturating_add(*ns)),
                    StepKind::Command(..) | StepKind::Expect(_) => Ok(()),
                };
                if let Err(e) = r {
                    p.failures.push(machine_failure(n, line, &e));
                    p.ended = true;
                    p.dead = true;
                    return;
                }
            }
        }
    }
    if p.stopped.is_some() && p.next >= s.steps.len() {
        p.dead = true;
    }
}

fn e_crash(e: &ShellError) -> Option<Box<Crash>> {
    match e {
        ShellError::Machine(m) => m.crash().cloned().map(Box::new),
        _ => None,
    }
}

/// Whether `next` is an expectation of the previous command's failure.
fn expects_failure(next: Option<&Step>) -> bool {
    matches!(next, Some(Step { kind: StepKind::Expect(e), .. }) if e.covers_failure())
}

/// A transcript line for a step that is not a command.
pub fn describe(k: &StepKind) -> String {
    match k {
        StepKind::Inject { vcpu, event, when } => {
            let at = match when {
                When::Now => "now".to_string(),
                When::At {
                    symbol,
                    offset,
                    of,
                    visit,
                } => {
                    let who = of.map_or_else(|| "it".to_string(), |o| format!("vCPU {o}"));
                    let nth = if *visit == 1 {
                        String::new()
                    } else {
                        format!(" (visit {visit})")
                    };
                    format!("when {who} reaches {symbol}+{offset:#x}{nth}")
                }
                When::Watch {
                    symbol,
                    offset,
                    len,
                    write,
                    of,
                } => format!(
                    "when {} {} the {len} byte(s) at {symbol}+{offset:#x}",
                    of.map_or_else(|| "any vCPU".to_string(), |o| format!("vCPU {o}")),
                    if *write { "writes" } else { "reads" }
                ),
                When::Instructions(n) => format!("after {n} instructions"),
                When::After(ns) => format!("after {ns} ns"),
            };
            format!("inject {event:?} into vCPU {vcpu} {at}")
        }
        StepKind::Hold(v) => format!("hold vCPU {v}"),
        StepKind::Release(v) => format!("release vCPU {v}"),
        StepKind::Delay { vcpu, ns } => format!("delay vCPU {vcpu} for {ns} ns"),
        StepKind::Command(text, _) => text.clone(),
        StepKind::Expect(_) => "expect".to_string(),
    }
}
