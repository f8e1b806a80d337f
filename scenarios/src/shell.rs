//! `testbed shell`: an administrator's session on a running machine, with
//! `xen-livepatch` and `xl` commands behaving like the originals (messages
//! and exit statuses), plus `run` (virtual time) and `guest` (a domain
//! issues a hypercall).

use std::io::Write;
use std::path::PathBuf;

use crate::command::{Command, GuestCall, Livepatch, RawArg, USAGE};
use crate::machine::{
    domain_crashed, errno, mailbox_buffer, Action, LivepatchError, MachineError, Status, Testbed,
    ACTION_APPLY_NODEPS, DEFAULT_TIMEOUT_NS, STATE_APPLIED, STATE_CHECKED,
};

/// Timeout the original CLI passes with every action, in ns.
pub const ACTION_TIMEOUT_NS: u32 = DEFAULT_TIMEOUT_NS;
/// Virtual time between keys and their output.
const KEY_SETTLE_NS: u64 = 2_000_000;

/// Errors that end a session (a command's failure is its status instead).
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// The machine crashed or failed.
    #[error(transparent)]
    Machine(#[from] MachineError),
    /// Writing the output failed.
    #[error("output: {0}")]
    Output(#[from] std::io::Error),
    /// A payload name the ABI cannot carry (commands check names first).
    #[error("bad payload name '{0}'")]
    Name(String),
}

impl From<LivepatchError> for ShellError {
    fn from(e: LivepatchError) -> ShellError {
        match e {
            LivepatchError::Machine(m) => ShellError::Machine(m),
            LivepatchError::Name(n) => ShellError::Name(n),
        }
    }
}

/// `strerror` for Xen's errno values.
pub fn strerror(e: i64) -> &'static str {
    match e {
        1 => "Operation not permitted",
        2 => "No such file or directory",
        7 => "Argument list too long",
        8 => "Exec format error",
        11 => "Resource temporarily unavailable",
        12 => "Cannot allocate memory",
        13 => "Permission denied",
        14 => "Bad address",
        16 => "Device or resource busy",
        17 => "File exists",
        22 => "Invalid argument",
        28 => "No space left on device",
        34 => "Numerical result out of range",
        38 => "Function not implemented",
        61 => "No data available",
        75 => "Value too large for defined data type",
        95 => "Operation not supported",
        105 => "No buffer space available",
        _ => "Unknown error",
    }
}

/// Exit status of a failed live-patch call: 2 means "retry".
fn status_of(rc: i64) -> i32 {
    if rc == -errno::EAGAIN || rc == -errno::EBUSY {
        2
    } else {
        1
    }
}

/// The state names `xen-livepatch list` prints.
pub fn state_name(state: u32) -> &'static str {
    match state {
        STATE_CHECKED => "CHECKED",
        STATE_APPLIED => "APPLIED",
        _ => "unknown",
    }
}

/// What a command did, beyond its output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Exit status (0 ok, 1 error, 2 busy/again).
    pub status: i32,
    /// The errno the command reported (`Error N: ...`), if any.
    pub errno: Option<i64>,
    /// A guest hypercall's result.
    pub reply: Option<Reply>,
}

/// The result of a `guest` hypercall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The hypercall's return value.
    pub rc: i64,
    /// What it returned, as the shell prints it without quotes
    /// (`Hello World`, `4.21`, a hex build-id), or `rc=N`.
    pub value: String,
}

impl Outcome {
    fn ok() -> Outcome {
        Outcome::default()
    }

    fn status(status: i32) -> Outcome {
        Outcome {
            status,
            ..Outcome::default()
        }
    }

    /// A live-patch call that failed with `rc`: status 2 means "retry".
    fn failed(rc: i64) -> Outcome {
        Outcome {
            status: status_of(rc),
            errno: Some(-rc),
            reply: None,
        }
    }
}

/// A session on one machine.
pub struct Shell<W: Write> {
    m: Testbed,
    out: W,
    dmesg_read: usize,
    base: PathBuf,
}

impl<W: Write> Shell<W> {
    /// A session on `m`, writing to `out`; relative payload paths are
    /// relative to the current directory.
    pub fn new(m: Testbed, out: W) -> Shell<W> {
        Shell::with_base(m, out, PathBuf::new())
    }

    /// A session whose relative payload paths are relative to `base`.
    pub fn with_base(m: Testbed, out: W, base: PathBuf) -> Shell<W> {
        Shell {
            m,
            out,
            dmesg_read: 0,
            base,
        }
    }

    /// The machine.
    pub fn machine(&mut self) -> &mut Testbed {
        &mut self.m
    }

    /// The testbed and the output, given back.
    pub fn into_parts(self) -> (Testbed, W) {
        (self.m, self.out)
    }

    /// The testbed, the output and how much of the console `xl dmesg -c`
    /// has shown: everything to resume the session later (on the same
    /// machine, or on one restored to where this one is).
    pub fn suspend(self) -> (Testbed, W, usize) {
        (self.m, self.out, self.dmesg_read)
    }

    /// A suspended session, resumed.
    pub fn resume(m: Testbed, out: W, dmesg_read: usize, base: PathBuf) -> Shell<W> {
        Shell {
            m,
            out,
            dmesg_read,
            base,
        }
    }

    /// The output sink.
    pub fn output(&mut self) -> &mut W {
        &mut self.out
    }

    /// Parses and runs one line as typed: a line that does not parse is
    /// reported (with the command summary) and has status 1. Returns the
    /// outcome, or `None` for `quit`.
    pub fn exec_line(&mut self, line: &str) -> Result<Option<Outcome>, ShellError> {
        match Command::parse(line) {
            Ok(Command::Quit) => Ok(None),
            Ok(cmd) => self.exec(&cmd).map(Some),
            Err(e) => {
                writeln!(self.out, "{e}")?;
                if e.wants_usage() {
                    writeln!(self.out, "{USAGE}")?;
                }
                self.out.flush()?;
                Ok(Some(Outcome::status(1)))
            }
        }
    }

    /// Runs one command (`quit` does nothing here: ending the session is
    /// the caller's business).
    pub fn exec(&mut self, cmd: &Command) -> Result<Outcome, ShellError> {
        let outcome = match cmd {
            Command::Nothing | Command::Quit => Outcome::ok(),
            Command::Run(ns) => {
                self.m.run_for(*ns)?;
                Outcome::ok()
            }
            Command::Dmesg { clear } => self.dmesg(*clear)?,
            Command::DebugKeys(keys) => {
                let known = self.m.debug_keys()?;
                if let Some(why) = unknown_key(keys, &known) {
                    writeln!(self.out, "xl: {why}")?;
                    return Ok(Outcome::status(1));
                }
                for k in keys.bytes() {
                    self.m.send_input(&[k]);
                    self.m.run_for(KEY_SETTLE_NS)?;
                }
                Outcome::ok()
            }
            Command::Livepatch(lp) => self.livepatch(lp)?,
            Command::Guest { domid, call, text } => {
                let r = self.guest(*domid, call, text);
                self.answered(*domid, text, r)?
            }
            Command::Hypercall { domid, nr, args } => {
                let r = self.hypercall(*domid, *nr, args);
                self.answered(*domid, &format!("hypercall {nr}"), r)?
            }
        };
        self.out.flush()?;
        Ok(outcome)
    }

    /// Domain `domid`'s call `text` as it ended: a domain the hypervisor
    /// crashed did not answer (status 1, the session goes on).
    fn answered(
        &mut self,
        domid: u32,
        text: &str,
        r: Result<Outcome, ShellError>,
    ) -> Result<Outcome, ShellError> {
        match r {
            Err(ShellError::Machine(e)) if domain_crashed(&e, domid, self.m.console()) => {}
            other => return other,
        }
        writeln!(
            self.out,
            "d{domid}: {text}: no answer: the hypervisor crashed domain {domid} \
             (\"Domain {domid} crashed\" on the console)"
        )?;
        Ok(Outcome::status(1))
    }

    fn hypercall(&mut self, domid: u32, nr: u64, args: &[RawArg]) -> Result<Outcome, ShellError> {
        const SHOWN: usize = 64;
        let buf = mailbox_buffer(domid);
        let mut regs = [0u64; 5];
        let mut data = None;
        for (r, a) in regs.iter_mut().zip(args) {
            *r = match a {
                RawArg::Value(v) => *v,
                RawArg::Buffer(bytes) => {
                    let mut d = bytes.clone();
                    d.resize(d.len().max(SHOWN), 0);
                    data = Some(d);
                    buf
                }
            };
        }
        let (rc, after) = self
            .m
            .hypercall(domid, nr, regs, data.as_deref().unwrap_or(&[]))?;
        let shown = if rc < 0 {
            format!("rc={rc} ({})", strerror(-rc))
        } else {
            format!("rc={rc}")
        };
        writeln!(self.out, "d{domid}: hypercall {nr}: {shown}")?;
        let value = match &data {
            Some(_) => {
                let hex: String = after
                    .iter()
                    .take(SHOWN)
                    .map(|b| format!("{b:02x}"))
                    .collect();
                writeln!(self.out, "d{domid}: buf: {hex}")?;
                hex
            }
            None => rc.to_string(),
        };
        Ok(Outcome {
            status: i32::from(rc < 0),
            errno: (rc < 0).then_some(-rc),
            reply: Some(Reply { rc, value }),
        })
    }

    fn dmesg(&mut self, clear: bool) -> Result<Outcome, ShellError> {
        let console = self.m.console();
        let from = if clear { self.dmesg_read } else { 0 };
        let text = String::from_utf8_lossy(&console[from.min(console.len())..]).into_owned();
        let len = console.len();
        write!(self.out, "{text}")?;
        if clear {
            self.dmesg_read = len;
        }
        Ok(Outcome::ok())
    }

    fn livepatch(&mut self, lp: &Livepatch) -> Result<Outcome, ShellError> {
        match lp {
            Livepatch::Upload { name, file } => self.upload(name, file),
            Livepatch::List => self.list(),
            Livepatch::Signature => self.signature(),
            Livepatch::Apply { name, nodeps } => self.act(name, Action::Apply, flags(*nodeps)),
            Livepatch::Revert(name) => self.act(name, Action::Revert, 0),
            Livepatch::Replace(name) => self.act(name, Action::Replace, 0),
            Livepatch::Unload(name) => self.act(name, Action::Unload, 0),
            Livepatch::Load { file, name, nodeps } => self.load(file, name, flags(*nodeps)),
        }
    }

    fn upload(&mut self, name: &str, file: &str) -> Result<Outcome, ShellError> {
        write!(self.out, "Uploading {file}... ")?;
        let bytes = match std::fs::read(self.base.join(file)) {
            Ok(b) => b,
            Err(e) => {
                writeln!(self.out, "failed\nCould not read {file}: {e}")?;
                return Ok(Outcome::status(1));
            }
        };
        let mark = self.m.console().len();
        let rc = self.m.upload(name, &bytes)?;
        if rc != 0 {
            writeln!(self.out, "failed")?;
            writeln!(self.out, "Error {}: {}", -rc, strerror(-rc))?;
            self.reason(mark, name)?;
            return Ok(Outcome::failed(rc));
        }
        writeln!(self.out, "completed")?;
        Ok(Outcome::ok())
    }

    /// mini-xen's own sub-command: the signature policy of uploads.
    fn signature(&mut self) -> Result<Outcome, ShellError> {
        let p = match self.m.signature()? {
            Ok(p) => p,
            Err(rc) => {
                writeln!(
                    self.out,
                    "Failed to get the signature policy. Error {}: {}",
                    -rc,
                    strerror(-rc)
                )?;
                return Ok(Outcome::failed(rc));
            }
        };
        let mode = p.mode.map_or("unknown", |m| m.name());
        let algorithm = match p.algorithm {
            emulator::livepatch::SIG_ALG_ED25519 => "Ed25519",
            _ => "unknown",
        };
        let id: String = p.key_id.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(self.out, "Signature checking: {mode}")?;
        writeln!(self.out, "Trusted key: {algorithm}, key id {id}")?;
        Ok(Outcome::ok())
    }

    fn list(&mut self) -> Result<Outcome, ShellError> {
        let entries = match self.m.list()? {
            Ok(e) => e,
            Err(rc) => {
                writeln!(self.out, "Failed to list. Error {}: {}", -rc, strerror(-rc))?;
                return Ok(Outcome::failed(rc));
            }
        };
        if entries.is_empty() {
            writeln!(self.out, "Nothing to list")?;
            return Ok(Outcome::ok());
        }
        // The original's columns, widened for longer names and states.
        let rows: Vec<(String, String, String)> = entries
            .iter()
            .map(|e| {
                let mut status = state_name(e.status.state).to_string();
                if e.status.rc != 0 {
                    let rc = i64::from(e.status.rc);
                    status.push_str(&format!(" ({}, {})", rc, strerror(-rc)));
                }
                let md: String = e
                    .metadata
                    .iter()
                    .map(|&b| if b == 0 { ';' } else { char::from(b) })
                    .collect();
                (e.name.clone(), status, md.trim_end_matches(';').to_string())
            })
            .collect();
        let w = rows
            .iter()
            .map(|r| r.0.len() + 1)
            .max()
            .unwrap_or(0)
            .max(40);
        let sw = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(10);
        writeln!(self.out, "{:<w$}| {:<sw$} | metadata", " ID", "status")?;
        writeln!(
            self.out,
            "{}+{}+---------------",
            "-".repeat(w),
            "-".repeat(sw + 2)
        )?;
        for (name, status, md) in rows {
            writeln!(self.out, "{name:<w$}| {status:<sw$} | {md}")?;
        }
        Ok(Outcome::ok())
    }

    /// mini-xen's reason for refusing `name`: its last `livepatch: NAME: `
    /// console line since `mark` (the original tool leaves it to `xl
    /// dmesg`).
    fn reason(&mut self, mark: usize, name: &str) -> Result<(), ShellError> {
        let console = self.m.console();
        let text = String::from_utf8_lossy(&console[mark.min(console.len())..]).into_owned();
        let tag = format!("livepatch: {name}: ");
        if let Some(line) = text.lines().rev().find_map(|l| {
            l.find(&tag)
                .map(|at| l[at + tag.len()..].trim_end().to_string())
        }) {
            writeln!(self.out, "Reason: {line}")?;
        }
        Ok(())
    }

    fn get(&mut self, name: &str) -> Result<Result<Status, i64>, ShellError> {
        Ok(self.m.get(name)?)
    }

    fn act(&mut self, name: &str, action: Action, flags: u32) -> Result<Outcome, ShellError> {
        let (cmd, verb, from, to) = match action {
            Action::Apply => ("apply", "Applying", STATE_CHECKED, Some(STATE_APPLIED)),
            Action::Revert => ("revert", "Reverting", STATE_APPLIED, Some(STATE_CHECKED)),
            Action::Replace => (
                "replace",
                "Replacing all live patches with",
                STATE_CHECKED,
                Some(STATE_APPLIED),
            ),
            Action::Unload => ("unload", "Unloading", STATE_CHECKED, None),
        };
        let status = match self.get(name)? {
            Ok(s) => s,
            Err(rc) => {
                writeln!(self.out, "Failed to get status of {name}.")?;
                writeln!(self.out, "Error {}: {}", -rc, strerror(-rc))?;
                return Ok(Outcome::failed(rc));
            }
        };
        if i64::from(status.rc) == -errno::EAGAIN {
            writeln!(
                self.out,
                "Cannot execute {cmd}. Operation already in progress."
            )?;
            return Ok(Outcome::status(2));
        }
        if Some(status.state) == to {
            writeln!(self.out, "No action needed.")?;
            return Ok(Outcome::ok());
        }
        if status.state != from {
            writeln!(self.out, "{name} is in the wrong state.")?;
            writeln!(self.out, "Current state: {}", state_name(status.state))?;
            writeln!(self.out, "Expected state: {}", state_name(from))?;
            return Ok(Outcome::status(1));
        }
        write!(self.out, "{verb} {name}... ")?;
        let mark = self.m.console().len();
        let (rc, after) = self
            .m
            .action_and_settle(name, action, ACTION_TIMEOUT_NS, flags)?;
        let Some(after) = after else {
            writeln!(self.out, "failed")?;
            writeln!(self.out, "Error {}: {}", -rc, strerror(-rc))?;
            self.reason(mark, name)?;
            return Ok(Outcome::failed(rc));
        };
        match (after, to) {
            (Err(rc), None) if rc == -errno::ENOENT => {
                writeln!(self.out, "completed")?;
                Ok(Outcome::ok())
            }
            (Err(rc), _) => {
                writeln!(self.out, "failed")?;
                writeln!(self.out, "Error {}: {}", -rc, strerror(-rc))?;
                self.reason(mark, name)?;
                Ok(Outcome::failed(rc))
            }
            (Ok(s), _) if i64::from(s.rc) == -errno::EAGAIN => {
                writeln!(self.out, "Operation didn't complete.")?;
                Ok(Outcome::status(2))
            }
            (Ok(s), _) if s.rc != 0 => {
                let rc = i64::from(s.rc);
                writeln!(self.out, "failed")?;
                writeln!(self.out, "Error {}: {}", -rc, strerror(-rc))?;
                self.reason(mark, name)?;
                Ok(Outcome::failed(rc))
            }
            (Ok(s), Some(t)) if s.state == t => {
                writeln!(self.out, "completed")?;
                Ok(Outcome::ok())
            }
            (Ok(s), _) => {
                writeln!(self.out, "failed")?;
                writeln!(self.out, "Unexpected state: {}", state_name(s.state))?;
                Ok(Outcome::status(1))
            }
        }
    }

    fn load(&mut self, file: &str, name: &str, flags: u32) -> Result<Outcome, ShellError> {
        let up = self.upload(name, file)?;
        if up.status != 0 {
            return Ok(up);
        }
        let applied = self.act(name, Action::Apply, flags)?;
        if applied.status != 0 {
            writeln!(self.out, "Unloading {name} after the failed apply.")?;
            self.m.action(name, Action::Unload, ACTION_TIMEOUT_NS, 0)?;
        }
        Ok(applied)
    }

    fn guest(&mut self, domid: u32, call: &GuestCall, text: &str) -> Result<Outcome, ShellError> {
        let m = &mut self.m;
        let rc_only = |rc: i64| (format!("rc={rc}"), rc);
        let mut woken = None;
        let (shown, value, rc) = match call {
            GuestCall::Version => {
                let (a, b) = m.version(domid)?;
                let v = format!("{a}.{b}");
                (v.clone(), v, 0)
            }
            GuestCall::Extraversion => match m.extraversion(domid)? {
                Ok(s) => (format!("\"{s}\""), s, 0),
                Err(rc) => with_rc(rc_only(rc)),
            },
            GuestCall::BuildId => match m.build_id(domid)? {
                Ok(id) => {
                    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
                    (hex.clone(), hex, 0)
                }
                Err(rc) => with_rc(rc_only(rc)),
            },
            GuestCall::WriteWord { offset, value } => {
                with_rc(rc_only(m.write_word(domid, *offset, *value)?))
            }
            GuestCall::EvtchnSend(port) => with_rc(rc_only(m.evtchn_send(domid, *port)?)),
            GuestCall::ConsoleWrite(words) => {
                with_rc(rc_only(m.console_write(domid, &format!("{words}\n"))?))
            }
            GuestCall::Physinfo => match m.physinfo(domid)? {
                Ok(p) => (p.clone(), p, 0),
                Err(rc) => with_rc(rc_only(rc)),
            },
            GuestCall::PagingRequest => match m.paging_request(domid, PAGING_WAIT_NS)? {
                Some(rc) => with_rc(rc_only(rc)),
                None => ("waiting for dom0".into(), "waiting".into(), 0),
            },
            GuestCall::PagingResume { target, value } => {
                let (rc, r) = m.paging_resume(domid, *target, *value, PAGING_WAIT_NS)?;
                woken = r.map(|v| (*target, v));
                (
                    format!("rc={rc}"),
                    r.map(|v| v.to_string()).unwrap_or_default(),
                    rc,
                )
            }
        };
        writeln!(self.out, "d{domid}: {text}: {shown}")?;
        if let Some((target, v)) = woken {
            writeln!(self.out, "d{target}: memory_op paging_request: rc={v}")?;
        }
        Ok(Outcome {
            status: if rc < 0 { 1 } else { 0 },
            errno: (rc < 0).then_some(-rc),
            reply: Some(Reply { rc, value }),
        })
    }
}

/// Why `keys` cannot be pressed, when one of them has no handler in
/// `known` (the hypervisor's registered keys): the message `xl
/// debug-keys` and `testbed boot --keys` give alike.
pub fn unknown_key(keys: &str, known: &[(char, String)]) -> Option<String> {
    let c = keys.chars().find(|c| known.iter().all(|(k, _)| k != c))?;
    let list: Vec<String> = known.iter().map(|(k, d)| format!("{k} ({d})")).collect();
    Some(format!(
        "unknown debug key '{c}': this hypervisor handles {}",
        list.join(", ")
    ))
}

/// Virtual time a paging request is given to return (or to fall asleep),
/// and a woken requester to return.
const PAGING_WAIT_NS: u64 = 2_000_000;

/// A result shown as `rc=N`: the value is the same text.
fn with_rc((shown, rc): (String, i64)) -> (String, String, i64) {
    (shown.clone(), shown, rc)
}

fn flags(nodeps: bool) -> u32 {
    if nodeps {
        ACTION_APPLY_NODEPS
    } else {
        0
    }
}
