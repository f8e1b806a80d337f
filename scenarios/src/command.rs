//! The command language of `testbed shell` and of scenario steps:
//! `xen-livepatch`, `xl`, `run` and `guest` lines, parsed before anything
//! runs so a scenario file with a bad command is refused whole.

use std::path::Path;

use crate::duration::{parse_duration, DurationError};
use crate::machine::{NAME_SIZE, NR_DOMAINS};

/// One parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// An empty line or a `#` comment.
    Nothing,
    /// `quit` / `exit`.
    Quit,
    /// `run DURATION`: let virtual time pass (ns).
    Run(u64),
    /// `xl dmesg [-c]`: the console (`clear`: only what is new).
    Dmesg {
        /// `-c`.
        clear: bool,
    },
    /// `xl debug-keys KEYS`.
    DebugKeys(String),
    /// A `xen-livepatch` sub-command.
    Livepatch(Livepatch),
    /// `hypercall DOMID NR ARG...`: a domain issues hypercall NR with raw
    /// arguments.
    Hypercall {
        /// The domain.
        domid: u32,
        /// The hypercall number.
        nr: u64,
        /// Up to five arguments.
        args: Vec<RawArg>,
    },
    /// `guest DOMID CALL ARGS...`: a domain issues a hypercall.
    Guest {
        /// The domain.
        domid: u32,
        /// The hypercall.
        call: GuestCall,
        /// `CALL ARGS...` as typed, echoed in the answer.
        text: String,
    },
}

/// `xen-livepatch` sub-commands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Livepatch {
    /// `upload NAME FILE`.
    Upload {
        /// Payload name.
        name: String,
        /// Payload file.
        file: String,
    },
    /// `list`.
    List,
    /// `signature`: mini-xen's own sub-command, the signature policy.
    Signature,
    /// `apply NAME [--nodeps]`.
    Apply {
        /// Payload name.
        name: String,
        /// Skip the build-id dependency check.
        nodeps: bool,
    },
    /// `revert NAME`.
    Revert(String),
    /// `replace NAME`.
    Replace(String),
    /// `unload NAME`.
    Unload(String),
    /// `load FILE [--nodeps]`: upload as the file's stem, then apply.
    Load {
        /// Payload file.
        file: String,
        /// Its name (the file's stem).
        name: String,
        /// Skip the build-id dependency check.
        nodeps: bool,
    },
}

/// An argument of a raw hypercall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawArg {
    /// A number (decimal, `0x` hex, or negative decimal).
    Value(u64),
    /// The guest address of the domain's mailbox buffer, holding these
    /// bytes first (`buf`: zeroes; `buf:HEX`: the bytes).
    Buffer(Vec<u8>),
}

/// The synopsis of `hypercall`.
pub const HYPERCALL_USAGE: &str =
    "hypercall DOMID NR [ARG...]: up to 5 arguments, each a number, `buf` (the domain's \
     buffer, zeroed) or `buf:HEX` (the buffer holding those bytes); one buffer per call";

/// The hypercalls `guest` can issue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuestCall {
    /// `xen_version version`.
    Version,
    /// `xen_version extraversion`.
    Extraversion,
    /// `xen_version build_id`.
    BuildId,
    /// `memory_op write_word OFFSET VALUE`.
    WriteWord {
        /// Offset into the domain's memory.
        offset: u64,
        /// The word.
        value: u64,
    },
    /// `event_channel_op send PORT`.
    EvtchnSend(u32),
    /// `console_io write TEXT...` (a newline is added).
    ConsoleWrite(String),
    /// `sysctl physinfo`.
    Physinfo,
    /// `memory_op paging_request`: the domain asks dom0 for a page and
    /// sleeps in the hypervisor until it answers (the command does not
    /// wait for that).
    PagingRequest,
    /// `memory_op paging_resume DOMID VALUE` (dom0): answers that
    /// domain's oldest paging request with VALUE.
    PagingResume {
        /// The domain whose request is answered.
        target: u32,
        /// The answer.
        value: u64,
    },
}

/// Why a command line was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not a command of the language.
    #[error("unknown command: {0}")]
    Unknown(String),
    /// A known command with the wrong arguments; holds its synopsis.
    #[error("usage: {0}")]
    Arguments(&'static str),
    /// `run` with a bad duration.
    #[error(transparent)]
    Duration(#[from] DurationError),
    /// A `xen-livepatch` line with the wrong arguments.
    #[error("xen-livepatch: bad arguments: {0}")]
    LivepatchArgs(String),
    /// A payload name the ABI cannot carry.
    #[error("payload name '{0}' must be 1 to {max} bytes", max = NAME_SIZE - 1)]
    Name(String),
    /// `guest` with a domain id that is not a number.
    #[error("guest: bad domain id '{0}'")]
    Domid(String),
    /// `guest` with a domain the machine does not have.
    #[error("guest: no domain d{0}")]
    NoDomain(u32),
    /// A known hypercall with bad arguments; holds its synopsis.
    #[error("guest: {0}")]
    GuestArgs(&'static str),
    /// A hypercall `guest` does not know.
    #[error(
        "guest: unknown hypercall '{0}'; known: xen_version \
         version|extraversion|build_id, memory_op write_word OFF VAL, \
         memory_op paging_request, memory_op paging_resume DOMID VALUE, \
         event_channel_op send PORT, console_io write TEXT, sysctl physinfo"
    )]
    GuestCall(String),
}

impl ParseError {
    /// Whether the shell prints the command summary after the message (as
    /// the original does for usage errors; not for a bad name).
    pub fn wants_usage(&self) -> bool {
        !matches!(self, ParseError::Name(_))
    }
}

/// The one-line summary of every command.
pub const USAGE: &str =
    "commands: xen-livepatch upload|apply|revert|replace|unload|load|list|signature, \
     xl debug-keys K, xl dmesg [-c], run DURATION, guest DOMID CALL ARGS..., \
     hypercall DOMID NR ARGS..., quit";

/// The CLI's own name check (libxc refuses names of 128 bytes or more).
fn check_name(name: &str) -> Result<String, ParseError> {
    if name.is_empty() || name.len() >= NAME_SIZE || name.contains('\0') {
        Err(ParseError::Name(name.to_string()))
    } else {
        Ok(name.to_string())
    }
}

fn number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn domain(s: &str) -> Result<u32, ParseError> {
    let Ok(id) = s.parse::<u32>() else {
        return Err(ParseError::Domid(s.to_string()));
    };
    if id >= NR_DOMAINS {
        return Err(ParseError::NoDomain(id));
    }
    Ok(id)
}

fn raw_arg(s: &str) -> Option<RawArg> {
    if s == "buf" {
        return Some(RawArg::Buffer(Vec::new()));
    }
    if let Some(hex) = s.strip_prefix("buf:") {
        if hex.len() % 2 != 0 {
            return None;
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        return Some(RawArg::Buffer(bytes));
    }
    match s.strip_prefix('-') {
        Some(n) => n
            .parse::<u64>()
            .ok()
            .map(|v| RawArg::Value(v.wrapping_neg())),
        None => number(s).map(RawArg::Value),
    }
}

impl Command {
    /// Parses one line.
    pub fn parse(line: &str) -> Result<Command, ParseError> {
        let words: Vec<&str> = line.split_whitespace().collect();
        Ok(match words.as_slice() {
            [] => Command::Nothing,
            [w, ..] if w.starts_with('#') => Command::Nothing,
            ["quit"] | ["exit"] => Command::Quit,
            ["run", d] => Command::Run(parse_duration(d)?),
            ["xl", "dmesg"] => Command::Dmesg { clear: false },
            ["xl", "dmesg", "-c"] => Command::Dmesg { clear: true },
            ["xl", "debug-keys", keys] => Command::DebugKeys(keys.to_string()),
            ["run", ..] => return Err(ParseError::Arguments("run DURATION (e.g. 10ms)")),
            ["xl", ..] => return Err(ParseError::Arguments("xl dmesg [-c] | xl debug-keys KEYS")),
            ["xen-livepatch", rest @ ..] => Command::Livepatch(Livepatch::parse(rest)?),
            ["hypercall", domid, nr, args @ ..] => {
                let domid = domain(domid)?;
                let nr = number(nr).ok_or(ParseError::Arguments(HYPERCALL_USAGE))?;
                if args.len() > 5 {
                    return Err(ParseError::Arguments(HYPERCALL_USAGE));
                }
                let args = args
                    .iter()
                    .map(|a| raw_arg(a).ok_or(ParseError::Arguments(HYPERCALL_USAGE)))
                    .collect::<Result<Vec<_>, _>>()?;
                if args
                    .iter()
                    .filter(|a| matches!(a, RawArg::Buffer(_)))
                    .count()
                    > 1
                {
                    return Err(ParseError::Arguments(HYPERCALL_USAGE));
                }
                Command::Hypercall { domid, nr, args }
            }
            ["hypercall", ..] => return Err(ParseError::Arguments(HYPERCALL_USAGE)),
            ["guest", domid, call, args @ ..] => {
                let id = domain(domid)?;
                Command::Guest {
                    domid: id,
                    call: GuestCall::parse(call, args)?,
                    text: format!("{call} {}", args.join(" ")),
                }
            }
            _ => return Err(ParseError::Unknown(line.to_string())),
        })
    }
}

impl Livepatch {
    fn parse(args: &[&str]) -> Result<Livepatch, ParseError> {
        let bad = || ParseError::LivepatchArgs(args.join(" "));
        // As the original, a name is checked before the arguments are.
        if let [sub, name] | [sub, name, _] = args {
            if *sub != "load" {
                check_name(name)?;
            }
        }
        let name = |n: &str| n.to_string();
        Ok(match args {
            ["upload", n, file] => Livepatch::Upload {
                name: name(n),
                file: file.to_string(),
            },
            ["list"] => Livepatch::List,
            ["signature"] => Livepatch::Signature,
            ["apply", n] => Livepatch::Apply {
                name: name(n),
                nodeps: false,
            },
            ["apply", n, "--nodeps"] => Livepatch::Apply {
                name: name(n),
                nodeps: true,
            },
            ["revert", n] => Livepatch::Revert(name(n)),
            ["replace", n] => Livepatch::Replace(name(n)),
            ["unload", n] => Livepatch::Unload(name(n)),
            ["load", file] | ["load", file, "--nodeps"] => {
                let stem = Path::new(file)
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                Livepatch::Load {
                    file: file.to_string(),
                    name: check_name(&stem)?,
                    nodeps: args.len() == 3,
                }
            }
            _ => return Err(bad()),
        })
    }
}

impl GuestCall {
    fn parse(call: &str, args: &[&str]) -> Result<GuestCall, ParseError> {
        let num = |i: usize| args.get(i).and_then(|s| number(s));
        Ok(match (call, args) {
            ("xen_version", ["version"]) => GuestCall::Version,
            ("xen_version", ["extraversion"]) => GuestCall::Extraversion,
            ("xen_version", ["build_id"]) => GuestCall::BuildId,
            ("memory_op", ["write_word", _, _]) => match (num(1), num(2)) {
                (Some(offset), Some(value)) => GuestCall::WriteWord { offset, value },
                _ => return Err(ParseError::GuestArgs("write_word OFFSET VALUE")),
            },
            ("event_channel_op", ["send", _]) => match num(1).map(u32::try_from) {
                Some(Ok(port)) => GuestCall::EvtchnSend(port),
                _ => return Err(ParseError::GuestArgs("event_channel_op send PORT")),
            },
            ("memory_op", ["paging_request"]) => GuestCall::PagingRequest,
            ("memory_op", ["paging_resume", _, _]) => match (num(1).map(u32::try_from), num(2)) {
                (Some(Ok(target)), Some(value)) => GuestCall::PagingResume { target, value },
                _ => return Err(ParseError::GuestArgs("paging_resume DOMID VALUE")),
            },
            ("console_io", ["write", words @ ..]) => GuestCall::ConsoleWrite(words.join(" ")),
            ("sysctl", ["physinfo"]) => GuestCall::Physinfo,
            _ => return Err(ParseError::GuestCall(format!("{call} {}", args.join(" ")))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_parses_and_names_its_mistakes() {
        assert_eq!(Command::parse("  # note"), Ok(Command::Nothing));
        assert_eq!(Command::parse("run 2ms"), Ok(Command::Run(2_000_000)));
        assert_eq!(
            Command::parse("xen-livepatch load a/b/xen_nop.livepatch --nodeps"),
            Ok(Command::Livepatch(Livepatch::Load {
                file: "a/b/xen_nop.livepatch".into(),
                name: "xen_nop".into(),
                nodeps: true
            }))
        );
        assert_eq!(
            Command::parse("guest 1 memory_op write_word 0x10 7"),
            Ok(Command::Guest {
                domid: 1,
                call: GuestCall::WriteWord {
                    offset: 16,
                    value: 7
                },
                text: "memory_op write_word 0x10 7".into()
            })
        );
        assert_eq!(
            Command::parse("guest 0 memory_op paging_resume 1 0x29"),
            Ok(Command::Guest {
                domid: 0,
                call: GuestCall::PagingResume {
                    target: 1,
                    value: 41
                },
                text: "memory_op paging_resume 1 0x29".into()
            })
        );
        assert_eq!(
            Command::parse("xen-livepatch frobnicate x"),
            Err(ParseError::LivepatchArgs("frobnicate x".into()))
        );
        let long = "x".repeat(NAME_SIZE);
        assert_eq!(
            Command::parse(&format!("xen-livepatch apply {long}")),
            Err(ParseError::Name(long))
        );
        assert_eq!(
            Command::parse("guest 99 sysctl physinfo"),
            Err(ParseError::NoDomain(99))
        );
        assert!(matches!(
            Command::parse("run soon"),
            Err(ParseError::Duration(_))
        ));
        assert_eq!(
            Command::parse("run 5 parsecs"),
            Err(ParseError::Arguments("run DURATION (e.g. 10ms)"))
        );
        assert_eq!(
            Command::parse("hypercall 1 17 0x3 buf:00ff -1"),
            Ok(Command::Hypercall {
                domid: 1,
                nr: 17,
                args: vec![
                    RawArg::Value(3),
                    RawArg::Buffer(vec![0, 0xff]),
                    RawArg::Value(u64::MAX)
                ]
            })
        );
        for bad in [
            "hypercall 1",
            "hypercall 1 x",
            "hypercall 1 17 buf buf",
            "hypercall 1 17 buf:0",
            "hypercall 1 17 1 2 3 4 5 6",
        ] {
            assert_eq!(
                Command::parse(bad),
                Err(ParseError::Arguments(HYPERCALL_USAGE)),
                "{bad}"
            );
        }
        assert_eq!(
            Command::parse("reboot now"),
            Err(ParseError::Unknown("reboot now".into()))
        );
    }
}
