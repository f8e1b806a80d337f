//! The timeline picture of a run (`testbed replay --timeline OUT.svg`):
//! one lane per vCPU over virtual time, coloured by phase (guest,
//! hypervisor, live-patch code, idle, held), with the events injected,
//! the patch-site writes and the detector hit marked; a second panel
//! zooms on where the writes and the hit are. Plain SVG, self-contained:
//! any browser opens it.

use std::fmt::Write as _;

use crate::machine::{MarkKind, Phase, Timeline};

const WIDTH: f64 = 1200.0;
const LABEL: f64 = 70.0;
const LANE: f64 = 18.0;
const GAP: f64 = 4.0;

/// The detector hit (or crash) that ended the run.
#[derive(Clone, Debug)]
pub struct Hit {
    /// The vCPU.
    pub vcpu: usize,
    /// Virtual time, ns.
    pub at: u64,
    /// What (a detector's name, `panic`, ...).
    pub what: String,
}

fn colour(p: Phase) -> &'static str {
    match p {
        Phase::Guest => "#73d216",
        Phase::Hypervisor => "#3465a4",
        Phase::LivePatch => "#f57900",
        Phase::Idle => "#d3d7cf",
        Phase::Held => "#75507b",
    }
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Guest => "guest",
        Phase::Hypervisor => "hypervisor",
        Phase::LivePatch => "live-patch code",
        Phase::Idle => "idle",
        Phase::Held => "held",
    }
}

fn time(ns: u64) -> String {
    if ns >= 1_000_000 {
        format!("{:.3} ms", ns as f64 / 1e6)
    } else if ns >= 1_000 {
        format!("{:.2} µs", ns as f64 / 1e3)
    } else {
        format!("{ns} ns")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Where the interesting part is: the writes, the hit, the injections.
fn focus(t: &Timeline, hit: Option<&Hit>) -> Option<(u64, u64)> {
    let writes = t
        .marks
        .iter()
        .filter(|m| matches!(m.kind, MarkKind::PatchWrite { .. }))
        .map(|m| m.at);
    let mut at: Vec<u64> = writes.chain(hit.map(|h| h.at)).collect();
    if at.is_empty() {
        at = t.marks.iter().map(|m| m.at).collect();
    }
    let (lo, hi) = (*at.iter().min()?, *at.iter().max()?);
    let pad = ((hi - lo) / 5).max(2_000);
    Some((lo.saturating_sub(pad), hi + pad))
}

struct Panel<'a> {
    t: &'a Timeline,
    hit: Option<&'a Hit>,
    vcpus: usize,
    from: u64,
    to: u64,
    top: f64,
}

impl Panel<'_> {
    fn x(&self, ns: u64) -> f64 {
        let span = (self.to - self.from).max(1) as f64;
        LABEL + (ns.saturating_sub(self.from) as f64 / span) * (WIDTH - LABEL - 10.0)
    }

    fn lane_y(&self, v: usize) -> f64 {
        self.top + 20.0 + v as f64 * (LANE + GAP)
    }

    fn height(&self) -> f64 {
        20.0 + self.vcpus as f64 * (LANE + GAP) + 24.0
    }

    fn draw(&self, title: &str, out: &mut String) {
        let _ = writeln!(
            out,
            r#"<text x="{LABEL}" y="{:.1}" class="h">{} ({} – {})</text>"#,
            self.top + 12.0,
            escape(title),
            time(self.from),
            time(self.to)
        );
        for v in 0..self.vcpus {
            let _ = writeln!(
                out,
                r#"<text x="4" y="{:.1}">vCPU {v}</text>"#,
                self.lane_y(v) + LANE - 5.0
            );
        }
        for s in &self.t.spans {
            if s.end <= self.from || s.start >= self.to || s.vcpu >= self.vcpus {
                continue;
            }
            let (x0, x1) = (self.x(s.start.max(self.from)), self.x(s.end.min(self.to)));
            let _ = writeln!(
                out,
                r#"<rect x="{x0:.2}" y="{:.1}" width="{:.2}" height="{LANE}" fill="{}"><title>vCPU {}: {} {} – {}</title></rect>"#,
                self.lane_y(s.vcpu),
                (x1 - x0).max(0.3),
                colour(s.phase),
                s.vcpu,
                phase_name(s.phase),
                time(s.start),
                time(s.end)
            );
        }
        for m in &self.t.marks {
            if m.at < self.from || m.at > self.to || m.vcpu >= self.vcpus {
                continue;
            }
            let (x, y) = (self.x(m.at), self.lane_y(m.vcpu));
            match m.kind {
                MarkKind::Inject { irq } => {
                    let _ = writeln!(
                        out,
                        r##"<path d="M{:.2},{:.1} l-4,-6 h8 z" fill="#cc0000"><title>{irq:?} injected into vCPU {} at {}</title></path>"##,
                        x,
                        y + 1.0,
                        m.vcpu,
                        time(m.at)
                    );
                }
                MarkKind::PatchWrite { addr } => {
                    let _ = writeln!(
                        out,
                        r##"<line x1="{x:.2}" x2="{x:.2}" y1="{:.1}" y2="{:.1}" stroke="#000" stroke-width="1"><title>vCPU {} writes patch site {addr:#x} at {}</title></line>"##,
                        y,
                        y + LANE,
                        m.vcpu,
                        time(m.at)
                    );
                }
            }
        }
        if let Some(h) = self.hit.filter(|h| h.at >= self.from && h.at <= self.to) {
            let x = self.x(h.at);
            let y = self.lane_y(h.vcpu.min(self.vcpus.saturating_sub(1)));
            let _ = writeln!(
                out,
                r##"<line x1="{x:.2}" x2="{x:.2}" y1="{:.1}" y2="{:.1}" stroke="#cc0000" stroke-width="3"><title>{} on vCPU {} at {}</title></line><text x="{:.2}" y="{:.1}" fill="#cc0000" class="h">{}</text>"##,
                self.top + 16.0,
                y + LANE + 2.0,
                escape(&h.what),
                h.vcpu,
                time(h.at),
                x + 4.0,
                y - 2.0,
                escape(&h.what)
            );
        }
        let axis = self.lane_y(self.vcpus) + 10.0;
        for i in 0..=4u64 {
            let ns = self.from + (self.to - self.from) * i / 4;
            let x = self.x(ns);
            let anchor = match i {
                0 => "start",
                4 => "end",
                _ => "middle",
            };
            let _ = writeln!(
                out,
                r##"<line x1="{x:.2}" x2="{x:.2}" y1="{:.1}" y2="{:.1}" stroke="#888"/><text x="{x:.2}" y="{:.1}" text-anchor="{anchor}">{}</text>"##,
                axis - 14.0,
                axis - 8.0,
                axis + 4.0,
                time(ns)
            );
        }
    }
}

/// The SVG of `t`, a run on `vcpus` vCPUs, titled `title`.
pub fn svg(t: &Timeline, vcpus: usize, hit: Option<&Hit>, title: &str) -> String {
    let end = t.end().max(hit.map_or(0, |h| h.at)).max(1);
    let mut panels = vec![("whole run", t.start().min(end - 1), end)];
    if let Some((a, b)) = focus(t, hit) {
        panels.push(("around the patch writes", a, b.min(end.max(b))));
    }
    let mut body = String::new();
    let mut top = 28.0;
    for (name, from, to) in panels {
        let p = Panel {
            t,
            hit,
            vcpus,
            from,
            to: to.max(from + 1),
            top,
        };
        p.draw(name, &mut body);
        top += p.height();
    }
    let mut legend = String::new();
    let mut x = LABEL;
    for ph in [
        Phase::Guest,
        Phase::Hypervisor,
        Phase::LivePatch,
        Phase::Idle,
        Phase::Held,
    ] {
        let _ = write!(
            legend,
            r#"<rect x="{x:.1}" y="{top:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            colour(ph),
            x + 16.0,
            top + 10.0,
            phase_name(ph)
        );
        x += 130.0;
    }
    let _ = write!(
        legend,
        r##"<path d="M{:.1},{:.1} l-4,-6 h8 z" fill="#cc0000"/><text x="{:.1}" y="{:.1}">event injected</text><line x1="{:.1}" x2="{:.1}" y1="{top:.1}" y2="{:.1}" stroke="#000"/><text x="{:.1}" y="{:.1}">patch write</text>"##,
        x + 4.0,
        top + 11.0,
        x + 14.0,
        top + 10.0,
        x + 140.0,
        x + 140.0,
        top + 12.0,
        x + 146.0,
        top + 10.0
    );
    let height = top + 24.0;
    format!(
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="sans-serif" font-size="11">
<style>.h {{ font-weight: bold; }}</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="4" y="16" class="h">{}</text>
{body}{legend}
</svg>
"##,
        escape(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{Irq, Timeline};

    #[test]
    fn every_lane_span_mark_and_the_hit_are_drawn() {
        let mut t = Timeline::new(2, vec![(100, 200)]);
        t.span(0, 0, 5_000, Phase::Guest);
        t.span(1, 0, 4_000, Phase::Idle);
        t.span(1, 4_000, 9_000, Phase::LivePatch);
        t.mark(6_000, 1, MarkKind::PatchWrite { addr: 0x1234 });
        t.mark(5_500, 0, MarkKind::Inject { irq: Irq::Nmi });
        let hit = Hit {
            vcpu: 0,
            at: 7_000,
            what: "torn-patch-site".into(),
        };
        let s = svg(&t, 2, Some(&hit), "a <run>");
        assert!(s.starts_with("<?xml"));
        assert!(s.contains("vCPU 1"));
        assert!(s.contains("a &lt;run&gt;"));
        assert!(s.contains("writes patch site 0x1234"));
        assert!(s.contains("Nmi injected into vCPU 0"));
        assert!(s.contains("torn-patch-site on vCPU 0"));
        assert!(s.contains("around the patch writes"));
        // Both panels draw the live-patch span.
        assert_eq!(s.matches("live-patch code 4.00 µs").count(), 2);
    }
}
