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
