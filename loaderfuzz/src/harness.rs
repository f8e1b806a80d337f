//! One booted machine and its snapshot; runs one case: restore, UPLOAD a
//! payload and, when it is accepted, APPLY (or REPLACE, or APPLY with
//! NODEPS), REVERT and UNLOAD, checking after every step.
//!
//! Invariants: no step crashes or hangs the hypervisor; a refused payload
//! leaves nothing behind (GET says -ENOENT, every counter of
//! `abi::counters` is back at the snapshot's value); while a mutant is
//! applied every domain's hypercalls still complete; after REVERT the
//! hypervisor's text is byte for byte the snapshot's and the guests get
//! the original answers; after UNLOAD the counters are back too.

use emulator::hypercall::{errno, Guest};
use emulator::livepatch::{Action, Client, LivepatchError, Status, STATE_APPLIED, STATE_CHECKED};
use emulator::{Config, CrashReason, Image, Machine, MachineError, Snapshot};

use abi::counters::XenCounters;

/// Name every mutant is uploaded under.
pub const NAME: &str = "fuzz";
/// Rendezvous timeout of each action (ns of virtual time).
pub const TIMEOUT_NS: u32 = 10_000_000;
const ALL: std::ops::Range<u32> = 0..abi::platform::NR_DOMAINS;

/// How often a pending action is polled (ns of virtual time).
pub const SETTLE_STEP_NS: u64 = 200_000;
const MS: u64 = 1_000_000;

/// A failure of the harness itself (not of the hypervisor under test).
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("machine: {0}")]
    Machine(#[from] MachineError),
    #[error("the image has no symbol {0}")]
    Symbol(&'static str),
    #[error("the machine misbehaves before any payload: {0}")]
    Baseline(String),
}

/// Which action a case takes on an accepted payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Plan {
    Apply,
    ApplyNodeps,
    Replace,
}

/// The step at which something went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    Upload,
    Apply,
    Applied,
    Revert,
    Unload,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::Upload => "UPLOAD",
            Step::Apply => "APPLY",
            Step::Applied => "while applied",
            Step::Revert => "REVERT",
            Step::Unload => "UNLOAD",
        })
    }
}

/// The kind of a failure, for the histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    Crash,
    Hang,
    LeftBehind,
    Counters,
    GuestAnswer,
    TextNotRestored,
    WrongState,
}

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("hypervisor crashed at {step}: {report}")]
    Crash { step: Step, report: String },
    #[error("hypervisor hung at {step}: {report}")]
    Hang { step: Step, report: String },
    #[error("refused with {rc}, but GET says {get:?}")]
    LeftBehind { rc: i64, get: Result<Status, i64> },
    #[error("after {step}: counters {got:?}, snapshot had {want:?}")]
    Counters {
        step: Step,
        got: XenCounters,
        want: XenCounters,
    },
    #[error("after {step}: d{domid} answered {got}, expected {want}")]
    GuestAnswer {
        step: Step,
        domid: u32,
        got: String,
        want: String,
    },
    #[error("after REVERT the hypervisor's text differs from the snapshot's")]
    TextNotRestored,
    #[error("after {step}: {what}")]
    WrongState { step: Step, what: String },
}

impl Failure {
    pub fn class(&self) -> Class {
        match self {
            Failure::Crash { .. } => Class::Crash,
            Failure::Hang { .. } => Class::Hang,
            Failure::LeftBehind { .. } => Class::LeftBehind,
            Failure::Counters { .. } => Class::Counters,
            Failure::GuestAnswer { .. } => Class::GuestAnswer,
            Failure::TextNotRestored => Class::TextNotRestored,
            Failure::WrongState { .. } => Class::WrongState,
        }
    }

    pub fn step(&self) -> Option<Step> {
        match self {
            Failure::Crash { step, .. }
            | Failure::Hang { step, .. }
            | Failure::Counters { step, .. }
            | Failure::GuestAnswer { step, .. }
            | Failure::WrongState { step, .. } => Some(*step),
            Failure::LeftBehind { .. } => Some(Step::Upload),
            Failure::TextNotRestored => Some(Step::Revert),
        }
    }
}

/// What one case did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub upload_rc: i64,
    /// For accepted payloads: the action's synchronous rc and, when that
    /// was 0, the final rc of the rendezvous.
    pub action: Option<(i64, Option<i32>)>,
    pub failure: Option<Failure>,
}

/// What the guests answer and what the hypervisor holds at the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Baseline {
    counters: XenCounters,
    answers: Vec<Answers>,
    text: blake3::Hash,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Answers {
    version: (u32, u32),
    extra: Result<String, i64>,
}

impl std::fmt::Display for Answers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "version {:?}, extraversion {:?}",
            self.version, self.extra
        )
    }
}

/// A booted machine, its snapshot and what holds at the snapshot.
pub struct Harness {
    m: Machine,
    snap: Snapshot,
    base: Baseline,
    text: (u64, u64),
    console_at_snapshot: usize,
}

fn machine_failure(
    step: Step,
    e: MachineError,
    m: &Machine,
    since: usize,
) -> Result<Failure, HarnessError> {
    let console =
        String::from_utf8_lossy(m.console().get(since..).unwrap_or_default()).into_owned();
    match e {
        MachineError::Crash(c) => {
            let report = format!("{c}\n--- console since the snapshot ---\n{console}");
            Ok(match c.reason {
                CrashReason::Budget(_) | CrashReason::Deadlock(_) => Failure::Hang { step, report },
                _ => Failure::Crash { step, report },
            })
        }
        other => Err(HarnessError::Machine(other)),
    }
}

/// A step's result: the value, or the failure that ends the case.
type StepResult<T> = Result<Result<T, Failure>, HarnessError>;

impl Harness {
    /// Boots `image` on `vcpus` vCPUs (seed 1), lets it settle and takes
    /// the snapshot every case starts from. Signature checking is off: the
    /// target is the ELF loader behind it (under `enforce` every mutant
    /// would stop at the signature; `payloads/tests/signature.rs` covers
    /// that check).
    pub fn new(image: Image, vcpus: usize) -> Result<Harness, HarnessError> {
        let cfg = Config {
            cmdline: "livepatch-signature=off".into(),
            ..Config::new(vcpus, 1)
        };
        let mut m = Machine::new(image, cfg)?;
        m.run_for(5 * MS)?;
        let start = m.symbol("_stext").ok_or(HarnessError::Symbol("_stext"))?;
        let end = m.symbol("_etext").ok_or(HarnessError::Symbol("_etext"))?;
        if m.symbol(abi::counters::SYMBOL).is_none() {
            return Err(HarnessError::Symbol(abi::counters::SYMBOL));
        }
        let mut answers = Vec::new();
        for d in 0..abi::platform::NR_DOMAINS {
            answers.push(Self::answers(&mut m, d)?);
        }
        let snap = m.snapshot()?;
        let mut h = Harness {
            console_at_snapshot: m.console().len(),
            base: Baseline {
                counters: XenCounters::default(),
                answers,
                text: blake3::hash(&[]),
            },
            m,
            snap,
            text: (start, end),
        };
        h.base.counters = h.counters()?;
        h.base.text = h.text_hash()?;
        if h.base.answers[1].version != (4, 21) {
            return Err(HarnessError::Baseline(h.base.answers[1].to_string()));
        }
        Ok(h)
    }

    /// The machine (at whatever state the last case left it).
    pub fn machine(&self) -> &Machine {
        &self.m
    }

    /// Console output since the snapshot.
    pub fn console_since_snapshot(&self) -> String {
        String::from_utf8_lossy(
            self.m
                .console()
                .get(self.console_at_snapshot..)
                .unwrap_or_default(),
        )
        .into_owned()
    }

    fn answers(m: &mut Machine, domid: u32) -> Result<Answers, MachineError> {
        let mut g = Guest::new(m, domid);
        Ok(Answers {
            version: g.version()?,
            extra: g.extraversion()?,
        })
    }

    fn counters(&self) -> Result<XenCounters, HarnessError> {
        let mut w = [0u64; XenCounters::WORDS as usize];
        for (i, x) in w.iter_mut().enumerate() {
            *x = self.m.read_symbol_u64(abi::counters::SYMBOL, i as u64)?;
        }
        Ok(XenCounters::from_words(w))
    }

    fn text_hash(&self) -> Result<blake3::Hash, HarnessError> {
        let mut buf = vec![0u8; (self.text.1 - self.text.0) as usize];
        self.m
            .ram()
            .read(self.text.0, &mut buf)
            .map_err(MachineError::from)?;
        Ok(blake3::hash(&buf))
    }

    fn lift<T>(&self, step: Step, r: Result<T, MachineError>) -> StepResult<T> {
        match r {
            Ok(v) => Ok(Ok(v)),
            Err(e) => machine_failure(step, e, &self.m, self.console_at_snapshot).map(Err),
        }
    }

    fn lift_lp<T>(&self, step: Step, r: Result<T, LivepatchError>) -> StepResult<T> {
        match r {
            Ok(v) => Ok(Ok(v)),
            Err(LivepatchError::Machine(e)) => self.lift(step, Err(e)),
            Err(LivepatchError::Name(n)) => Err(HarnessError::Baseline(format!("name {n}"))),
        }
    }

    /// Domains `domains` answer, and (when `exact`) as at the snapshot.
    fn check_guests(
        &mut self,
        step: Step,
        exact: bool,
        domains: std::ops::Range<u32>,
    ) -> StepResult<()> {
        for d in domains {
            let r = Self::answers(&mut self.m, d);
            let got = match self.lift(step, r)? {
                Ok(a) => a,
                Err(f) => return Ok(Err(f)),
            };
            let want = &self.base.answers[d as usize];
            if exact && &got != want {
                return Ok(Err(Failure::GuestAnswer {
                    step,
                    domid: d,
                    got: got.to_string(),
                    want: want.to_string(),
                }));
            }
        }
        Ok(Ok(()))
    }

    fn check_counters(&self, step: Step) -> StepResult<()> {
        let got = self.counters()?;
        if got != self.base.counters {
            return Ok(Err(Failure::Counters {
                step,
                got,
                want: self.base.counters,
            }));
        }
        Ok(Ok(()))
    }

    fn get(&mut self, step: Step) -> StepResult<Result<Status, i64>> {
        let r = Client::new(&mut self.m).get(NAME);
        self.lift_lp(step, r)
    }

    /// ACTION `cmd`, then GET every `SETTLE_STEP_NS` of virtual time until
    /// the rendezvous is over (rc no longer -EAGAIN), for at most twice the
    /// timeout (as `xen-livepatch` waits). Returns the ACTION's rc and,
    /// when that was 0, the last GET.
    fn act(
        &mut self,
        step: Step,
        cmd: Action,
        flags: u32,
    ) -> StepResult<(i64, Option<Result<Status, i64>>)> {
        let r = Client::new(&mut self.m).action(NAME, cmd, TIMEOUT_NS, flags);
        let rc = match self.lift_lp(step, r)? {
            Ok(rc) => rc,
            Err(f) => return Ok(Err(f)),
        };
        if rc != 0 {
            return Ok(Ok((rc, None)));
        }
        let mut waited = 0;
        loop {
            let r = self.m.run_for(SETTLE_STEP_NS);
            if let Err(f) = self.lift(step, r)? {
                return Ok(Err(f));
            }
            waited += SETTLE_STEP_NS;
            let st = match self.get(step)? {
                Ok(st) => st,
                Err(f) => return Ok(Err(f)),
            };
            let pending = matches!(st, Ok(s) if i64::from(s.rc) == -errno::EAGAIN);
            if !pending || waited >= 2 * u64::from(TIMEOUT_NS) {
                return Ok(Ok((0, Some(st))));
            }
        }
    }

    /// Runs one case from the snapshot.
    pub fn run_case(&mut self, payload: &[u8], plan: Plan) -> Result<Outcome, HarnessError> {
        self.m.restore(&self.snap)?;
        let mut out = Outcome {
            upload_rc: 0,
            action: None,
            failure: None,
        };
        if let Err(f) = self.steps(payload, plan, &mut out)? {
            out.failure = Some(f);
        }
        Ok(out)
    }

    fn steps(&mut self, payload: &[u8], plan: Plan, out: &mut Outcome) -> StepResult<()> {
        macro_rules! step {
            ($e:expr) => {
                match $e? {
                    Ok(v) => v,
                    Err(f) => return Ok(Err(f)),
                }
            };
        }
        let r = Client::new(&mut self.m).upload(NAME, payload);
        out.upload_rc = step!(self.lift_lp(Step::Upload, r));
        if out.upload_rc != 0 {
            let get = step!(self.get(Step::Upload));
            if get != Err(-errno::ENOENT) {
                return Ok(Err(Failure::LeftBehind {
                    rc: out.upload_rc,
                    get,
                }));
            }
            step!(self.check_counters(Step::Upload));
            // dom0 has just answered GET; one unprivileged domain suffices.
            return self.check_guests(Step::Upload, true, 1..2);
        }
        let st = step!(self.get(Step::Upload));
        if st.map(|s| s.state) != Ok(STATE_CHECKED) {
            return Ok(Err(Failure::WrongState {
                step: Step::Upload,
                what: format!("accepted, but GET says {st:?}"),
            }));
        }

        let (cmd, flags) = match plan {
            Plan::Apply => (Action::Apply, 0),
            Plan::ApplyNodeps => (Action::Apply, abi::livepatch::ACTION_APPLY_NODEPS),
            Plan::Replace => (Action::Replace, 0),
        };
        let (rc, settled) = step!(self.act(Step::Apply, cmd, flags));
        let applied = match settled {
            None => {
                out.action = Some((rc, None));
                false
            }
            Some(Ok(s)) => {
                out.action = Some((rc, Some(s.rc)));
                match (s.state, i64::from(s.rc)) {
                    (STATE_APPLIED, 0) => true,
                    (STATE_CHECKED, rc) if rc < 0 && rc != -errno::EAGAIN => false,
                    _ => {
                        return Ok(Err(Failure::WrongState {
                            step: Step::Apply,
                            what: format!("the rendezvous ended with {s:?}"),
                        }))
                    }
                }
            }
            Some(Err(e)) => {
                return Ok(Err(Failure::WrongState {
                    step: Step::Apply,
                    what: format!("GET after the action failed with {e}"),
                }))
            }
        };

        if applied {
            step!(self.check_guests(Step::Applied, false, ALL));
            let (rc, settled) = step!(self.act(Step::Revert, Action::Revert, 0));
            let ok = Some(Ok(Status {
                state: STATE_CHECKED,
                rc: 0,
            }));
            if rc != 0 || settled != ok {
                return Ok(Err(Failure::WrongState {
                    step: Step::Revert,
                    what: format!("REVERT gave {rc}, then {settled:?}"),
                }));
            }
            if self.text_hash()? != self.base.text {
                return Ok(Err(Failure::TextNotRestored));
            }
        }
        step!(self.check_guests(Step::Revert, true, ALL));

        let r = Client::new(&mut self.m).action(NAME, Action::Unload, 0, 0);
        let rc = step!(self.lift_lp(Step::Unload, r));
        let get = step!(self.get(Step::Unload));
        if rc != 0 || get != Err(-errno::ENOENT) {
            return Ok(Err(Failure::WrongState {
                step: Step::Unload,
                what: format!("UNLOAD gave {rc}, then GET {get:?}"),
            }));
        }
        step!(self.check_counters(Step::Unload));
        self.check_guests(Step::Unload, true, ALL)
    }
}
