//! Scenario files: the format (TOML, format version 1), and loading, which
//! parses every step and checks it against the image (vCPUs, symbols)
//! before anything runs. A bad file is refused with `file:line:column`
//! and what was expected.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::{Error as _, MapAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

use crate::command::Command;
use crate::duration::Nanos;
use crate::expect::Expect;
use crate::explore::{Explore, ExploreError, ExploreSpec};
use crate::location::{render, Location};
use crate::machine::{
    default_image, load_image, starts_instruction, symbol_size, Boot, Event, Image, ImageError,
    When, BOOT_CMDLINE_MAX, DETECTOR_NAMES, MAX_VCPUS,
};

/// The format version this testbed reads.
pub const FORMAT_VERSION: u32 = 1;
/// Virtual time mini-xen boots for before the first step, by default.
pub const DEFAULT_BOOT_NS: u64 = 5_000_000;

/// Read first, so a file of another version is told so, not that its
/// keys are unknown.
#[derive(Deserialize)]
struct VersionSpec {
    version: Spanned<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    /// Checked through [`VersionSpec`] before the rest.
    #[serde(rename = "version")]
    _version: u32,
    about: Option<String>,
    machine: MachineSpec,
    steps: Vec<Spanned<StepSpec>>,
    explore: Option<Spanned<ExploreSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MachineSpec {
    vcpus: Spanned<u16>,
    seed: u64,
    image: Option<Spanned<String>>,
    cmdline: Option<Spanned<String>>,
    #[serde(default)]
    busy: bool,
    boot: Option<Nanos>,
}

/// The events `inject` knows.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum EventName {
    Nmi,
    Mce,
    Ipi,
    Vector,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InjectSpec {
    event: EventName,
    vector: Option<Spanned<u8>>,
    vcpu: Spanned<usize>,
    at: Option<Spanned<String>>,
    watch: Option<Spanned<String>>,
    access: Option<Spanned<AccessName>>,
    len: Option<Spanned<u64>>,
    of: Option<Spanned<usize>>,
    visit: Option<Spanned<u64>>,
    instructions: Option<u64>,
    after: Option<Nanos>,
}

/// What a watchpoint watches.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum AccessName {
    Read,
    Write,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DelaySpec {
    vcpu: Spanned<usize>,
    #[serde(rename = "for")]
    duration: Nanos,
}

/// The step keys, for messages.
const STEP_KINDS: &str = "`inject`, `hold`, `release`, `delay` or `expect`";

enum StepSpec {
    Command(String, Command),
    Inject(Box<InjectSpec>),
    Hold(Spanned<usize>),
    Release(Spanned<usize>),
    Delay(DelaySpec),
    Expect(Box<Expect>),
}

impl<'de> Deserialize<'de> for StepSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<StepSpec, D::Error> {
        struct StepVisitor;
        impl<'de> Visitor<'de> for StepVisitor {
            type Value = StepSpec;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    "a command (a string) or a table with one of {STEP_KINDS}"
                )
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StepSpec, E> {
                match Command::parse(v) {
                    Ok(Command::Quit) => Err(E::custom(
                        "`quit` ends a shell session; a scenario ends after its last step",
                    )),
                    Ok(c) => Ok(StepSpec::Command(v.to_string(), c)),
                    Err(e) => Err(E::custom(e)),
                }
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StepSpec, A::Error> {
                let Some(key) = map.next_key::<String>()? else {
                    return Err(A::Error::custom(format!(
                        "an empty step: expected one of {STEP_KINDS}"
                    )));
                };
                let step = match key.as_str() {
                    "inject" => StepSpec::Inject(map.next_value()?),
                    "hold" => StepSpec::Hold(map.next_value()?),
                    "release" => StepSpec::Release(map.next_value()?),
                    "delay" => StepSpec::Delay(map.next_value()?),
                    "expect" => StepSpec::Expect(map.next_value()?),
                    other => {
                        return Err(A::Error::custom(format!(
                            "unknown step `{other}`, expected {STEP_KINDS}"
                        )))
                    }
                };
                if let Some(extra) = map.next_key::<String>()? {
                    return Err(A::Error::custom(format!(
                        "a step does one thing: `{key}` and `{extra}` need two steps"
                    )));
                }
                Ok(step)
            }
        }
        d.deserialize_any(StepVisitor)
    }
}

/// A checked step.
#[derive(Clone, Debug)]
pub enum StepKind {
    /// A command of the shell's language, and its text.
    Command(String, Command),
    /// Inject `event` into `vcpu` at `when`.
    Inject {
        /// The vCPU.
        vcpu: usize,
        /// The event.
        event: Event,
        /// When.
        when: When,
    },
    /// Hold a vCPU until it is released.
    Hold(usize),
    /// Release a held vCPU.
    Release(usize),
    /// Hold a vCPU for this many ns.
    Delay {
        /// The vCPU.
        vcpu: usize,
        /// For how long.
        ns: u64,
    },
    /// Check expectations.
    Expect(Box<Expect>),
}

/// A step and where it is written.
#[derive(Clone, Debug)]
pub struct Step {
    /// 1-based line.
    pub line: usize,
    /// What it does.
    pub kind: StepKind,
}

/// A loaded, checked scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Its name: the file's stem.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// What it checks.
    pub about: Option<String>,
    /// The image it boots.
    pub image: Image,
    /// The machine.
    pub boot: Boot,
    /// Virtual time before the first step, in ns.
    pub boot_ns: u64,
    /// The directory relative paths start from (the file's).
    pub base: PathBuf,
    /// The steps.
    pub steps: Vec<Step>,
    /// The explore table, if any.
    pub explore: Option<Explore>,
}

impl Scenario {
    /// Adds `extra` words after the scenario's own command line.
    pub fn add_cmdline(&mut self, extra: &str) {
        if extra.is_empty() {
            return;
        }
        self.boot.cmdline = [self.boot.cmdline.as_str(), extra]
            .iter()
            .filter(|w| !w.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
    }
}

/// What is wrong at a place in a file.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// The TOML or the shape of the data (from the parser).
    #[error("{0}")]
    Syntax(String),
    /// A format version this testbed does not read.
    #[error("format version {0} is not supported: this testbed reads version {FORMAT_VERSION}")]
    Version(u32),
    /// A command line the boot protocol cannot carry.
    #[error("cmdline of {0} bytes: the boot protocol carries fewer than {BOOT_CMDLINE_MAX}, without NUL")]
    Cmdline(usize),
    /// vCPUs outside 1..=64.
    #[error("vcpus = {0}: a machine has 1 to {MAX_VCPUS} vCPUs")]
    Vcpus(u16),
    /// The image could not be loaded.
    #[error("image: {0}")]
    Image(ImageError),
    /// An `expect` with no key.
    #[error(
        "an empty expect: expected at least one of status, errno, output, console, guest, list, detector"
    )]
    EmptyExpect,
    /// An expectation about a previous command with none before it.
    #[error("this expectation is about the previous command, and no command comes before it")]
    NoCommand,
    /// `expect.guest` after a command that is not `guest`.
    #[error("expect.guest needs a `guest` or `hypercall` command before it, not `{0}`")]
    NotGuest(String),
    /// A vCPU the machine does not have.
    #[error("vCPU {vcpu} does not exist: the machine has {vcpus} (0 to {last})", last = vcpus - 1)]
    NoVcpu {
        /// The vCPU named.
        vcpu: usize,
        /// How many there are.
        vcpus: u16,
    },
    /// A symbol the image lacks.
    #[error("no symbol `{0}` in the image")]
    NoSymbol(String),
    /// An offset past the end of its symbol.
    #[error("offset {offset:#x} is past the end of `{symbol}` (size {size:#x})")]
    Offset {
        /// The symbol.
        symbol: String,
        /// The offset.
        offset: u64,
        /// Its size.
        size: u64,
    },
    /// An offset inside an instruction (the trigger would never fire).
    #[error("`{symbol}+{offset:#x}` is inside an instruction: a trigger there never fires")]
    MidInstruction {
        /// The symbol.
        symbol: String,
        /// The offset.
        offset: u64,
    },
    /// An injection point that is not `SYMBOL` or `SYMBOL+OFFSET`.
    #[error(
        "bad injection point `{0}`: expected SYMBOL or SYMBOL+OFFSET (e.g. `apply_payload+0x10`)"
    )]
    At(String),
    /// Two of `at`, `instructions`, `after`.
    #[error(
        "an injection happens at one point: give one of `at`, `watch`, `instructions`, `after` (none: now)"
    )]
    TwoPoints,
    /// `of` without `at` or `watch`.
    #[error("`of` names the vCPU that reaches `at` or touches `watch`, and there is neither")]
    OfWithoutAt,
    /// `visit` without `at`, or 0.
    #[error("`visit = N` (N >= 1) counts the visits of `at`: it goes with `at`")]
    Visit,
    /// `access` or `len` without `watch`.
    #[error("`access` and `len` describe a watchpoint: they go with `watch`")]
    WatchKeys,
    /// An unknown detector name.
    #[error("unknown detector `{0}`: expected \"none\" or one of {names}", names = DETECTOR_NAMES.join(", "))]
    Detector(String),
    /// A step after an expected detector hit that needs the machine.
    #[error("a detector stops the machine: after `expect.detector = \"{0}\"` only console expectations can follow")]
    AfterDetector(String),
    /// `vector` missing, or given for another event.
    #[error("`vector = N` goes with `event = \"vector\"`, and only with it")]
    Vector,
    /// The explore table.
    #[error(transparent)]
    Explore(#[from] ExploreError),
}

/// Why a scenario file was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Something at a place in the file.
    #[error("{}", render(at, problem))]
    At {
        /// Where.
        at: Box<Location>,
        /// What.
        problem: Box<Problem>,
    },
}

/// Images loaded so far, by path, so a suite loads each once.
#[derive(Default)]
pub struct Images(HashMap<PathBuf, Image>);

impl Images {
    fn get(&mut self, path: &Path) -> Result<Image, ImageError> {
        if let Some(i) = self.0.get(path) {
            return Ok(i.clone());
        }
        let image = load_image(path)?;
        self.0.insert(path.to_path_buf(), image.clone());
        Ok(image)
    }
}

/// Loads and checks the scenario in `path`.
pub fn load(path: &Path, images: &mut Images) -> Result<Scenario, LoadError> {
    let source = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &source, images)
}

/// Parses and checks `source`, the text of the scenario file at `path`.
pub fn parse(path: &Path, source: &str, images: &mut Images) -> Result<Scenario, LoadError> {
    let at = |span: Range<usize>, problem: Problem| LoadError::At {
        at: Box::new(Location::of(path.to_path_buf(), source, span)),
        problem: Box::new(problem),
    };
    let syntax = |e: toml::de::Error| {
        at(
            e.span().unwrap_or(0..0),
            Problem::Syntax(e.message().to_string()),
        )
    };
    let version: VersionSpec = toml::from_str(source).map_err(syntax)?;
    if *version.version.get_ref() != FORMAT_VERSION {
        return Err(at(
            version.version.span(),
            Problem::Version(*version.version.get_ref()),
        ));
    }
    let spec: FileSpec = toml::from_str(source).map_err(syntax)?;
    let m = &spec.machine;
    let vcpus = *m.vcpus.get_ref();
    if vcpus == 0 || vcpus > MAX_VCPUS {
        return Err(at(m.vcpus.span(), Problem::Vcpus(vcpus)));
    }
    let cmdline = m.cmdline.as_ref().map_or("", |c| c.get_ref().as_str());
    if let Some(c) = &m.cmdline {
        if cmdline.len() >= BOOT_CMDLINE_MAX || cmdline.contains('\0') {
            return Err(at(c.span(), Problem::Cmdline(cmdline.len())));
        }
    }
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let (image_path, image_span) = match &m.image {
        Some(p) => (base.join(p.get_ref()), p.span()),
        None => (default_image(), 0..0),
    };
    let image = images
        .get(&image_path)
        .map_err(|e| at(image_span, Problem::Image(e)))?;
    let mut checker = Checker {
        image: &image,
        vcpus,
        last_command: None,
        stopped_by: None,
    };
    let mut steps = Vec::new();
    for s in &spec.steps {
        let kind = checker
            .step(s.get_ref())
            .map_err(|(p, span)| at(span.unwrap_or(s.span()), p))?;
        steps.push(Step {
            line: Location::of(path.to_path_buf(), source, s.span()).line,
            kind,
        });
    }
    let explore = match &spec.explore {
        Some(e) => Some(
            e.get_ref()
                .check(&image, steps.len(), vcpus)
                .map_err(|(p, span)| at(span.unwrap_or(e.span()), p.into()))?,
        ),
        None => None,
    };
    Ok(Scenario {
        name: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        path: path.to_path_buf(),
        about: spec.about,
        image,
        boot: Boot {
            vcpus,
            seed: m.seed,
            busy: m.busy,
            cmdline: cmdline.to_string(),
        },
        boot_ns: m.boot.map_or(DEFAULT_BOOT_NS, |b| b.0),
        base,
        steps,
        explore,
    })
}

type Checked<T> = Result<T, (Problem, Option<Range<usize>>)>;

/// Checks steps in order (an expectation looks at the command before it).
struct Checker<'a> {
    image: &'a Image,
    vcpus: u16,
    last_command: Option<Command>,
    /// The detector an earlier step expects to have stopped the machine.
    stopped_by: Option<String>,
}

impl Checker<'_> {
    fn vcpu(&self, v: &Spanned<usize>) -> Checked<usize> {
        let vcpu = *v.get_ref();
        if vcpu >= usize::from(self.vcpus) {
            return Err((
                Problem::NoVcpu {
                    vcpu,
                    vcpus: self.vcpus,
                },
                Some(v.span()),
            ));
        }
        Ok(vcpu)
    }

    fn step(&mut self, s: &StepSpec) -> Checked<StepKind> {
        if let Some(d) = &self.stopped_by {
            let console_only = matches!(s, StepSpec::Expect(e) if e.console_only());
            if !console_only {
                return Err((Problem::AfterDetector(d.clone()), None));
            }
        }
        Ok(match s {
            StepSpec::Command(text, c) => {
                self.last_command = Some(c.clone());
                StepKind::Command(text.clone(), c.clone())
            }
            StepSpec::Inject(i) => self.inject(i)?,
            StepSpec::Hold(v) => StepKind::Hold(self.vcpu(v)?),
            StepSpec::Release(v) => StepKind::Release(self.vcpu(v)?),
            StepSpec::Delay(d) => StepKind::Delay {
                vcpu: self.vcpu(&d.vcpu)?,
                ns: d.duration.0,
            },
            StepSpec::Expect(e) => {
                if e.is_empty() {
                    return Err((Problem::EmptyExpect, None));
                }
                if let Some(d) = &e.detector {
                    let name = d.get_ref();
                    if name != "none" && !DETECTOR_NAMES.contains(&name.as_str()) {
                        return Err((Problem::Detector(name.clone()), Some(d.span())));
                    }
                    if name != "none" {
                        self.stopped_by = Some(name.clone());
                    }
                }
                match &self.last_command {
                    None if e.needs_command() => return Err((Problem::NoCommand, None)),
                    Some(c)
                        if e.guest.is_some()
                            && !matches!(c, Command::Guest { .. } | Command::Hypercall { .. }) =>
                    {
                        return Err((Problem::NotGuest(describe(c)), None))
                    }
                    _ => {}
                }
                StepKind::Expect(e.clone())
            }
        })
    }

    fn inject(&self, i: &InjectSpec) -> Checked<StepKind> {
        let vcpu = self.vcpu(&i.vcpu)?;
        let event = match (i.event, &i.vector) {
            (EventName::Nmi, None) => Event::Nmi,
            (EventName::Mce, None) => Event::Mce,
            (EventName::Ipi, None) => Event::Ipi,
            (EventName::Vector, Some(v)) => Event::Vector(*v.get_ref()),
            (_, v) => return Err((Problem::Vector, v.as_ref().map(Spanned::span))),
        };
        let points = [
            i.at.is_some(),
            i.watch.is_some(),
            i.instructions.is_some(),
            i.after.is_some(),
        ];
        if points.iter().filter(|p| **p).count() > 1 {
            return Err((Problem::TwoPoints, None));
        }
        let of = match &i.of {
            Some(o) if i.at.is_none() && i.watch.is_none() => {
                return Err((Problem::OfWithoutAt, Some(o.span())))
            }
            Some(o) => Some(self.vcpu(o)?),
            None => None,
        };
        if i.watch.is_none() {
            if let Some(span) = i
                .access
                .as_ref()
                .map(Spanned::span)
                .or(i.len.as_ref().map(Spanned::span))
            {
                return Err((Problem::WatchKeys, Some(span)));
            }
        }
        if let Some(v) = &i.visit {
            if i.at.is_none() || *v.get_ref() == 0 {
                return Err((Problem::Visit, Some(v.span())));
            }
        }
        if let Some(w) = &i.watch {
            let (symbol, offset) = self.place(w)?;
            return Ok(StepKind::Inject {
                vcpu,
                event,
                when: When::Watch {
                    symbol,
                    offset,
                    len: i.len.as_ref().map_or(1, |l| *l.get_ref()),
                    write: !matches!(
                        i.access.as_ref().map(Spanned::get_ref),
                        Some(AccessName::Read)
                    ),
                    of,
                },
            });
        }
        let when = if let Some(at) = &i.at {
            let (symbol, offset) = self.place(at)?;
            let symbol = symbol.as_str();
            if !starts_instruction(self.image, symbol, offset) {
                return Err((
                    Problem::MidInstruction {
                        symbol: symbol.to_string(),
                        offset,
                    },
                    Some(at.span()),
                ));
            }
            When::At {
                symbol: symbol.to_string(),
                offset,
                // vCPU `of` reaching it injects into `vcpu`; itself: the
                // target's own trigger.
                of: of.filter(|&o| o != vcpu),
                visit: i.visit.as_ref().map_or(1, |v| *v.get_ref()),
            }
        } else if let Some(n) = i.instructions {
            When::Instructions(n)
        } else if let Some(t) = i.after {
            When::After(t.0)
        } else {
            When::Now
        };
        Ok(StepKind::Inject { vcpu, event, when })
    }
}

impl Checker<'_> {
    /// `SYMBOL[+OFFSET]` inside its symbol.
    fn place(&self, at: &Spanned<String>) -> Checked<(String, u64)> {
        let (symbol, offset) = split_at(at.get_ref())
            .ok_or_else(|| (Problem::At(at.get_ref().clone()), Some(at.span())))?;
        let Some(size) = symbol_size(self.image, symbol) else {
            return Err((Problem::NoSymbol(symbol.to_string()), Some(at.span())));
        };
        if offset >= size.max(1) {
            return Err((
                Problem::Offset {
                    symbol: symbol.to_string(),
                    offset,
                    size,
                },
                Some(at.span()),
            ));
        }
        Ok((symbol.to_string(), offset))
    }
}

/// A command's first words, for messages.
fn describe(c: &Command) -> String {
    match c {
        Command::Guest { .. } => "guest".into(),
        Command::Hypercall { .. } => "hypercall".into(),
        Command::Livepatch(_) => "xen-livepatch".into(),
        Command::Run(_) => "run".into(),
        Command::Dmesg { .. } => "xl dmesg".into(),
        Command::DebugKeys(_) => "xl debug-keys".into(),
        Command::Nothing | Command::Quit => "a comment".into(),
    }
}

/// `SYMBOL` or `SYMBOL+OFFSET` (decimal or 0x hex).
fn split_at(s: &str) -> Option<(&str, u64)> {
    let (sym, off) = match s.rsplit_once('+') {
        Some((sym, off)) => {
            let off = match off.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).ok()?,
                None => off.parse().ok()?,
            };
            (sym, off)
        }
        None => (s, 0),
    };
    (!sym.is_empty() && !sym.contains(char::is_whitespace)).then_some((sym, off))
}
