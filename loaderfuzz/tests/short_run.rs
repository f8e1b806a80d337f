//! The short fuzz run of `make test`: 1,200 mutants (about a minute on two
//! shared cores; restoring the 64 MiB snapshot is a third of each case) through
//! UPLOAD, APPLY/REPLACE/NODEPS, REVERT and UNLOAD, with no failure; and
//! the run is the same for the same seed, whatever the number of threads.

use loaderfuzz::campaign::{self, Settings};

fn corpus() -> Vec<campaign::Seed> {
    let dir = format!("{}/../payloads/build/test", env!("CARGO_MANIFEST_DIR"));
    campaign::load_corpus(std::path::Path::new(&dir)).expect("run `make build`")
}

fn image() -> emulator::Image {
    emulator::Image::load(&emulator::Image::default_path()).expect("run `make image`")
}

#[test]
fn twelve_hundred_mutants_break_nothing() {
    let settings = Settings {
        first: 0,
        runs: 1200,
        seed: 2026,
        jobs: 2,
        vcpus: 2,
        out: Some(std::env::temp_dir().join("fuzz-loader-short-run")),
        stop: Default::default(),
    };
    let s = campaign::run(&image(), &corpus(), &settings, &|_| ()).expect("campaign");
    let report = campaign::report(&s);
    assert_eq!(s.failures(), 0, "{report}");
    assert_eq!(s.cases, 1200, "{report}");
    // Not a run of trivially refused files: many reach APPLY and REVERT,
    // by every plan.
    assert!(s.accepted > 200 && s.applied > 120, "{report}");
    assert_eq!(s.plans.len(), 3, "{report}");
    let last = report.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!(
            "fuzz-loader: 1200 cases, {} accepted, 0 failures",
            s.accepted
        )
    );
}

#[test]
fn the_same_seed_gives_the_same_run_on_any_number_of_threads() {
    let corpus = corpus();
    let image = image();
    let run = |jobs| {
        let settings = Settings {
            first: 0,
            runs: 40,
            seed: 99,
            jobs,
            vcpus: 2,
            out: None,
            stop: Default::default(),
        };
        let s = campaign::run(&image, &corpus, &settings, &|_| ()).expect("campaign");
        (s.upload_rc, s.action_rc, s.targets, s.accepted)
    };
    assert_eq!(run(1), run(2));
    let targets = campaign::targets_of(&image);
    let a = campaign::make_case(99, 7, &corpus, &targets).expect("case");
    let b = campaign::make_case(99, 7, &corpus, &targets).expect("case");
    assert_eq!(a.3, b.3);
    assert_ne!(
        a.3,
        campaign::make_case(99, 8, &corpus, &targets)
            .expect("case")
            .3
    );
}
