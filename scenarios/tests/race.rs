//! `testbed explore`, `replay` and `minimise` end to end, in separate
//! processes as a user runs them: a failure found is written as a replay
//! file, reproduced with its digest twice, minimised to no more events,
//! and a replay that no longer matches says where it left the record.

mod common;

use std::path::{Path, PathBuf};

use common::{cases, junit, payload_path, stdout, testbed, tmp, write};

/// A scenario with NMIs and an MCE around an apply and a revert, whose
/// last expectation fails in every schedule (vCPU 3 takes 3 NMIs, it
/// expects 9): the race tools' plumbing on the real machine, with
/// injections minimisation can take out.
fn failing(dir: &Path) -> String {
    let hello = payload_path("xen_hello_world");
    write(
        dir,
        "always-fails.toml",
        &format!(
            r#"version = 1
machine = {{ vcpus = 4, seed = 3 }}
steps = [
    "xen-livepatch upload xen_hello_world {hello}",
    {{ inject = {{ event = "nmi", vcpu = 1, at = "livepatch.c#do_livepatch_work" }} }},
    {{ inject = {{ event = "nmi", vcpu = 1, at = "arch_livepatch_apply", of = 0 }} }},
    {{ inject = {{ event = "mce", vcpu = 2, at = "livepatch.c#do_livepatch_work" }} }},
    {{ inject = {{ event = "nmi", vcpu = 3, at = "livepatch.c#do_livepatch_work" }} }},
    "xen-livepatch apply xen_hello_world",
    {{ expect = {{ status = 0, list = {{ xen_hello_world = "APPLIED" }} }} }},
    "xl debug-keys n",
    {{ expect = {{ console = "^\\(XEN\\) +3\t +9\t +0$" }} }},
]

[explore]
strategy = "bounded"
preemptions = 1
runs = 8
fork = 2
windows = [ {{ symbol = "arch_livepatch_apply" }} ]
"#,
            hello = hello.display()
        ),
    )
}

fn replay_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("out dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".replay.toml"))
        .collect();
    v.sort();
    v
}

fn digest_line(out: &str) -> String {
    out.lines()
        .find(|l| l.starts_with("digest: "))
        .unwrap_or_default()
        .to_string()
}

fn field(file: &Path, key: &str) -> String {
    let text = std::fs::read_to_string(file).expect("replay file");
    let v: toml::Value = toml::from_str(&text).expect("replay file parses");
    v.get(key).map(ToString::to_string).unwrap_or_default()
}

#[test]
fn a_failure_is_found_replayed_twice_and_minimised() {
    let dir = tmp("race-found");
    let scenario = failing(&dir);
    let out = dir.join("out");
    let xml = dir.join("explore.xml");
    let o = testbed(&[
        "explore",
        &scenario,
        "--jobs",
        "2",
        "-q",
        "--out",
        &out.display().to_string(),
        "--junit",
        &xml.display().to_string(),
    ]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("1 distinct"), "{text}");
    let files = replay_files(&out);
    assert_eq!(files.len(), 1, "{text}");
    let file = files[0].display().to_string();
    // The JUnit report: the scenario and its failing schedule, with the
    // replay file named.
    let c = cases(&junit(&xml));
    assert_eq!(c.len(), 2, "{c:?}");
    assert!(c.iter().all(|(_, passed)| !passed), "{c:?}");
    assert!(c[1].0.contains("expect-console@step9"), "{c:?}");
    // Two processes reproduce the recorded digest.
    let recorded = format!("digest: {}", field(&files[0], "digest").trim_matches('"'));
    for _ in 0..2 {
        let r = testbed(&["replay", &file]);
        let t = stdout(&r);
        assert_eq!(r.status.code(), Some(0), "{t}");
        assert_eq!(digest_line(&t), recorded, "{t}");
        assert!(t.contains("reproduced: expect-console@step9"), "{t}");
    }
    // Minimised: the injections do not matter to this failure.
    let min = dir.join("min.replay.toml").display().to_string();
    let m = testbed(&["minimise", &file, "-o", &min]);
    let mt = stdout(&m);
    assert_eq!(m.status.code(), Some(0), "{mt}");
    assert!(mt.starts_with("0 of 4 events remain"), "{mt}");
    assert_eq!(field(Path::new(&min), "skip"), "[2, 3, 4, 5]");
    let r = testbed(&["replay", &min]);
    assert_eq!(r.status.code(), Some(0), "{}", stdout(&r));
}

#[test]
fn a_replay_that_leaves_the_record_says_where() {
    let dir = tmp("race-diverged");
    let scenario = failing(&dir);
    let out = dir.join("out");
    let o = testbed(&[
        "explore",
        &scenario,
        "--runs",
        "1",
        "-q",
        "--out",
        &out.display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let file = replay_files(&out).remove(0);
    let text = std::fs::read_to_string(&file).expect("replay file");
    // Another schedule trace in the second run of the log.
    let key = "\"trace\": ";
    let second = text.match_indices(key).nth(1).expect("two runs").0 + key.len();
    let digits = text[second..]
        .find(|c: char| !c.is_ascii_digit())
        .expect("a number");
    let tampered = format!("{}12345{}", &text[..second], &text[second + digits..]);
    assert_ne!(tampered, text);
    let bad = dir.join("tampered.replay.toml");
    std::fs::write(&bad, tampered).expect("write");
    let r = testbed(&["replay", &bad.display().to_string()]);
    let t = stdout(&r);
    assert_eq!(r.status.code(), Some(1), "{t}");
    assert!(t.contains("diverged at schedule log entry"), "{t}");
    // A changed scenario is refused before anything runs.
    let s = std::fs::read_to_string(&scenario).expect("scenario");
    std::fs::write(&scenario, s.replace("seed = 3", "seed = 4")).expect("write");
    let r = testbed(&["replay", &file.display().to_string()]);
    let e = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{e}");
    assert!(e.contains("changed since the failure was recorded"), "{e}");
}

#[test]
fn explore_usage_errors_exit_2() {
    let dir = tmp("race-usage");
    let plain = write(
        &dir,
        "plain.toml",
        "version = 1\nmachine = { vcpus = 1, seed = 1 }\nsteps = [\"run 1ms\"]\n",
    );
    let o = testbed(&["explore", &plain, "-q"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("give --strategy and --runs"));
    let o = testbed(&["explore", &plain, "--strategy", "dfs", "--runs", "1"]);
    assert_eq!(o.status.code(), Some(2));
    let o = testbed(&[
        "replay",
        &dir.join("none.replay.toml").display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn partitions_split_the_schedules_exactly() {
    use scenarios::explore::Strategy as Family;
    use scenarios::partition::Partition;
    use scenarios::scenario::{load, Images};
    use scenarios::search::{explore, Plan};
    use std::sync::atomic::AtomicBool;
    let dir = tmp("race-partition");
    let s = load(Path::new(&failing(&dir)), &mut Images::default()).expect("loads");
    let plan = |partition| Plan {
        family: Family::Random,
        seed: 7,
        runs: 7,
        time: None,
        jobs: 2,
        partition,
    };
    let stop = AtomicBool::new(false);
    let all = explore(&s, &plan(None), &|_, _| {}, &stop).expect("explores");
    assert_eq!(all.ran, (0..7).collect::<Vec<u64>>());
    let mut union = Vec::new();
    for i in 1..=3 {
        let p = Partition { index: i, count: 3 };
        let part = explore(&s, &plan(Some(p)), &|_, _| {}, &stop).expect("explores");
        assert_eq!(
            part.failing, part.runs,
            "every schedule fails this scenario"
        );
        union.extend(part.ran);
    }
    union.sort_unstable();
    assert_eq!(union, all.ran);
}

#[test]
fn a_sweep_injects_at_every_instruction_of_the_write_window_on_every_vcpu() {
    use scenarios::explore::Strategy as Family;
    use scenarios::scenario::{load, Images};
    use scenarios::search::{explore, Plan};
    use std::sync::atomic::AtomicBool;
    let dir = tmp("race-sweep");
    let hello = payload_path("xen_hello_world");
    let file = write(
        &dir,
        "sweep.toml",
        &format!(
            r#"version = 1
machine = {{ vcpus = 2, seed = 3 }}
steps = [
    "xen-livepatch upload xen_hello_world {}",
    "xen-livepatch apply xen_hello_world",
    {{ expect = {{ status = 0, list = {{ xen_hello_world = "APPLIED" }} }} }},
    {{ expect = {{ detector = "none" }} }},
]
[explore]
strategy = "sweep"
runs = 100000
fork = 2
sweep = {{ event = "nmi", of = 0, to = "arch_livepatch_revive", tail = 4 }}
"#,
            hello.display()
        ),
    );
    let s = load(Path::new(&file), &mut Images::default()).expect("loads");
    let plan = Plan {
        family: Family::Sweep,
        seed: 0,
        runs: u64::MAX,
        time: None,
        jobs: 2,
        partition: None,
    };
    let stop = AtomicBool::new(false);
    let sum = explore(&s, &plan, &|_, _| {}, &stop).expect("explores");
    let (from, to) = sum.sweep_window.expect("a window");
    // The writer stores into its text, then reaches the end: a window of
    // real instructions, each swept on both vCPUs.
    assert!(to > from + 4, "{from}..{to}");
    assert_eq!(sum.space, Some((to - from) * 2));
    assert_eq!(sum.runs, (to - from) * 2);
    assert_eq!(sum.ran, (0..sum.runs).collect::<Vec<u64>>());
    // Every NMI was delivered and handled (the lost-event check ends each
    // run) and the payload applied every time.
    assert_eq!(sum.failing, 0);
    // A run of the sweep, again, with its timeline: the NMI is injected
    // into its target, while the writer is inside the window.
    use scenarios::machine::{Event, MarkKind};
    use scenarios::runner::{run_with, Injection, Options};
    for (target, count) in [(0, from), (1, from), (1, to - 1)] {
        let opts = Options {
            inject: Some(Injection {
                vcpu: target,
                event: Event::Nmi,
                of: 0,
                count,
            }),
            timeline: true,
            fork: 1,
            ..Options::default()
        };
        let run = run_with(&s, &opts);
        assert!(run.report.passed(), "{:?}", run.report.failures);
        let t = run.timeline.expect("a timeline");
        let injected: Vec<usize> = t
            .marks
            .iter()
            .filter(|m| matches!(m.kind, MarkKind::Inject { .. }))
            .map(|m| m.vcpu)
            .collect();
        assert_eq!(injected, [target], "{count}");
    }
}

/// The planted race: under `livepatch-nmi=none` the sweep finds the torn
/// patch site (the writer's own NMI handler runs the half-written jump
/// over `nmi_watchdog_tick`), its replay reproduces it with its timeline;
/// under `safe` a share of the same sweep finds nothing.
#[test]
fn the_nmi_race_is_found_by_the_sweep_under_none_and_not_under_safe() {
    let dir = tmp("race-nmi");
    let root = common::root().join("scenarios");
    let out = dir.join("out");
    let o = testbed(&[
        "explore",
        &root.join("nmi-race-sweep.toml").display().to_string(),
        "--jobs",
        "2",
        "-q",
        "--out",
        &out.display().to_string(),
    ]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL torn-patch-site@nmi_watchdog_tick"),
        "{text}"
    );
    let file = replay_files(&out).remove(0);
    let svg = dir.join("race.svg");
    let r = testbed(&[
        "replay",
        &file.display().to_string(),
        "--timeline",
        &svg.display().to_string(),
    ]);
    let t = stdout(&r);
    assert_eq!(r.status.code(), Some(0), "{t}");
    assert!(t.contains("detector torn-patch-site"), "{t}");
    let picture = std::fs::read_to_string(&svg).expect("timeline written");
    assert!(
        picture.contains("torn-patch-site on vCPU 0"),
        "the hit is drawn"
    );
    assert!(
        picture.contains("writes patch site"),
        "the writes are drawn"
    );
    let safe = testbed(&[
        "explore",
        &root.join("nmi-race-sweep-safe.toml").display().to_string(),
        "--partition",
        "1/6",
        "--jobs",
        "2",
        "-q",
        "--out",
        &dir.join("safe").display().to_string(),
    ]);
    let st = stdout(&safe);
    assert_eq!(safe.status.code(), Some(0), "{st}");
    assert!(st.contains("0 failing"), "{st}");
}
