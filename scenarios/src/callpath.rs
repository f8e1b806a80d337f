//! `testbed callpath`: what a live patch costs on the call path, counted
//! exactly in the emulated machine.
//!
//! For each call path (a hypercall whose handler reaches a function that a
//! test payload or a shipped patch replaces, and `callpath_leaf`, a leaf
//! added for this), one domain issues the hypercall many times in a ring-3
//! loop (`MBOX_OP_REPEAT`) while every vCPU is single-stepped. Every
//! instruction its vCPU retires (the machine's own per-vCPU count, so
//! other vCPUs and the host do not disturb it) is attributed to one of:
//! the patch site while it holds a `jmp`; the function's *body* (the
//! original, a NOP-patched original, or any payload text); or the
//! hypervisor function it lies in. A call is the `int $0x82` through its
//! return to ring 3. A call that an asynchronous interrupt, another guest
//! or a coarse slot got into is dropped (and counted as dropped).
//!
//! The difference to the unpatched path is then fully explained by those
//! parts: `Δ = jmp + (body − original body) + Σ elsewhere`, the last being
//! every hypervisor function that ran a different number of instructions
//! (a replacement that returns a longer string makes `strlcpy` run
//! longer). For a same-size replacement that is `Δ = jmp = 1`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::machine::{
    self, first_int, function_at, mailbox_buf, nr, Action, Boot, Image, ImageError, LivepatchError,
    MachineError, Step, Testbed, DEFAULT_TIMEOUT_NS, LIVEPATCH_BASE, LIVEPATCH_SIZE,
    XENMEM_WRITE_WORD, XENVER_CALLPATH, XENVER_EXTRAVERSION, XENVER_VERSION,
};

/// Errors of `testbed callpath`.
#[derive(Debug, thiserror::Error)]
pub enum CallpathError {
    /// The machine failed.
    #[error(transparent)]
    Machine(#[from] MachineError),
    /// A live-patch operation could not be issued.
    #[error(transparent)]
    Livepatch(#[from] LivepatchError),
    /// A payload file could not be read.
    #[error("cannot read payload {path}: {source} (run `make build` and `make patch-payloads`)")]
    Payload {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A live-patch action failed.
    #[error("{action} {name}: rc {rc}")]
    Action {
        /// What was done.
        action: &'static str,
        /// The payload.
        name: String,
        /// The sysctl's or the action's rc.
        rc: i64,
    },
    /// The image lacks a symbol the measurement needs.
    #[error("no {0} in the image (rebuild it: `make image`)")]
    Symbol(&'static str),
    /// No call could be measured: every one was disturbed.
    #[error("{path}, {state}: all {calls} calls were disturbed (interrupts or other guests)")]
    NoCleanCall {
        /// The call path.
        path: &'static str,
        /// The state.
        state: String,
        /// Calls issued.
        calls: u64,
    },
    /// JSON output failed.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// The image could not be loaded.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The chart could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// What to measure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// vCPUs of the machine.
    pub vcpus: u16,
    /// Calls per state.
    pub calls: u64,
    /// `payloads/build`: test payloads in `test/`, shipped patches in
    /// `patches/NAME/NAME.livepatch`.
    pub payloads: PathBuf,
}

/// The payload build directory of this tree.
pub fn default_payloads() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../payloads/build")
}

/// The domain that issues the calls (a plain guest, not dom0).
const DOMID: u32 = 1;

/// The argument of `XENVER_callpath`.
const LEAF_ARG: u64 = 7;

/// Virtual time mini-xen boots before the first measurement.
const BOOT_NS: u64 = 5_000_000;

/// Label of the patch site's `jmp` in a profile.
const JMP: &str = "(jmp at the patch site)";
/// Label of the function's own instructions (original, NOP-patched, or
/// payload text) in a profile.
const BODY: &str = "(body)";

/// One measured state of one call path.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Row {
    /// The call path (the hypercall and the function patched).
    pub path: &'static str,
    /// The function patched.
    pub function: &'static str,
    /// The state: what is applied.
    pub state: String,
    /// Calls that counted.
    pub calls: u64,
    /// Calls dropped (an interrupt or another guest ran inside them).
    pub dropped: u64,
    /// Retired instructions per call, `int $0x82` to the return to ring 3.
    pub insns: f64,
    /// Whether every counted call retired the same number.
    pub exact: bool,
    /// Virtual time per call, in ns.
    pub ns: f64,
    /// The patch site's `jmp` per call.
    pub jmp: f64,
    /// The function's own instructions per call (payload text when it is
    /// replaced).
    pub body: f64,
    /// Instructions per call in each other function.
    #[serde(skip)]
    pub elsewhere: BTreeMap<String, f64>,
    /// The hypercall's result (the last call's).
    pub rc: i64,
}

/// A row compared with its path's unpatched row.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Compared {
    /// The row.
    #[serde(flatten)]
    pub row: Row,
    /// Instructions per call minus the unpatched path's.
    pub delta: f64,
    /// The unpatched body.
    pub body_before: f64,
    /// Functions outside the body whose count changed, with the change.
    pub elsewhere_delta: Vec<(String, f64)>,
}

/// A step of a path's script.
enum Op {
    /// Upload and apply a payload (`test/NAME` or `patches/NAME`).
    Load(&'static str),
    /// Upload a payload.
    Upload(&'static str),
    /// Apply a loaded payload.
    Apply(&'static str),
    /// REPLACE with a loaded payload.
    Replace(&'static str),
    /// Revert an applied payload.
    Revert(&'static str),
    /// Measure, naming the state.
    Measure(&'static str),
}

/// A call path: the hypercall, the function patched, and what is done.
struct Spec {
    path: &'static str,
    function: &'static str,
    op: u64,
    args: [u64; 3],
    /// Starts the mailbox buffer.
    data: Vec<u8>,
    script: Vec<Op>,
}

fn specs() -> Vec<Spec> {
    use Op::*;
    let buf = mailbox_buf(DOMID);
    // struct xen_memory_write_word { offset, value }: an aligned offset.
    let mut ww = 0u64.to_le_bytes().to_vec();
    ww.extend_from_slice(&0x5eedu64.to_le_bytes());
    // XENVER_extraversion, as each payload that replaces it sees it.
    let extraversion = |script| Spec {
        path: "XENVER_extraversion",
        function: "xen_extra_version",
        op: nr::XEN_VERSION,
        args: [XENVER_EXTRAVERSION, buf, 0],
        data: Vec::new(),
        script,
    };
    vec![
        Spec {
            path: "XENVER_callpath",
            function: "callpath_leaf",
            op: nr::XEN_VERSION,
            args: [XENVER_CALLPATH, LEAF_ARG, 0],
            data: Vec::new(),
            script: vec![
                Measure("unpatched"),
                Load("test/xen_callpath_same"),
                Measure("same-size (xen_callpath_same)"),
                Revert("xen_callpath_same"),
                Load("test/xen_callpath_nop"),
                Measure("NOP (xen_callpath_nop)"),
                Revert("xen_callpath_nop"),
                Apply("xen_callpath_same"),
                Load("test/xen_callpath_stack"),
                Measure("stacked (+ xen_callpath_stack)"),
                Upload("test/xen_callpath_replace"),
                Replace("xen_callpath_replace"),
                Measure("REPLACE (xen_callpath_replace)"),
                Revert("xen_callpath_replace"),
                Measure("reverted"),
            ],
        },
        extraversion(vec![
            Measure("unpatched"),
            // Under xen_bye_world, which is what the calls reach;
            // measured alone below.
            Load("test/xen_hello_world"),
            Load("test/xen_bye_world"),
            Measure("stacked (+ xen_bye_world)"),
            Upload("test/xen_replace_world"),
            Replace("xen_replace_world"),
            Measure("REPLACE (xen_replace_world)"),
            Revert("xen_replace_world"),
            Measure("reverted"),
            Load("patches/lp-extraversion"),
            Measure("shipped (lp-extraversion)"),
            Revert("lp-extraversion"),
            Measure("reverted"),
        ]),
        // Machines of their own, compared with the unpatched row above:
        // above, xen_hello_world was stacked on and replaced (with data of
        // its own it cannot apply again), and xen_hooks replaces the same
        // function. (Its replacement's #GP and xen_hooks' WARN() no longer
        // stall a machine that single-stepped before: ARCHITECTURE.md.)
        extraversion(vec![
            Load("test/xen_hello_world"),
            Measure("replaced (xen_hello_world)"),
        ]),
        extraversion(vec![
            Load("test/xen_hooks"),
            Measure("replaced (xen_hooks)"),
        ]),
        Spec {
            path: "XENVER_version",
            function: "xen_minor_version",
            op: nr::XEN_VERSION,
            args: [XENVER_VERSION, 0, 0],
            data: Vec::new(),
            script: vec![
                Measure("unpatched"),
                Load("test/xen_nop"),
                Measure("NOP (xen_nop)"),
                Revert("xen_nop"),
                Measure("reverted"),
            ],
        },
        Spec {
            path: "XENMEM_write_word",
            function: "do_memory_op",
            op: nr::MEMORY_OP,
            args: [XENMEM_WRITE_WORD, buf, 0],
            data: ww,
            script: vec![
                Measure("unpatched"),
                Load("patches/xsa-write-word-align"),
                Measure("shipped (xsa-write-word-align)"),
                Revert("xsa-write-word-align"),
                Measure("reverted"),
            ],
        },
    ]
}

/// Where a payload named in a script lies: `test/NAME` or
/// `patches/NAME`.
fn payload_file(dir: &Path, what: &str) -> (String, PathBuf) {
    match what.split_once('/') {
        Some(("patches", name)) => (
            name.to_string(),
            dir.join("patches")
                .join(name)
                .join(format!("{name}.livepatch")),
        ),
        _ => {
            let name = what.rsplit('/').next().unwrap_or(what);
            (
                name.to_string(),
                dir.join("test").join(format!("{name}.livepatch")),
            )
        }
    }
}

fn act(t: &mut Testbed, name: &str, action: Action) -> Result<(), CallpathError> {
    let label = match action {
        Action::Apply => "apply",
        Action::Revert => "revert",
        Action::Replace => "replace",
        Action::Unload => "unload",
    };
    let (rc, status) = t.action_and_settle(name, action, DEFAULT_TIMEOUT_NS, 0)?;
    let rc = match status {
        Some(Ok(s)) if rc == 0 => i64::from(s.rc),
        Some(Err(e)) if rc == 0 => e,
        _ => rc,
    };
    if rc != 0 {
        return Err(CallpathError::Action {
            action: label,
            name: name.to_string(),
            rc,
        });
    }
    Ok(())
}

fn upload(t: &mut Testbed, dir: &Path, what: &str) -> Result<String, CallpathError> {
    let (name, path) = payload_file(dir, what);
    let bytes = std::fs::read(&path).map_err(|source| CallpathError::Payload { path, source })?;
    let rc = t.upload(&name, &bytes)?;
    if rc != 0 {
        return Err(CallpathError::Action {
            action: "upload",
            name,
            rc,
        });
    }
    Ok(name)
}

/// The calls of one measurement, as they are counted.
struct Tally<'a> {
    image: &'a Image,
    /// `int $0x82` of the guest's loop, and the instruction after it.
    int_at: u64,
    /// The function: start, size; and whether its first byte is a `jmp`.
    func: (u64, u64),
    jmp: bool,
    /// The vCPU running the loop, once seen.
    vcpu: Option<usize>,
    /// The call in progress: its profile, instructions, start time, clean.
    cur: Option<(BTreeMap<String, u64>, u64, u64, bool)>,
    /// Counted calls: summed profile, instructions of each, time of each.
    sum: BTreeMap<String, u64>,
    counts: Vec<u64>,
    times: Vec<u64>,
    dropped: u64,
}

impl Tally<'_> {
    fn label(&self, rip: u64) -> String {
        let (start, size) = self.func;
        if (start..start + size).contains(&rip) {
            if self.jmp && rip == start {
                JMP.to_string()
            } else {
                BODY.to_string()
            }
        } else if (LIVEPATCH_BASE..LIVEPATCH_BASE + LIVEPATCH_SIZE).contains(&rip) {
            BODY.to_string()
        } else {
            match function_at(self.image, rip) {
                Some(name) => name.to_string(),
                None => format!("{rip:#x}"),
            }
        }
    }

    fn step(&mut self, s: &Step) {
        if self.vcpu.is_none() && s.rip == self.int_at {
            self.vcpu = Some(s.vcpu);
        }
        if self.vcpu != Some(s.vcpu) {
            return;
        }
        if s.rip == self.int_at + 2 {
            // The instruction after the int: the call has returned.
            if let Some((profile, n, start, clean)) = self.cur.take() {
                if clean {
                    for (k, v) in profile {
                        *self.sum.entry(k).or_default() += v;
                    }
                    self.counts.push(n);
                    self.times.push(s.now.saturating_sub(start));
                } else {
                    self.dropped += 1;
                }
            }
            return;
        }
        if s.rip == self.int_at {
            self.cur = Some((BTreeMap::new(), 0, s.now, true));
        }
        let label = self.label(s.rip);
        if let Some((profile, n, _, clean)) = self.cur.as_mut() {
            // Ring-3 code other than the int is another guest's.
            if s.irq || s.n != 1 || (s.user && s.rip != self.int_at) {
                *clean = false;
            }
            *profile.entry(label).or_default() += s.n;
            *n += s.n;
        }
    }
}

fn measure(t: &mut Testbed, spec: &Spec, state: &str, calls: u64) -> Result<Row, CallpathError> {
    let image = t.image().clone();
    let int_at = first_int(&image, "guest_repeat").ok_or(CallpathError::Symbol("guest_repeat"))?;
    let sym = image
        .symbols
        .get(spec.function)
        .ok_or(CallpathError::Symbol(spec.function))?;
    let func = (sym.addr, sym.size);
    let mut first = [0u8; 1];
    t.read(func.0, &mut first)?;
    let mut tally = Tally {
        image: &image,
        int_at,
        func,
        jmp: first[0] == 0xe9,
        vcpu: None,
        cur: None,
        sum: BTreeMap::new(),
        counts: Vec::new(),
        times: Vec::new(),
        dropped: 0,
    };
    let rc = t.repeat_traced(DOMID, calls, spec.op, spec.args, &spec.data, |s| {
        tally.step(s)
    })?;
    let n = tally.counts.len() as u64;
    if n == 0 {
        return Err(CallpathError::NoCleanCall {
            path: spec.path,
            state: state.to_string(),
            calls,
        });
    }
    let per = |v: u64| v as f64 / n as f64;
    let mut elsewhere: BTreeMap<String, f64> = tally
        .sum
        .iter()
        .map(|(k, &v)| (k.clone(), per(v)))
        .collect();
    let jmp = elsewhere.remove(JMP).unwrap_or(0.0);
    let body = elsewhere.remove(BODY).unwrap_or(0.0);
    Ok(Row {
        path: spec.path,
        function: spec.function,
        state: state.to_string(),
        calls: n,
        dropped: tally.dropped,
        insns: per(tally.counts.iter().sum()),
        exact: tally.counts.iter().all(|&c| c == tally.counts[0]),
        ns: per(tally.times.iter().sum()),
        jmp,
        body,
        elsewhere,
        rc,
    })
}

/// Boots a machine per call path and measures each state of its script.
pub fn run(image: &Image, opts: &Options) -> Result<Vec<Compared>, CallpathError> {
    let boot = Boot {
        vcpus: opts.vcpus,
        seed: 1,
        busy: false,
        cmdline: String::new(),
    };
    let mut out = Vec::new();
    // The unpatched row of each path, measured first.
    let mut bases: BTreeMap<&'static str, Row> = BTreeMap::new();
    for spec in specs() {
        let mut t = Testbed::new(image.clone(), &boot)?;
        t.run_for(BOOT_NS)?;
        for op in &spec.script {
            match op {
                Op::Load(what) => {
                    let name = upload(&mut t, &opts.payloads, what)?;
                    act(&mut t, &name, Action::Apply)?;
                }
                Op::Upload(what) => {
                    upload(&mut t, &opts.payloads, what)?;
                }
                Op::Apply(name) => act(&mut t, name, Action::Apply)?,
                Op::Replace(name) => act(&mut t, name, Action::Replace)?,
                Op::Revert(name) => act(&mut t, name, Action::Revert)?,
                Op::Measure(state) => {
                    let row = measure(&mut t, &spec, state, opts.calls)?;
                    let b = bases.entry(spec.path).or_insert_with(|| row.clone());
                    out.push(compare(b, row));
                }
            }
        }
    }
    Ok(out)
}

fn compare(base: &Row, row: Row) -> Compared {
    let mut names: Vec<&String> = base.elsewhere.keys().chain(row.elsewhere.keys()).collect();
    names.sort();
    names.dedup();
    let elsewhere_delta = names
        .into_iter()
        .filter_map(|k| {
            let d = row.elsewhere.get(k).copied().unwrap_or(0.0)
                - base.elsewhere.get(k).copied().unwrap_or(0.0);
            (d != 0.0).then(|| (k.clone(), d))
        })
        .collect();
    Compared {
        delta: row.insns - base.insns,
        body_before: base.body,
        elsewhere_delta,
        row,
    }
}

/// A count per call: an integer when it is one.
fn num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn signed(v: f64) -> String {
    if v > 0.0 {
        format!("+{}", num(v))
    } else {
        num(v)
    }
}

/// Why a row differs from its unpatched row: `jmp + body change +
/// elsewhere`, each part named.
pub fn explain(c: &Compared) -> String {
    let r = &c.row;
    let mut parts = Vec::new();
    if r.jmp != 0.0 {
        parts.push(format!("jmp {}", signed(r.jmp)));
    }
    if r.body != c.body_before {
        parts.push(format!(
            "body {} -> {} ({})",
            num(c.body_before),
            num(r.body),
            signed(r.body - c.body_before)
        ));
    }
    for (k, d) in &c.elsewhere_delta {
        parts.push(format!("{k} {}", signed(*d)));
    }
    if parts.is_empty() {
        "-".to_string()
    } else {
        parts.join(", ")
    }
}

/// The table, one line per measured state.
pub fn table(rows: &[Compared]) -> String {
    let head = [
        "path",
        "function",
        "state",
        "calls",
        "insns/call",
        "Δ",
        "jmp",
        "body",
        "ns/call",
        "rc",
        "why Δ",
    ];
    let cells: Vec<[String; 11]> = rows
        .iter()
        .map(|c| {
            let r = &c.row;
            [
                r.path.to_string(),
                r.function.to_string(),
                r.state.clone(),
                if r.dropped > 0 {
                    format!("{} (+{} dropped)", r.calls, r.dropped)
                } else {
                    r.calls.to_string()
                },
                format!("{}{}", num(r.insns), if r.exact { "" } else { " ~" }),
                signed(c.delta),
                num(r.jmp),
                num(r.body),
                num(r.ns),
                format!("{:#x}", r.rc),
                explain(c),
            ]
        })
        .collect();
    let mut width = head.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cols: &[String]| {
        let mut l = String::from("|");
        for (c, w) in cols.iter().zip(width) {
            let pad = w - c.chars().count();
            let _ = write!(l, " {c}{} |", " ".repeat(pad));
        }
        out.push_str(&l);
        out.push('\n');
    };
    line(&mut out, &head.map(String::from));
    line(&mut out, &width.map(|w| "-".repeat(w)));
    for row in &cells {
        line(&mut out, row);
    }
    out
}

/// The rows as JSON (one object per row; `elsewhere_delta` as pairs).
pub fn json(rows: &[Compared]) -> Result<String, CallpathError> {
    Ok(serde_json::to_string_pretty(rows)?)
}

/// A bar chart of instructions per call, one group per call path, one bar
/// per state, labelled with the difference to the unpatched path.
pub fn svg(rows: &[Compared]) -> String {
    const BAR: f64 = 18.0;
    const GAP: f64 = 10.0;
    const LEFT: f64 = 330.0;
    const WIDTH: f64 = 420.0;
    let max = rows.iter().map(|c| c.row.insns).fold(1.0, f64::max);
    let mut y = 40.0;
    let mut body = String::new();
    let mut last_path = "";
    for c in rows {
        let r = &c.row;
        if r.path != last_path {
            y += GAP;
            let _ = writeln!(
                body,
                r#"<text x="8" y="{:.0}" font-weight="bold">{} → {}</text>"#,
                y + 12.0,
                r.path,
                r.function
            );
            y += BAR + 4.0;
            last_path = r.path;
        }
        let w = WIDTH * r.insns / max;
        let colour = if c.delta == 0.0 { "#8da0cb" } else { "#fc8d62" };
        let _ = writeln!(
            body,
            r#"<text x="{:.0}" y="{:.0}" text-anchor="end">{}</text><rect x="{LEFT}" y="{y:.0}" width="{w:.1}" height="{:.0}" fill="{colour}"/><text x="{:.1}" y="{:.0}">{} ({})</text>"#,
            LEFT - 6.0,
            y + 13.0,
            escape(&r.state),
            BAR - 2.0,
            LEFT + w + 4.0,
            y + 13.0,
            num(r.insns),
            signed(c.delta),
        );
        y += BAR;
    }
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{:.0}" height="{:.0}" font-family="sans-serif" font-size="12">
<text x="8" y="20" font-size="14" font-weight="bold">Guest instructions per hypercall (int $0x82 to return), testbed callpath</text>
{body}</svg>
"#,
        LEFT + WIDTH + 120.0,
        y + 20.0
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `testbed callpath`: loads the image, measures, returns the text to
/// print (the table, or JSON).
pub fn command(
    image_path: &Path,
    opts: &Options,
    as_json: bool,
    svg_out: Option<&Path>,
) -> Result<String, CallpathError> {
    let image = machine::load_image(image_path)?;
    let rows = run(&image, opts)?;
    if let Some(p) = svg_out {
        std::fs::write(p, svg(&rows)).map_err(|source| CallpathError::Write {
            path: p.to_path_buf(),
            source,
        })?;
    }
    Ok(if as_json {
        json(&rows)? + "\n"
    } else {
        format!(
            "{} calls per state from d{DOMID}'s ring-3 loop on {} vCPU(s); instructions from the machine's per-vCPU retired counts\n\n{}",
            opts.calls,
            opts.vcpus,
            table(&rows)
        )
    })
}
