//! `testbed shell`: an administrator's session on a running machine, with
//! `xen-livepatch` and `xl` commands behaving like the originals (messages
//! and exit statuses), plus `run` (virtual time) and `guest` (a domain
//! issues a hypercall).

use std::io::Write;
use std::path::Path;

use emulator::hypercall::{errno, Guest};
use emulator::livepatch::{Action, Client, LivepatchError, Status, STATE_APPLIED, STATE_CHECKED};
use emulator::machine::{Machine, MachineError};

/// Timeout the original CLI passes with every action, in ns.
pub const ACTION_TIMEOUT_NS: u32 = emulator::livepatch::DEFAULT_TIMEOUT_NS;
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

/// The CLI's own name check (libxc refuses names of 128 bytes or more).
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() >= emulator::livepatch::NAME_SIZE || name.contains('\0') {
        Err(format!(
            "payload name '{name}' must be 1 to {} bytes",
            emulator::livepatch::NAME_SIZE - 1
        ))
    } else {
        Ok(())
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

fn state_name(state: u32) -> &'static str {
    match state {
        STATE_CHECKED => "CHECKED",
        STATE_APPLIED => "APPLIED",
        _ => "unknown",
    }
}

/// Parses `50ms`, `1s`, `200us`, `1000ns`.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("'{s}' has no unit: use ns, us, ms or s"))?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' does not start with a number"))?;
    let scale = match unit {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        _ => return Err(format!("unknown unit '{unit}': use ns, us, ms or s")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("'{s}' is too long"))
}

/// A session on one machine.
pub struct Shell<W: Write> {
    m: Machine,
    out: W,
    dmesg_read: usize,
}

impl<W: Write> Shell<W> {
    /// A session on `m`, writing to `out`.
    pub fn new(m: Machine, out: W) -> Shell<W> {
        Shell {
            m,
            out,
            dmesg_read: 0,
        }
    }

    /// The machine.
    pub fn machine(&mut self) -> &mut Machine {
        &mut self.m
    }

    /// The output sink.
    pub fn output(&mut self) -> &mut W {
        &mut self.out
    }

    /// Runs one command line; returns its exit status, or `None` for `quit`.
    pub fn exec(&mut self, line: &str) -> Result<Option<i32>, ShellError> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let status = match words.as_slice() {
            [] => 0,
            [w, ..] if w.starts_with('#') => 0,
            ["quit"] | ["exit"] => return Ok(None),
            ["run", d] => match parse_duration(d) {
                Ok(ns) => {
                    self.m.run_for(ns)?;
                    0
                }
                Err(e) => self.usage(&e)?,
            },
            ["xl", "dmesg"] => self.dmesg(false)?,
            ["xl", "dmesg", "-c"] => self.dmesg(true)?,
            ["xl", "debug-keys", keys] => {
                for k in keys.bytes() {
                    self.m.send_input(&[k]);
                    self.m.run_for(KEY_SETTLE_NS)?;
                }
                0
            }
            ["xen-livepatch", rest @ ..] => self.livepatch(rest)?,
            ["guest", domid, call, args @ ..] => self.guest(domid, call, args)?,
            _ => self.usage(&format!("unknown command: {line}"))?,
        };
        self.out.flush()?;
        Ok(Some(status))
    }

    fn usage(&mut self, msg: &str) -> Result<i32, ShellError> {
        writeln!(self.out, "{msg}")?;
        writeln!(
            self.out,
            "commands: xen-livepatch upload|apply|revert|replace|unload|load|list, \
             xl debug-keys K, xl dmesg [-c], run DURATION, guest DOMID CALL ARGS..., quit"
        )?;
        Ok(1)
    }

    fn dmesg(&mut self, clear: bool) -> Result<i32, ShellError> {
        let console = self.m.console();
        let from = if clear { self.dmesg_read } else { 0 };
        let text = String::from_utf8_lossy(&console[from.min(console.len())..]).into_owned();
        let len = console.len();
        write!(self.out, "{text}")?;
        if clear {
            self.dmesg_read = len;
        }
        Ok(0)
    }

    fn livepatch(&mut self, args: &[&str]) -> Result<i32, ShellError> {
        let name = match args {
            [_, name] | [_, name, _] if args[0] != "load" => Some(*name),
            _ => None,
        };
        if let Some(Err(e)) = name.map(check_name) {
            writeln!(self.out, "{e}")?;
            return Ok(1);
        }
        match args {
            ["upload", name, file] => self.upload(name, file),
            ["list"] => self.list(),
            ["apply", name] => self.act(name, Action::Apply, 0),
            ["apply", name, "--nodeps"] => self.act(
                name,
                Action::Apply,
                emulator::livepatch::ACTION_APPLY_NODEPS,
            ),
            ["revert", name] => self.act(name, Action::Revert, 0),
            ["replace", name] => self.act(name, Action::Replace, 0),
            ["unload", name] => self.act(name, Action::Unload, 0),
            ["load", file] => self.load(file, 0),
            ["load", file, "--nodeps"] => self.load(file, emulator::livepatch::ACTION_APPLY_NODEPS),
            _ => self.usage(&format!("xen-livepatch: bad arguments: {}", args.join(" "))),
        }
    }

    fn upload(&mut self, name: &str, file: &str) -> Result<i32, ShellError> {
        write!(self.out, "Uploading {file}... ")?;
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                writeln!(self.out, "failed\nCould not read {file}: {e}")?;
                return Ok(1);
            }
        };
        let rc = Client::new(&mut self.m).upload(name, &bytes)?;
        if rc != 0 {
            writeln!(self.out, "failed")?;
            writeln!(self.out, "Error {}: {}", -rc, strerror(-rc))?;
            return Ok(status_of(rc));
        }
        writeln!(self.out, "completed")?;
        Ok(0)
    }

    fn list(&mut self) -> Result<i32, ShellError> {
        let entries = match Client::new(&mut self.m).list()? {
            Ok(e) => e,
            Err(rc) => {
                writeln!(self.out, "Failed to list. Error {}: {}", -rc, strerror(-rc))?;
                return Ok(status_of(rc));
            }
        };
        if entries.is_empty() {
            writeln!(self.out, "Nothing to list")?;
            return Ok(0);
        }
        writeln!(
            self.out,
            " ID                                     | status     | metadata"
        )?;
        writeln!(
            self.out,
            "----------------------------------------+------------+---------------"
        )?;
        for e in entries {
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
            writeln!(
                self.out,
                "{:<40}| {:<11}| {}",
                e.name,
                status,
                md.trim_end_matches(';')
            )?;
        }
        Ok(0)
    }

    fn get(&mut self, name: &str) -> Result<Result<Status, i64>, ShellError> {
        Ok(Client::new(&mut self.m).get(name)?)
    }

    fn act(&mut self, name: &str, action: Action, flags: u32) -> Result<i32, ShellError> {
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
                return Ok(status_of(rc));
            }
        };
        if i64::from(status.rc) == -errno::EAGAIN {
            writeln!(
                self.out,
                "Cannot execute {cmd}. Operation already in progress."
            )?;
            return Ok(2);
        }
        if Some(status.state) == to {
            writeln!(self.out, "No action needed.")?;
            return Ok(0);
        }
        if status.state != from {
            writeln!(self.out, "{name} is in the wrong state.")?;
            writeln!(self.out, "Current state: {}", state_name(status.state))?;
            writeln!(self.out, "Expected state: {}", state_name(from))?;
            return Ok(1);
        }
        write!(self.out, "{verb} {name}... ")?;
        let (rc, after) =
            Client::new(&mut self.m).action_and_settle(name, action, ACTION_TIMEOUT_NS, flags)?;
        let Some(after) = after else {
            writeln!(self.out, "failed")?;
            writeln!(self.out, "Error {}: {}", -rc, strerror(-rc))?;
            return Ok(status_of(rc));
        };
        match (after, to) {
            (Err(rc), None) if rc == -errno::ENOENT => {
                writeln!(self.out, "completed")?;
                Ok(0)
            }
            (Err(rc), _) => {
                writeln!(self.out, "failed")?;
                writeln!(self.out, "Error {}: {}", -rc, strerror(-rc))?;
                Ok(status_of(rc))
            }
            (Ok(s), _) if i64::from(s.rc) == -errno::EAGAIN => {
                writeln!(self.out, "Operation didn't complete.")?;
                Ok(2)
            }
            (Ok(s), _) if s.rc != 0 => {
                let rc = i64::from(s.rc);
                writeln!(self.out, "failed")?;
                writeln!(self.out, "Error {}: {}", -rc, strerror(-rc))?;
                Ok(status_of(rc))
            }
            (Ok(s), Some(t)) if s.state == t => {
                writeln!(self.out, "completed")?;
                Ok(0)
            }
            (Ok(s), _) => {
                writeln!(self.out, "failed")?;
                writeln!(self.out, "Unexpected state: {}", state_name(s.state))?;
                Ok(1)
            }
        }
    }

    fn load(&mut self, file: &str, flags: u32) -> Result<i32, ShellError> {
        let name = Path::new(file)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Err(e) = check_name(&name) {
            writeln!(self.out, "{e}")?;
            return Ok(1);
        }
        let rc = self.upload(&name, file)?;
        if rc != 0 {
            return Ok(rc);
        }
        let rc = self.act(&name, Action::Apply, flags)?;
        if rc != 0 {
            writeln!(self.out, "Unloading {name} after the failed apply.")?;
            Client::new(&mut self.m).action(&name, Action::Unload, ACTION_TIMEOUT_NS, 0)?;
        }
        Ok(rc)
    }

    fn guest(&mut self, domid: &str, call: &str, args: &[&str]) -> Result<i32, ShellError> {
        let Ok(domid) = domid.parse::<u32>() else {
            return self.usage(&format!("guest: bad domain id '{domid}'"));
        };
        if domid >= emulator::platform::NR_DOMAINS {
            return self.usage(&format!("guest: no domain d{domid}"));
        }
        let num = |i: usize| -> Option<u64> {
            let s = args.get(i)?;
            match s.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => s.parse().ok(),
            }
        };
        let mut g = Guest::new(&mut self.m, domid);
        let (line, rc) = match (call, args) {
            ("xen_version", ["version"]) => {
                let (a, b) = g.version()?;
                (format!("{a}.{b}"), 0)
            }
            ("xen_version", ["extraversion"]) => match g.extraversion()? {
                Ok(s) => (format!("\"{s}\""), 0),
                Err(rc) => (format!("rc={rc}"), rc),
            },
            ("xen_version", ["build_id"]) => match g.build_id()? {
                Ok(id) => (id.iter().map(|b| format!("{b:02x}")).collect(), 0),
                Err(rc) => (format!("rc={rc}"), rc),
            },
            ("memory_op", ["write_word", _, _]) => match (num(1), num(2)) {
                (Some(off), Some(val)) => {
                    let rc = g.write_word(off, val, None)?;
                    (format!("rc={rc}"), rc)
                }
                _ => return self.usage("guest: write_word OFFSET VALUE"),
            },
            ("event_channel_op", ["send", _]) => match num(1) {
                Some(port) => {
                    let rc = g.evtchn_send(port as u32)?;
                    (format!("rc={rc}"), rc)
                }
                None => return self.usage("guest: event_channel_op send PORT"),
            },
            ("console_io", ["write", words @ ..]) => {
                let rc = g.console_write(&format!("{}\n", words.join(" ")))?;
                (format!("rc={rc}"), rc)
            }
            ("sysctl", ["physinfo"]) => match g.physinfo()? {
                Ok(p) => (
                    format!(
                        "nr_cpus={} nr_domains={} nr_vcpus={} total_pages={}",
                        p.nr_cpus, p.nr_domains, p.nr_vcpus, p.total_pages
                    ),
                    0,
                ),
                Err(rc) => (format!("rc={rc}"), rc),
            },
            _ => {
                return self.usage(&format!(
                    "guest: unknown hypercall '{call} {}'; known: xen_version \
                     version|extraversion|build_id, memory_op write_word OFF VAL, \
                     event_channel_op send PORT, console_io write TEXT, sysctl physinfo",
                    args.join(" ")
                ))
            }
        };
        writeln!(self.out, "d{domid}: {call} {}: {line}", args.join(" "))?;
        Ok(if rc < 0 { 1 } else { 0 })
    }
}
