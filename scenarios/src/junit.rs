//! JUnit XML for CI: one test case per scenario, the failures in the
//! failure message, the transcript and console as its output.

use quick_junit::{NonSuccessKind, Report as JUnit, TestCase, TestCaseStatus, TestSuite};

use crate::runner::Report;

/// The JUnit report of one `testbed run`.
pub fn report(suite: &str, reports: &[(String, Report)]) -> JUnit {
    let mut s = TestSuite::new(suite);
    for (path, r) in reports {
        let status = match r.failures.first() {
            None => TestCaseStatus::success(),
            Some(first) => {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                st.set_message(first.to_string());
                st.set_description(
                    r.failures
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("\n"),
                );
                st
            }
        };
        let mut case = TestCase::new(r.name.as_str(), status);
        case.set_classname(path.as_str());
        case.set_time(r.elapsed);
        case.set_system_out(r.transcript.as_str());
        case.set_system_err(r.console.as_str());
        if let Some(a) = &r.about {
            case.add_property(quick_junit::Property::new("about", a.as_str()));
        }
        if let Some(d) = &r.digest {
            case.add_property(quick_junit::Property::new("digest", d.as_str()));
        }
        s.add_test_case(case);
    }
    let mut j = JUnit::new("testbed run");
    j.add_test_suite(s);
    j
}

/// One explored scenario, for [`explore_report`].
pub struct Explored<'a> {
    /// The scenario's name.
    pub name: &'a str,
    /// Its file.
    pub path: String,
    /// Runs made.
    pub runs: u64,
    /// Host time.
    pub elapsed: std::time::Duration,
    /// Each distinct failure: signature, first failure message, crash
    /// report (may be empty), replay file written.
    pub failures: Vec<(String, String, String, String)>,
}

/// The JUnit report of one `testbed explore`: a test case per scenario
/// (failed when any schedule failed) and one per distinct failing
/// schedule, each with the report and the replay file in its message.
pub fn explore_report(explored: &[Explored<'_>]) -> JUnit {
    let mut s = TestSuite::new("explore");
    for e in explored {
        let status = if e.failures.is_empty() {
            TestCaseStatus::success()
        } else {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message(format!(
                "{} distinct failure(s) in {} runs",
                e.failures.len(),
                e.runs
            ));
            st
        };
        let mut case = TestCase::new(e.name, status);
        case.set_classname(e.path.as_str());
        case.set_time(e.elapsed);
        case.add_property(quick_junit::Property::new("runs", e.runs.to_string()));
        s.add_test_case(case);
        for (sig, message, report, replay) in &e.failures {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message(format!("{message} (replay: {replay})"));
            st.set_description(report.as_str());
            let mut case = TestCase::new(format!("{} [{sig}]", e.name), st);
            case.set_classname(e.path.as_str());
            case.add_property(quick_junit::Property::new("replay", replay.as_str()));
            s.add_test_case(case);
        }
    }
    let mut j = JUnit::new("testbed explore");
    j.add_test_suite(s);
    j
}
