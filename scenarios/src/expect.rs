//! `expect` steps: what must hold after the previous command (its exit
//! status, errno, output, a guest's hypercall result), on the console, or
//! in the payload table; and how each is checked.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;
use serde::Deserialize;

use crate::machine::{crash_kind, MachineError, Testbed};
use crate::shell::{state_name, Outcome, ShellError};

/// A regular expression in a scenario file.
#[derive(Clone, Debug)]
pub struct Pattern(pub Regex);

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Pattern, D::Error> {
        let s = String::deserialize(d)?;
        Regex::new(&s)
            .map(Pattern)
            .map_err(|e| serde::de::Error::custom(format!("bad regular expression: {e}")))
    }
}

/// A payload's expected state in `xen-livepatch list`: `"CHECKED"` or
/// `"APPLIED"`, with ` rc=N` when its last action failed with N.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListState(String);

impl<'de> Deserialize<'de> for ListState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ListState, D::Error> {
        let s = String::deserialize(d)?;
        let (state, rc) = match s.split_once(" rc=") {
            Some((state, rc)) => (state, Some(rc)),
            None => (s.as_str(), None),
        };
        let state_ok = state == "CHECKED" || state == "APPLIED";
        let rc_ok = rc.is_none_or(|r| r.parse::<i32>().is_ok_and(|r| r != 0));
        if state_ok && rc_ok {
            Ok(ListState(s))
        } else {
            Err(serde::de::Error::custom(format!(
                "bad payload state '{s}': expected CHECKED or APPLIED, then ' rc=N' \
                 when the last action failed (e.g. 'CHECKED rc=-1')"
            )))
        }
    }
}

/// How the payload table shows `state` and `rc`.
fn list_state(state: u32, rc: i32) -> String {
    if rc == 0 {
        state_name(state).to_string()
    } else {
        format!("{} rc={rc}", state_name(state))
    }
}

/// A guest hypercall's expected result.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestResult {
    /// The hypercall's return value.
    pub rc: Option<i64>,
    /// What it returned (the string, `4.21`, a hex build-id), exactly.
    pub value: Option<String>,
}

/// An `expect` step as written; every key is optional, at least one is
/// needed (checked by the scenario loader, which knows the span).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Exit status of the previous command (0, 1, 2).
    pub status: Option<i32>,
    /// The errno the previous command reported (`Error N`), positive.
    pub errno: Option<i64>,
    /// A line of the previous command's output matches.
    pub output: Option<Pattern>,
    /// A console line printed since the last matched `console`
    /// expectation (or boot) matches; the next search starts after it.
    pub console: Option<Pattern>,
    /// The previous command was a `guest` hypercall with this result.
    pub guest: Option<GuestResult>,
    /// `xen-livepatch list` holds exactly these payloads in these states.
    pub list: Option<BTreeMap<String, ListState>>,
    /// `"none"`: no detector fired (and every NMI and MCE delivered so
    /// far was handled); a name: that detector stopped the machine in the
    /// previous command.
    pub detector: Option<toml::Spanned<String>>,
}

impl Expect {
    /// Whether nothing is expected.
    pub fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.errno.is_none()
            && self.output.is_none()
            && self.console.is_none()
            && self.guest.is_none()
            && self.list.is_none()
            && self.detector.is_none()
    }

    /// Whether this expectation speaks for a failing previous command
    /// (the script goes on past a failure the next step expects): it names
    /// a status, an errno or a guest's rc.
    pub fn covers_failure(&self) -> bool {
        self.status.is_some()
            || self.errno.is_some()
            || self.guest.as_ref().is_some_and(|g| g.rc.is_some())
    }

    /// Whether this expectation only looks at the console (it can be
    /// checked after a detector stopped the machine).
    pub fn console_only(&self) -> bool {
        self.console.is_some()
            && self.status.is_none()
            && self.errno.is_none()
            && self.output.is_none()
            && self.guest.is_none()
            && self.list.is_none()
            && self.detector.is_none()
    }

    /// The detector this expectation says stopped the machine, if any.
    pub fn expected_detector(&self) -> Option<&str> {
        self.detector
            .as_ref()
            .map(|d| d.get_ref().as_str())
            .filter(|d| *d != "none")
    }

    /// Whether this expectation is about the previous command.
    pub fn needs_command(&self) -> bool {
        self.covers_failure() || self.output.is_some() || self.guest.is_some()
    }
}

/// One expectation that did not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Which key (`status`, `console`, ...).
    pub what: &'static str,
    /// What the file expected.
    pub expected: String,
    /// What happened.
    pub got: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expect {}: expected {}, got {}",
            self.what, self.expected, self.got
        )
    }
}

/// The previous command, as expectations see it.
pub struct Previous<'a> {
    /// Its outcome.
    pub outcome: &'a Outcome,
    /// What it printed.
    pub output: &'a str,
}

/// Where `console` expectations search from (a byte offset).
#[derive(Debug, Default)]
pub struct ConsoleCursor(pub usize);

fn mismatch(what: &'static str, expected: impl fmt::Display, got: impl fmt::Display) -> Mismatch {
    Mismatch {
        what,
        expected: expected.to_string(),
        got: got.to_string(),
    }
}

fn opt<T: fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "none".to_string(), |v| v.to_string())
}

impl Expect {
    /// Checks every key; `prev` is the previous command (the loader made
    /// sure there is one when a key needs it).
    /// `stopped` names the detector that stopped the machine, if one did
    /// (then only console and detector keys are checked).
    pub fn check(
        &self,
        prev: Option<&Previous<'_>>,
        tb: &mut Testbed,
        cursor: &mut ConsoleCursor,
        stopped: Option<&str>,
    ) -> Result<Vec<Mismatch>, ShellError> {
        let mut out = Vec::new();
        if let Some(d) = &self.detector {
            let want = d.get_ref().as_str();
            let got = match stopped {
                Some(s) => Some(s.to_string()),
                None => match tb.check_events() {
                    Ok(()) => None,
                    Err(MachineError::Crash(c)) => Some(crash_kind(&c).0.to_string()),
                    Err(e) => return Err(e.into()),
                },
            };
            if got.as_deref().unwrap_or("none") != want {
                out.push(mismatch("detector", want, got.as_deref().unwrap_or("none")));
            }
        }
        if stopped.is_some() {
            if let Some(Pattern(re)) = &self.console {
                self.check_console(re, tb, cursor, &mut out);
            }
            return Ok(out);
        }
        let outcome = prev.map(|p| p.outcome);
        if let Some(s) = self.status {
            let got = outcome.map(|o| o.status);
            if got != Some(s) {
                out.push(mismatch("status", s, opt(got)));
            }
        }
        if let Some(e) = self.errno {
            let got = outcome.and_then(|o| o.errno);
            if got != Some(e) {
                out.push(mismatch("errno", e, opt(got)));
            }
        }
        if let Some(Pattern(re)) = &self.output {
            let text = prev.map_or("", |p| p.output);
            if !text.lines().any(|l| re.is_match(l)) {
                out.push(mismatch(
                    "output",
                    format!("a line matching /{re}/"),
                    format!("{:?}", text.trim_end()),
                ));
            }
        }
        if let Some(g) = &self.guest {
            let reply = outcome.and_then(|o| o.reply.as_ref());
            if let Some(rc) = g.rc {
                let got = reply.map(|r| r.rc);
                if got != Some(rc) {
                    out.push(mismatch("guest.rc", rc, opt(got)));
                }
            }
            if let Some(v) = &g.value {
                let got = reply.map(|r| format!("{:?}", r.value));
                if reply.map(|r| &r.value) != Some(v) {
                    out.push(mismatch("guest.value", format!("{v:?}"), opt(got)));
                }
            }
        }
        if let Some(Pattern(re)) = &self.console {
            self.check_console(re, tb, cursor, &mut out);
        }
        if let Some(want) = &self.list {
            let show = |m: &BTreeMap<String, String>| {
                if m.is_empty() {
                    "nothing loaded".to_string()
                } else {
                    m.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            };
            let want: BTreeMap<String, String> =
                want.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect();
            match tb.list()? {
                Ok(entries) => {
                    let got: BTreeMap<String, String> = entries
                        .iter()
                        .map(|e| (e.name.clone(), list_state(e.status.state, e.status.rc)))
                        .collect();
                    if got != want {
                        out.push(mismatch("list", show(&want), show(&got)));
                    }
                }
                Err(rc) => out.push(mismatch("list", show(&want), format!("LIST failed: {rc}"))),
            }
        }
        Ok(out)
    }

    fn check_console(
        &self,
        re: &Regex,
        tb: &mut Testbed,
        cursor: &mut ConsoleCursor,
        out: &mut Vec<Mismatch>,
    ) {
        let console = String::from_utf8_lossy(tb.console()).into_owned();
        let from = cursor.0.min(console.len());
        let mut at = from;
        let mut found = false;
        for line in console[from..].split_inclusive('\n') {
            at += line.len();
            if re.is_match(line.trim_end_matches('\n')) {
                found = true;
                break;
            }
        }
        if found {
            cursor.0 = at;
        } else {
            let last = console[from..].lines().last().unwrap_or("");
            out.push(mismatch(
                "console",
                format!("a line matching /{re}/"),
                format!(
                    "{} new line(s), the last {last:?}",
                    console[from..].lines().count()
                ),
            ));
        }
    }
}
