//! Scenario files that must be refused: each with `file:line:column`, what
//! was expected, and the line with a caret (insta snapshots of the
//! messages people read). A refused file runs nothing: loading never
//! builds a machine.

use std::path::Path;

use scenarios::scenario::{parse, Images, LoadError};

/// The message for `source` as a file named `bad.toml`.
/// Symbol sizes change with every mini-xen build: `size 0x...` is redacted.
fn refusal(source: &str) -> String {
    match parse(Path::new("bad.toml"), source, &mut Images::default()) {
        Ok(_) => panic!("accepted:\n{source}"),
        Err(e @ LoadError::At { .. }) => {
            let text = e.to_string();
            match text.split_once("(size 0x") {
                Some((head, tail)) => {
                    let rest = tail.split_once(')').map_or("", |(_, r)| r);
                    format!("{head}(size <size>){rest}")
                }
                None => text,
            }
        }
        Err(e) => panic!("not located: {e}"),
    }
}

const HEAD: &str = "version = 1\nmachine = { vcpus = 2, seed = 1 }\n";

fn steps(steps: &str) -> String {
    format!("{HEAD}steps = [\n{steps}\n]\n")
}

macro_rules! refused {
    ($name:ident, $source:expr) => {
        #[test]
        fn $name() {
            insta::with_settings!({snapshot_path => "../../snapshots/scenarios"}, {
                insta::assert_snapshot!(refusal(&$source));
            });
        }
    };
}

refused!(
    unknown_key,
    "version = 1\nmachine = { vcpu = 2, seed = 1 }\nsteps = []\n"
);
refused!(
    bad_type,
    "version = 1\nmachine = { vcpus = \"two\", seed = 1 }\nsteps = []\n"
);
refused!(
    too_many_vcpus,
    "version = 1\nmachine = { vcpus = 65, seed = 1 }\nsteps = []\n"
);
refused!(
    future_version,
    "version = 2\nmachine = { vcpus = 1, seed = 1, smt = 2 }\nsteps = []\n"
);
refused!(
    cmdline_too_long,
    format!(
        "version = 1\nmachine = {{ vcpus = 1, seed = 1, cmdline = \"{}\" }}\nsteps = []\n",
        "x".repeat(1024)
    )
);
refused!(
    missing_image,
    "version = 1\nmachine = { vcpus = 1, seed = 1, image = \"no/such/xen-syms\" }\nsteps = []\n"
);
refused!(bad_duration, steps("    \"run 5fortnights\","));
refused!(
    bad_duration_in_a_table,
    steps("    { delay = { vcpu = 1, for = \"5 parsecs\" } },")
);
refused!(unknown_command, steps("    \"reboot now\","));
refused!(
    unknown_step,
    steps("    \"run 1ms\",\n    { wait = \"1ms\" },")
);
refused!(
    two_actions_in_one_step,
    steps("    { hold = 1, release = 1 },")
);
refused!(
    unknown_symbol,
    steps("    { inject = { event = \"nmi\", vcpu = 0, at = \"no_such_function+0x4\" } },")
);
refused!(
    offset_inside_an_instruction,
    steps("    { inject = { event = \"nmi\", vcpu = 0, at = \"arch_livepatch_apply+0x2\" } },")
);
refused!(
    no_such_vcpu,
    steps("    { inject = { event = \"mce\", vcpu = 2 } },")
);
refused!(
    unknown_event,
    steps("    { inject = { event = \"smi\", vcpu = 0 } },")
);
refused!(
    unknown_detector,
    steps("    \"run 1ms\",\n    { expect = { detector = \"torn-jump\" } },")
);
refused!(
    a_command_after_an_expected_detector_hit,
    steps(
        "    \"run 1ms\",\n    { expect = { detector = \"torn-patch-site\" } },\n    \"run 1ms\","
    )
);
refused!(
    of_without_a_point,
    steps("    { inject = { event = \"nmi\", vcpu = 0, of = 1 } },")
);
refused!(
    watchpoint_keys_without_a_watchpoint,
    steps("    { inject = { event = \"nmi\", vcpu = 0, at = \"arch_livepatch_apply\", access = \"read\" } },")
);
refused!(
    watchpoint_past_its_symbol,
    steps("    { inject = { event = \"mce\", vcpu = 1, watch = \"arch_livepatch_apply+0x100000\" } },")
);
refused!(
    expectation_with_no_command_before_it,
    steps("    { expect = { status = 0 } },")
);
refused!(
    empty_expectation,
    steps("    \"run 1ms\",\n    { expect = {} },")
);
refused!(
    bad_regex,
    steps("    \"run 1ms\",\n    { expect = { console = \"(unclosed\" } },")
);
refused!(
    bad_payload_state,
    steps("    \"run 1ms\",\n    { expect = { list = { xen_nop = \"ON\" } } },")
);
refused!(
    explore_parameter_of_another_strategy,
    format!("{HEAD}steps = []\n\n[explore]\nstrategy = \"random\"\ndepth = 3\nruns = 10\n")
);
refused!(
    explore_without_a_budget,
    format!("{HEAD}steps = []\n\n[explore]\nstrategy = \"pct\"\n")
);
refused!(
    explore_window_past_its_symbol,
    format!(
        "{HEAD}steps = []\n\n[explore]\nstrategy = \"bounded\"\npreemptions = 2\nruns = 10\n\
         windows = [ {{ symbol = \"arch_livepatch_apply\", from = 0, to = 0x100000 }} ]\n"
    )
);

refused!(
    sweep_without_its_table,
    format!("{HEAD}steps = []\n\n[explore]\nstrategy = \"sweep\"\nruns = 10\n")
);
refused!(
    sweep_of_a_vcpu_the_machine_lacks,
    format!(
        "{HEAD}steps = []\n\n[explore]\nstrategy = \"sweep\"\nruns = 10\n\
         sweep = {{ event = \"nmi\", of = 2, to = \"arch_livepatch_revive\" }}\n"
    )
);

#[test]
fn cross_vcpu_triggers_watchpoints_and_detector_expectations_load() {
    use scenarios::machine::When;
    use scenarios::scenario::StepKind;
    let source = steps(
        "    { inject = { event = \"nmi\", vcpu = 1, at = \"arch_livepatch_apply\", of = 0 } },\n\
         { inject = { event = \"nmi\", vcpu = 0, at = \"arch_livepatch_apply\", of = 0 } },\n\
         { inject = { event = \"mce\", vcpu = 1, watch = \"nmi_count+8\", len = 8, access = \"read\" } },\n\
         \"run 1ms\",\n\
         { expect = { detector = \"none\" } },\n\
         \"run 1ms\",\n\
         { expect = { detector = \"lost-event\" } },\n\
         { expect = { console = \"NMI\" } },",
    );
    let s = parse(Path::new("good.toml"), &source, &mut Images::default()).expect("loads");
    let whens: Vec<&When> = s
        .steps
        .iter()
        .filter_map(|st| match &st.kind {
            StepKind::Inject { when, .. } => Some(when),
            _ => None,
        })
        .collect();
    assert!(matches!(whens[0], When::At { of: Some(0), .. }));
    // A vCPU's own trigger needs no `of`.
    assert!(matches!(whens[1], When::At { of: None, .. }));
    assert!(matches!(
        whens[2],
        When::Watch {
            offset: 8,
            len: 8,
            write: false,
            of: None,
            ..
        }
    ));
}

#[test]
fn a_good_file_loads_with_its_steps_lines_and_explore_table() {
    use scenarios::explore::Strategy;
    use scenarios::scenario::StepKind;
    let source = format!(
        "{HEAD}steps = [\n    \"run 1ms\",\n\n    {{ expect = {{ status = 0 }} }},\n]\n\n\
         [explore]\nstrategy = \"pct\"\ndepth = 4\ntime = \"2s\"\n\
         windows = [ {{ symbol = \"arch_livepatch_apply\" }} ]\n"
    );
    let s = parse(Path::new("dir/good.toml"), &source, &mut Images::default()).expect("loads");
    assert_eq!(s.name, "good");
    assert_eq!(s.base, Path::new("dir"));
    assert_eq!(s.steps.iter().map(|s| s.line).collect::<Vec<_>>(), [4, 6]);
    assert!(matches!(s.steps[0].kind, StepKind::Command(..)));
    let e = s.explore.expect("explore");
    assert_eq!(e.strategy, Strategy::Pct { depth: 4 });
    assert_eq!((e.runs, e.time), (None, Some(2_000_000_000)));
    assert_eq!(e.windows.len(), 1);
    assert!(e.windows[0].to > 0);
}
