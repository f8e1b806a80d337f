//! `testbed`: boots mini-xen in the emulated machine, runs shell sessions
//! and scenario files, explores their schedules, replays and minimises
//! what it finds.

mod race;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use scenarios::duration::parse_duration;
use scenarios::machine::{default_image, load_image, Boot, MachineError, Testbed, MAX_VCPUS};
use scenarios::partition::Partition;
use scenarios::shell::{unknown_key, Shell, ShellError};
use scenarios::suite;

#[derive(Parser)]
#[command(
    name = "testbed",
    version,
    about = "Emulated testbed for Xen-style live patching"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// The machine to boot, common to every subcommand.
#[derive(clap::Args)]
struct MachineArgs {
    /// mini-xen ELF (its flat image is PATH.bin); default: the `make image` build.
    #[arg(long)]
    image: Option<PathBuf>,
    /// Number of vCPUs (1 to 64).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=i64::from(MAX_VCPUS)))]
    vcpus: u16,
    /// Scheduler seed.
    #[arg(long)]
    seed: u64,
    /// Hypervisor command line (Xen's `key=value` words).
    #[arg(long, default_value = "")]
    cmdline: String,
}

impl MachineArgs {
    /// Loads the image and builds the machine (not yet running).
    fn machine(&self, busy: bool) -> anyhow::Result<Testbed> {
        let path = self.image.clone().unwrap_or_else(default_image);
        let image = load_image(&path)?;
        let boot = Boot {
            vcpus: self.vcpus,
            seed: self.seed,
            busy,
            cmdline: self.cmdline.clone(),
        };
        Ok(Testbed::new(image, &boot)?)
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Boot mini-xen, run the guests, feed debug keys, print the console.
    Boot {
        #[command(flatten)]
        machine: MachineArgs,
        /// Virtual time to run the guests for (e.g. 50ms, 1s, 200us).
        #[arg(long, default_value = "50ms", value_parser = parse_duration)]
        time: u64,
        /// Debug keys to press after that, as with `xl debug-keys` (any key
        /// the hypervisor registered; `h` lists them).
        #[arg(long, default_value = "")]
        keys: String,
        /// Guests never block: a CPU-bound load.
        #[arg(long)]
        busy: bool,
    },
    /// Boot, then run xen-livepatch / xl / guest commands from a script or stdin.
    Shell {
        #[command(flatten)]
        machine: MachineArgs,
        /// Commands, one per line (default: standard input).
        #[arg(long)]
        script: Option<PathBuf>,
        /// A failing command reports its status and the script goes on;
        /// the session's exit status is the worst one.
        #[arg(long)]
        keep_going: bool,
    },
    /// Run scenario files once each; exit 0 when every expectation held,
    /// 1 when one failed, 2 for a bad file (then nothing runs).
    Run {
        /// Scenario files (`scenarios/*.toml`).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Write a JUnit XML report here.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Run only share I of N (CI matrices): files sorted by path,
        /// every N-th from the I-th.
        #[arg(long)]
        partition: Option<Partition>,
        /// Words added after each scenario's own `cmdline`.
        #[arg(long)]
        cmdline: Option<String>,
        /// Scenarios run at once (default: one per core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Print each scenario's transcript.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Measure patched call paths: guest instructions and virtual time per
    /// hypercall, unpatched, patched (same-size, NOP, stacked, REPLACE,
    /// shipped patches) and reverted.
    Callpath {
        /// mini-xen ELF; default: the `make image` build.
        #[arg(long)]
        image: Option<PathBuf>,
        /// Number of vCPUs (1 to 64).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=i64::from(MAX_VCPUS)))]
        vcpus: u16,
        /// Calls per state.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
        calls: u64,
        /// Payload build directory (test/ and patches/ under it).
        #[arg(long)]
        payloads: Option<PathBuf>,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
        /// Also write a bar chart (SVG) here.
        #[arg(long)]
        svg: Option<PathBuf>,
    },
    /// Explore schedules of scenario files; on each distinct failure write
    /// a replay file. Exit 0 nothing found, 1 failures found, 2 usage.
    Explore(race::ExploreArgs),
    /// Run a replay file again: print the failure and the digest; exit 0
    /// when both were reproduced exactly, 1 when the run diverged.
    Replay {
        /// A replay file written by `explore` or `minimise`.
        file: PathBuf,
        /// Draw the run's timeline here (SVG).
        #[arg(long)]
        timeline: Option<PathBuf>,
    },
    /// Delta-debug a replay file's injections and forced preemptions down
    /// to the fewest that give the same failure at the same place.
    Minimise {
        /// A replay file.
        file: PathBuf,
        /// The minimised replay file.
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// Virtual time the shell lets mini-xen boot before the first command.
const SHELL_BOOT_NS: u64 = 5_000_000;

fn shell(
    machine: &MachineArgs,
    script: Option<PathBuf>,
    keep_going: bool,
) -> anyhow::Result<ExitCode> {
    use std::io::BufRead;
    let mut m = machine.machine(false)?;
    let booted = m.run_for(SHELL_BOOT_NS);
    let mut sh = Shell::new(m, std::io::stdout().lock());
    if let Err(e) = booted {
        return finish(&mut sh, Err(e.into()));
    }
    use std::io::{IsTerminal, Write};
    // A script is read whole; standard input line by line, so a person can
    // type at a prompt and see each answer before the next command.
    let interactive = script.is_none() && std::io::stdin().is_terminal();
    let mut lines: Box<dyn Iterator<Item = std::io::Result<String>>> = match &script {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| anyhow::anyhow!("cannot read script {}: {e}", p.display()))?;
            Box::new(
                text.lines()
                    .map(|l| Ok(l.to_string()))
                    .collect::<Vec<_>>()
                    .into_iter(),
            )
        }
        None => Box::new(std::io::stdin().lock().lines()),
    };
    let mut worst = 0u8;
    loop {
        if interactive {
            write!(sh.output(), "testbed> ")?;
            sh.output().flush()?;
        }
        let Some(line) = lines.next() else { break };
        let line = line?;
        if script.is_some() && !line.trim().is_empty() {
            if line.trim_start().starts_with('#') {
                writeln!(sh.output(), "{line}")?;
            } else {
                writeln!(sh.output(), "$ {line}")?;
            }
        }
        match sh.exec_line(&line) {
            Ok(None) => break,
            Ok(Some(o)) if o.status == 0 => {}
            // At a prompt (or with --keep-going) a failed command is
            // reported and the session goes on.
            Ok(Some(o)) if !interactive && !keep_going => {
                return Ok(ExitCode::from(o.status as u8))
            }
            Ok(Some(o)) => worst = worst.max(o.status as u8),
            Err(e) => return finish(&mut sh, Err(e)),
        }
    }
    match finish(&mut sh, Ok(()))? {
        c if c == ExitCode::SUCCESS => Ok(ExitCode::from(worst)),
        c => Ok(c),
    }
}

/// Ends a shell session: a crash prints the console and the report (exit 3).
fn finish<W: std::io::Write>(
    sh: &mut Shell<W>,
    result: Result<(), ShellError>,
) -> anyhow::Result<ExitCode> {
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(ShellError::Machine(MachineError::Crash(c))) => {
            let console = String::from_utf8_lossy(sh.machine().console()).into_owned();
            write!(sh.output(), "{console}{c}")?;
            Ok(ExitCode::from(3))
        }
        Err(e) => Err(e.into()),
    }
}

/// Virtual time between two debug keys, so each one's output completes.
const KEY_GAP_NS: u64 = 2_000_000;

fn boot(machine: &MachineArgs, time: u64, keys: &str, busy: bool) -> anyhow::Result<ExitCode> {
    let mut m = machine.machine(busy)?;
    let mut result = m.run_for(time);
    if result.is_ok() {
        // The keys the hypervisor registered, known once it has booted.
        if let Some(why) = unknown_key(keys, &m.debug_keys()?) {
            eprintln!("testbed: {why}");
            return Ok(ExitCode::from(2));
        }
    }
    for k in keys.bytes() {
        if result.is_err() {
            break;
        }
        m.send_input(&[k]);
        result = m.run_for(KEY_GAP_NS);
    }
    print!("{}", String::from_utf8_lossy(m.console()));
    match result {
        Ok(()) => {
            println!("digest: {}", m.digest()?);
            Ok(ExitCode::SUCCESS)
        }
        Err(MachineError::Crash(c)) => {
            print!("{c}");
            Ok(ExitCode::from(3))
        }
        Err(e) => Err(e.into()),
    }
}

/// `testbed run`: exit 0 all passed, 1 a failure, 2 a bad file.
fn run(
    files: &[PathBuf],
    junit: Option<PathBuf>,
    partition: Option<Partition>,
    cmdline: Option<&str>,
    jobs: Option<usize>,
    verbose: bool,
) -> anyhow::Result<ExitCode> {
    // `scenarios/*.toml` also matches the crate's manifest beside them.
    let (manifests, files): (Vec<PathBuf>, Vec<PathBuf>) = files
        .iter()
        .cloned()
        .partition(|f| f.file_name().is_some_and(|n| n == "Cargo.toml"));
    for m in &manifests {
        eprintln!(
            "testbed: skipping {}: a Cargo manifest, not a scenario",
            m.display()
        );
    }
    let scenarios = match suite::load_all(&files, partition, cmdline) {
        Ok(s) => s,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            eprintln!(
                "testbed: {} bad scenario file(s); nothing was run",
                errors.len()
            );
            return Ok(ExitCode::from(2));
        }
    };
    let reports = suite::run_all(&scenarios, jobs)?;
    let mut failed = 0;
    for r in &reports {
        println!("{}", suite::summary(r));
        for f in &r.failures {
            println!("    {f}");
        }
        if verbose || !r.passed() && r.failures.iter().any(is_machine) {
            for l in r.transcript.lines() {
                println!("    | {l}");
            }
        }
        failed += usize::from(!r.passed());
    }
    println!("{} passed, {failed} failed", reports.len() - failed);
    if let Some(path) = junit {
        let named: Vec<(String, scenarios::runner::Report)> = scenarios
            .iter()
            .map(|s| s.path.display().to_string())
            .zip(reports)
            .collect();
        let xml = scenarios::junit::report("scenarios", &named).to_string()?;
        std::fs::write(&path, xml)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn is_machine(f: &scenarios::runner::Failure) -> bool {
    matches!(f, scenarios::runner::Failure::Machine { .. })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Boot {
            machine,
            time,
            keys,
            busy,
        } => boot(&machine, time, &keys, busy),
        Cmd::Shell {
            machine,
            script,
            keep_going,
        } => shell(&machine, script, keep_going),
        Cmd::Run {
            files,
            junit,
            partition,
            cmdline,
            jobs,
            verbose,
        } => run(&files, junit, partition, cmdline.as_deref(), jobs, verbose),
        Cmd::Callpath {
            image,
            vcpus,
            calls,
            payloads,
            json,
            svg,
        } => {
            let opts = scenarios::callpath::Options {
                vcpus,
                calls,
                payloads: payloads.unwrap_or_else(scenarios::callpath::default_payloads),
            };
            let image = image.unwrap_or_else(default_image);
            scenarios::callpath::command(&image, &opts, json, svg.as_deref())
                .map(|out| {
                    print!("{out}");
                    ExitCode::SUCCESS
                })
                .map_err(Into::into)
        }
        Cmd::Explore(args) => race::explore(&args),
        Cmd::Replay { file, timeline } => race::replay(&file, timeline.as_deref()),
        Cmd::Minimise { file, output } => race::minimise(&file, &output),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("testbed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
