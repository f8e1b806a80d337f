//! Runs a loaded scenario once on its own machine, deterministically: the
//! steps in order, each expectation checked, every failure recorded with
//! its step and line.

use std::fmt;
use std::io::Write;
use std::time::{Duration, Instant};

use crate::expect::{ConsoleCursor, Mismatch, Previous};
use crate::machine::{MachineError, Testbed, When};
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
        /// The report.
        report: String,
    },
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
            Failure::Machine { step, line, report } => {
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
    Failure::Machine {
        step,
        line,
        report: e.to_string(),
    }
}

fn shell_failure(step: usize, line: usize, e: &ShellError) -> Failure {
    Failure::Machine {
        step,
        line,
        report: e.to_string(),
    }
}

/// Runs `s` once.
pub fn run(s: &Scenario) -> Report {
    let started = Instant::now();
    let mut report = Report {
        name: s.name.clone(),
        about: s.about.clone(),
        failures: Vec::new(),
        steps_run: 0,
        transcript: String::new(),
        console: String::new(),
        digest: None,
        elapsed: Duration::ZERO,
    };
    let booted = Testbed::new(s.image.clone(), &s.boot).and_then(|mut tb| {
        tb.run_for(s.boot_ns)?;
        Ok(tb)
    });
    match booted {
        Ok(tb) => {
            let mut sh = Shell::with_base(tb, Vec::new(), s.base.clone());
            let survived = steps(s, &mut sh, &mut report);
            report.transcript = String::from_utf8_lossy(sh.output()).into_owned();
            let tb = sh.machine();
            report.console = String::from_utf8_lossy(tb.console()).into_owned();
            if survived {
                match tb.digest() {
                    Ok(d) => report.digest = Some(d),
                    Err(e) => report.failures.push(machine_failure(0, 0, &e)),
                }
            }
        }
        Err(e) => report.failures.push(machine_failure(0, 0, &e)),
    }
    report.elapsed = started.elapsed();
    report
}

/// Carries out the steps; false when the machine failed.
fn steps(s: &Scenario, sh: &mut Shell<Vec<u8>>, report: &mut Report) -> bool {
    let mut prev: Option<(Outcome, String)> = None;
    let mut cursor = ConsoleCursor::default();
    for (i, step) in s.steps.iter().enumerate() {
        let (n, line) = (i + 1, step.line);
        report.steps_run = n;
        match &step.kind {
            StepKind::Command(text, cmd) => {
                let _ = writeln!(sh.output(), "$ {text}");
                let start = sh.output().len();
                let outcome = match sh.exec(cmd) {
                    Ok(o) => o,
                    Err(e) => {
                        report.failures.push(shell_failure(n, line, &e));
                        return false;
                    }
                };
                let output = String::from_utf8_lossy(&sh.output()[start..]).into_owned();
                let status = outcome.status;
                prev = Some((outcome, output));
                if status != 0 && !expects_failure(s.steps.get(i + 1)) {
                    report.failures.push(Failure::Command {
                        step: n,
                        line,
                        command: text.clone(),
                        status,
                    });
                    return true;
                }
            }
            StepKind::Expect(e) => {
                let p = prev.as_ref().map(|(outcome, output)| Previous {
                    outcome,
                    output: output.as_str(),
                });
                match e.check(p.as_ref(), sh.machine(), &mut cursor) {
                    Ok(ms) => report.failures.extend(ms.into_iter().map(|mismatch| {
                        Failure::Expectation {
                            step: n,
                            line,
                            mismatch,
                        }
                    })),
                    Err(e) => {
                        report.failures.push(shell_failure(n, line, &e));
                        return false;
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
                    report.failures.push(machine_failure(n, line, &e));
                    return false;
                }
            }
        }
    }
    true
}

/// Whether `next` is an expectation of the previous command's failure.
fn expects_failure(next: Option<&Step>) -> bool {
    matches!(next, Some(Step { kind: StepKind::Expect(e), .. }) if e.covers_failure())
}

/// A transcript line for a step that is not a command.
fn describe(k: &StepKind) -> String {
    match k {
        StepKind::Inject { vcpu, event, when } => {
            let at = match when {
                When::Now => "now".to_string(),
                When::At { symbol, offset } => format!("at {symbol}+{offset:#x}"),
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
