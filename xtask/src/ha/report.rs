//! Per phase: what the senders saw (acknowledged, lost, failed with their errors grouped), and
//! the PASS/FAIL lines of the proof's criteria.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::load::{Outcome, Record};

/// What a phase promises about failed sends.
#[derive(Clone, Copy, Debug)]
pub enum Allowed {
    /// None may fail (everything is up, or the soak).
    None,
    /// Only sends started within `window` of the fault may fail (a freeze: the balancer's
    /// detection window).
    WithinWindow {
        /// When the replica was frozen.
        at: Instant,
        /// When it was resumed.
        back: Instant,
        /// The detection window.
        window: Duration,
    },
    /// At most this many (a kill: the requests in flight to the killed process, bounded by
    /// the concurrency).
    AtMost(usize),
    /// Any number (a database failover: every send fails while no primary is reachable; the
    /// outage is reported on its own).
    Any,
}

/// A stretch of the run: sends started in `[from, to)` are its sends, and so are the sends
/// still in flight at `from`, when its fault began (the requests the fault hit).
#[derive(Clone, Debug)]
pub struct Phase {
    /// e.g. `freeze node2/p2p-node#1 10 s`.
    pub label: String,
    /// Its first instant: the fault's signal, or the start of the load or of the soak.
    pub from: Instant,
    /// Its end (the next phase's `from`).
    pub to: Instant,
    /// What it promises.
    pub allowed: Allowed,
}

/// Failed sends with the same error: how many, and when the first and the last of them
/// started, after the phase began.
struct Group {
    count: usize,
    first: Duration,
    last: Duration,
}

/// What the senders saw in one phase.
struct Tally {
    acked: usize,
    lost: Vec<String>,
    /// Failure text -> the failures.
    failures: BTreeMap<String, Group>,
    failed: usize,
    /// Failures started after the window while the replica was still frozen.
    after_window_frozen: usize,
    /// Failures started after the window, once the replica was back.
    after_window_back: usize,
}

/// The instant a send counts at: when it started, or the first phase start (a fault) it was
/// in flight at.
fn counted_at(record: &Record, phases: &[Phase]) -> Instant {
    phases
        .iter()
        .map(|p| p.from)
        .find(|&from| record.started < from && from < record.ended)
        .unwrap_or(record.started)
}

fn tally(
    phase: &Phase,
    phases: &[Phase],
    records: &[Record],
    lost: &HashMap<usize, String>,
) -> Tally {
    let mut tally = Tally {
        acked: 0,
        lost: Vec::new(),
        failures: BTreeMap::new(),
        failed: 0,
        after_window_frozen: 0,
        after_window_back: 0,
    };
    for (i, record) in records.iter().enumerate() {
        let at = counted_at(record, phases);
        if at < phase.from || at >= phase.to {
            continue;
        }
        match &record.outcome {
            Outcome::Acked(_) => {
                tally.acked += 1;
                if let Some(why) = lost.get(&i) {
                    tally.lost.push(why.clone());
                }
            }
            Outcome::Failed(failure) => {
                tally.failed += 1;
                let since = record.started.saturating_duration_since(phase.from);
                let group = tally.failures.entry(failure.clone()).or_insert(Group {
                    count: 0,
                    first: since,
                    last: since,
                });
                group.count += 1;
                group.first = group.first.min(since);
                group.last = group.last.max(since);
                if let Allowed::WithinWindow { at, back, window } = phase.allowed {
                    if record.started >= at + window {
                        if record.started < back {
                            tally.after_window_frozen += 1;
                        } else {
                            tally.after_window_back += 1;
                        }
                    }
                }
            }
        }
    }
    tally
}

/// Prints each phase's numbers and checks its criteria; `lost` maps a record's index to why
/// it is not receivable. Returns the verdict.
pub fn report(phases: &[Phase], records: &[Record], lost: &HashMap<usize, String>) -> Verdict {
    let mut verdict = Verdict::default();
    println!(
        "ha: per phase (a send belongs to the phase it started in, or to the fault it was in \
         flight at; times are from the phase's start, its fault):"
    );
    println!(
        "ha:   {:<48} {:>6} {:>5} {:>7} {:>15}",
        "phase", "acked", "lost", "failed", "outside window"
    );
    let tallies: Vec<Tally> = phases
        .iter()
        .map(|p| tally(p, phases, records, lost))
        .collect();
    for (phase, tally) in phases.iter().zip(&tallies) {
        let outside = match phase.allowed {
            Allowed::WithinWindow { .. } => {
                (tally.after_window_frozen + tally.after_window_back).to_string()
            }
            _ => "-".into(),
        };
        println!(
            "ha:   {:<48} {:>6} {:>5} {:>7} {:>15}",
            phase.label,
            tally.acked,
            tally.lost.len(),
            tally.failed,
            outside
        );
        for (failure, group) in &tally.failures {
            println!(
                "ha:       {:>5} x {failure} (started at +{:.1}..+{:.1} s)",
                group.count,
                group.first.as_secs_f64(),
                group.last.as_secs_f64()
            );
        }
        for why in tally.lost.iter().take(3) {
            println!("ha:       lost: {why}");
        }
    }
    for (phase, tally) in phases.iter().zip(&tallies) {
        check_phase(&mut verdict, phase, tally);
    }
    verdict
}

fn check_phase(verdict: &mut Verdict, phase: &Phase, tally: &Tally) {
    let label = &phase.label;
    verdict.check(
        tally.acked > 0,
        format!("{label}: sends went through ({} acknowledged)", tally.acked),
    );
    verdict.check(
        tally.lost.is_empty(),
        format!(
            "{label}: 0 acknowledged sends lost ({} not receivable on the recipient's node)",
            tally.lost.len()
        ),
    );
    match phase.allowed {
        Allowed::None => verdict.check(
            tally.failed == 0,
            format!("{label}: 0 failed sends ({} failed)", tally.failed),
        ),
        Allowed::WithinWindow { window, .. } => verdict.check(
            tally.after_window_frozen + tally.after_window_back == 0,
            format!(
                "{label}: 0 failed sends started after the {:.1} s detection window \
                 ({} while frozen, {} once resumed; {} within the window)",
                window.as_secs_f64(),
                tally.after_window_frozen,
                tally.after_window_back,
                tally.failed - tally.after_window_frozen - tally.after_window_back
            ),
        ),
        Allowed::Any => {}
        Allowed::AtMost(limit) => verdict.check(
            tally.failed <= limit,
            format!(
                "{label}: at most {limit} failed sends, the requests in flight to the killed \
                 process ({} failed)",
                tally.failed
            ),
        ),
    }
}

/// PASS/FAIL lines and their count.
#[derive(Default)]
pub struct Verdict {
    passed: usize,
    failed: usize,
}

impl Verdict {
    /// Prints one criterion and counts it.
    pub fn check(&mut self, ok: bool, what: String) {
        if ok {
            self.passed += 1;
            println!("ha: PASS {what}");
        } else {
            self.failed += 1;
            println!("ha: FAIL {what}");
        }
    }

    /// `Ok` when every criterion passed.
    pub fn finish(self) -> Result<(), String> {
        println!("ha: {} passed, {} failed", self.passed, self.failed);
        if self.failed == 0 {
            Ok(())
        } else {
            Err("the high-availability proof failed".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(started: Instant, ended: Instant) -> Record {
        Record {
            started,
            ended,
            outcome: Outcome::Failed("send: 504 Gateway Time-out".into()),
        }
    }

    /// A baseline of 10 s, then a freeze at +10 s resumed at +20 s with a 2 s window, to +30 s.
    fn phases(t0: Instant) -> Vec<Phase> {
        let s = Duration::from_secs;
        vec![
            Phase {
                label: "up".into(),
                from: t0,
                to: t0 + s(10),
                allowed: Allowed::None,
            },
            Phase {
                label: "freeze".into(),
                from: t0 + s(10),
                to: t0 + s(30),
                allowed: Allowed::WithinWindow {
                    at: t0 + s(10),
                    back: t0 + s(20),
                    window: s(2),
                },
            },
        ]
    }

    #[test]
    fn a_send_in_flight_when_a_fault_begins_counts_in_the_faults_phase_within_its_window() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let phases = phases(t0);
        let records = [failed(t0 + s(9), t0 + s(14))];
        let baseline = tally(&phases[0], &phases, &records, &HashMap::new());
        let freeze = tally(&phases[1], &phases, &records, &HashMap::new());
        assert_eq!((baseline.failed, freeze.failed), (0, 1));
        assert_eq!(freeze.after_window_frozen + freeze.after_window_back, 0);
    }

    #[test]
    fn failures_after_the_window_are_split_by_whether_the_replica_was_back() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let phases = phases(t0);
        let records = [
            failed(t0 + s(11), t0 + s(12)),
            failed(t0 + s(13), t0 + s(14)),
            failed(t0 + s(21), t0 + s(22)),
        ];
        let freeze = tally(&phases[1], &phases, &records, &HashMap::new());
        assert_eq!(freeze.failed, 3);
        assert_eq!(freeze.after_window_frozen, 1);
        assert_eq!(freeze.after_window_back, 1);
        let group = &freeze.failures["send: 504 Gateway Time-out"];
        assert_eq!((group.count, group.first, group.last), (3, s(1), s(11)));
    }
}
