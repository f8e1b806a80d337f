//! `testbed run`: the regression suite passes with a valid JUnit report;
//! failures name their step and line; partitions cover a suite exactly
//! once; a bad file runs nothing; runs are deterministic.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use common::{cases, junit, stdout, testbed, tmp, write};
use quick_junit::Report;

#[test]
fn every_scenario_in_the_suite_passes_and_its_junit_parses_back() {
    let dir = common::root().join("scenarios");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("scenarios/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml") && !p.ends_with("Cargo.toml"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert!(files.len() >= 8, "{files:?}");
    let out = tmp("all").join("junit.xml");
    let mut args = vec!["run", "--junit", out.to_str().expect("utf-8")];
    args.extend(files.iter().map(String::as_str));
    let o = testbed(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let got = cases(&junit(&out));
    let want: Vec<(String, bool)> = files
        .iter()
        .map(|f| {
            let stem = Path::new(f).file_stem().expect("stem");
            (stem.to_string_lossy().into_owned(), true)
        })
        .collect();
    assert_eq!(got, want);
}

const TINY: &str = "version = 1\nmachine = { vcpus = 1, seed = 1 }\n";

#[test]
fn partitions_cover_the_suite_exactly_once() {
    let dir = tmp("partitions");
    let files: Vec<String> = (0..5)
        .map(|i| {
            write(
                &dir,
                &format!("p{i}.toml"),
                &format!("{TINY}steps = [ \"guest 1 xen_version version\" ]\n"),
            )
        })
        .collect();
    let names = |extra: &[&str], tag: &str| -> Vec<String> {
        let out = dir.join(format!("{tag}.xml"));
        let mut args = vec!["run", "--junit", out.to_str().expect("utf-8")];
        args.extend_from_slice(extra);
        // The order on the command line does not change the split.
        args.extend(files.iter().rev().map(String::as_str));
        let o = testbed(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
        cases(&junit(&out)).into_iter().map(|(n, _)| n).collect()
    };
    let all: BTreeSet<String> = names(&[], "all").into_iter().collect();
    assert_eq!(all.len(), 5);
    for n in [2, 3] {
        let mut union = Vec::new();
        for i in 1..=n {
            let p = format!("{i}/{n}");
            union.extend(names(&["--partition", &p], &format!("{i}-{n}")));
        }
        let set: BTreeSet<String> = union.iter().cloned().collect();
        assert_eq!(set.len(), union.len(), "duplicates in {union:?}");
        assert_eq!(set, all, "{n} partitions");
    }
    let o = testbed(&["run", "--partition", "4/3", &files[0]]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_failed_expectation_names_its_step_line_and_what_was_expected() {
    let dir = tmp("failing");
    let file = write(
        &dir,
        "wrong.toml",
        &format!(
            "{TINY}steps = [\n\
             \x20   \"guest 1 xen_version extraversion\",\n\
             \x20   {{ expect = {{ guest = {{ value = \"Hello World\" }} }} }},\n\
             \x20   {{ expect = {{ console = \"no such line\" }} }},\n\
             \x20   \"guest 1 xen_version version\",\n\
             \x20   {{ expect = {{ guest = {{ value = \"4.21\" }} }} }},\n\
             ]\n"
        ),
    );
    let out = dir.join("junit.xml");
    let o = testbed(&["run", "--junit", out.to_str().expect("utf-8"), &file]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL wrong (5 steps"), "{text}");
    assert!(
        text.contains(
            "step 2 (line 5): expect guest.value: expected \"Hello World\", got \"-mini\""
        ),
        "{text}"
    );
    assert!(
        text.contains("step 3 (line 6): expect console: expected a line matching /no such line/"),
        "{text}"
    );
    assert!(text.contains("0 passed, 1 failed"), "{text}");
    assert_eq!(cases(&junit(&out)), [("wrong".to_string(), false)]);
}

#[test]
fn every_kind_of_expectation_can_fail() {
    let dir = tmp("kinds");
    let file = write(
        &dir,
        "kinds.toml",
        &format!(
            "{TINY}steps = [\n\
             \x20   \"xen-livepatch apply nothing_here\",\n\
             \x20   {{ expect = {{ status = 0, errno = 22, output = \"completed\" }} }},\n\
             \x20   \"guest 1 xen_version version\",\n\
             \x20   {{ expect = {{ guest = {{ rc = -1, value = \"4.4\" }} }} }},\n\
             \x20   {{ expect = {{ list = {{ xen_nop = \"APPLIED\" }} }} }},\n\
             ]\n"
        ),
    );
    let o = testbed(&["run", &file]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    for line in [
        "step 2 (line 5): expect status: expected 0, got 1",
        "step 2 (line 5): expect errno: expected 22, got 2",
        "step 2 (line 5): expect output: expected a line matching /completed/, got \"Failed to get status of nothing_here.\\nError 2: No such file or directory\"",
        "step 4 (line 7): expect guest.rc: expected -1, got 0",
        "step 4 (line 7): expect guest.value: expected \"4.4\", got \"4.21\"",
        "step 5 (line 8): expect list: expected xen_nop=APPLIED, got nothing loaded",
    ] {
        assert!(text.contains(line), "{line}\nmissing from\n{text}");
    }
}

#[test]
fn a_failing_command_ends_the_run_unless_the_next_step_expects_it() {
    let dir = tmp("commands");
    let expected = write(
        &dir,
        "expected.toml",
        &format!(
            "{TINY}steps = [\n\
             \x20   \"xen-livepatch apply nothing_here\",\n\
             \x20   {{ expect = {{ status = 1, errno = 2 }} }},\n\
             \x20   \"guest 1 xen_version version\",\n\
             ]\n"
        ),
    );
    let o = testbed(&["run", &expected]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let unexpected = write(
        &dir,
        "unexpected.toml",
        &format!(
            "{TINY}steps = [\n\
             \x20   \"xen-livepatch apply nothing_here\",\n\
             \x20   \"guest 1 xen_version version\",\n\
             ]\n"
        ),
    );
    let o = testbed(&["run", &unexpected]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("step 1 (line 4): `xen-livepatch apply nothing_here` exited with status 1"),
        "{text}"
    );
    assert!(text.contains("FAIL unexpected (1 steps"), "{text}");
}

#[test]
fn one_bad_file_and_nothing_runs() {
    let dir = tmp("bad");
    let good = write(&dir, "good.toml", &format!("{TINY}steps = []\n"));
    let bad = write(&dir, "bad.toml", &format!("{TINY}steps = [ \"reboot\" ]\n"));
    let o = testbed(&["run", &good, &bad]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    assert!(
        err.contains("bad.toml:3:11: unknown command: reboot"),
        "{err}"
    );
    assert!(err.contains("nothing was run"), "{err}");
}

/// The full digest of each test case, from the JUnit properties.
fn digests(r: &Report) -> Vec<String> {
    r.test_suites
        .iter()
        .flat_map(|s| &s.test_cases)
        .flat_map(|c| &c.properties)
        .filter(|p| p.name.as_str() == "digest")
        .map(|p| p.value.as_str().to_string())
        .collect()
}

#[test]
fn a_scenario_gives_the_same_run_in_two_processes() {
    let file = common::root().join("scenarios/nmi-during-apply.toml");
    let dir = tmp("determinism");
    let run = |tag: &str| {
        let out = dir.join(format!("{tag}.xml"));
        let o = testbed(&[
            "run",
            "-v",
            "--junit",
            out.to_str().expect("utf-8"),
            file.to_str().expect("utf-8"),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
        let r = junit(&out);
        let transcript: Vec<String> = r.test_suites[0].test_cases[0]
            .system_out
            .iter()
            .map(|x| x.as_str().to_string())
            .collect();
        (digests(&r), transcript)
    };
    let (a, b) = (run("a"), run("b"));
    assert_eq!(a.0.len(), 1);
    assert_eq!(a.0[0].len(), 64);
    assert_eq!(a, b);
}

#[test]
fn cmdline_reaches_the_machine_and_a_scenario_can_add_words() {
    let boot = |extra: &[&str]| {
        let mut args = vec!["boot", "--vcpus", "1", "--seed", "1", "--time", "1ms"];
        args.extend_from_slice(extra);
        testbed(&args)
    };
    let plain = boot(&[]);
    let with = boot(&["--cmdline", "loglvl=all"]);
    assert_eq!(with.status.code(), Some(0));
    let last = |o: &Output| stdout(o).lines().last().unwrap_or_default().to_string();
    assert!(last(&plain).starts_with("digest: "));
    // The words are in the machine's memory, so in the digest.
    assert_ne!(last(&plain), last(&with));
    let long = "x".repeat(4096);
    let o = boot(&["--cmdline", &long]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("shorter than 1024"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // In a scenario, then with more words from `testbed run --cmdline`.
    let dir = tmp("cmdline");
    let file = write(
        &dir,
        "c.toml",
        "version = 1\nmachine = { vcpus = 1, seed = 1, cmdline = \"loglvl=all\" }\nsteps = []\n",
    );
    let digest = |extra: &[&str]| {
        let out = dir.join("c.xml");
        let mut args = vec!["run", "--junit", out.to_str().expect("utf-8")];
        args.extend_from_slice(extra);
        args.push(&file);
        let o = testbed(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
        digests(&junit(&out))
    };
    assert_ne!(digest(&[]), digest(&["--cmdline", "nmi=ignore"]));
}
