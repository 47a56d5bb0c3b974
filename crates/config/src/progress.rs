//! Progress of a long operation (an H2 import, recovery, a benchmark, the HA proof), shown the
//! way its output is read (issue 19).
//!
//! - A person at a terminal (stderr is a TTY) gets an `indicatif` bar on stderr, redrawn in
//!   place: a bar with a percentage and an ETA when the total is known, a spinner otherwise.
//! - Anything else (a CI log, a file, a pipe) gets plain lines, one at most every
//!   [`LINE_EVERY`], then one when the operation finishes:
//!   `h2 import: 1.20 GiB of 4.00 GiB (30%) in 48 s, 25.60 MiB/s; 3120000 rows read`. A redrawn
//!   bar in a log file is unreadable, and a line per item would drown the log.
//! - A service that logs ([`Progress::logged`]) always gets plain lines, into its log (as
//!   `tracing` info events), even at a terminal: the subscriber writes log lines to stderr
//!   past any bar and would tear it; a line every 10 s keeps both the log and the progress
//!   readable.
//!
//! Lines are only written when the count is updated ([`Progress::inc`], [`Progress::set`]; a
//! new message alone writes none, so set it before the count it goes with): an operation that
//! updates rarely reports as rarely.
//! [`Progress`] is a cheap handle (an `Arc`): clone it into every worker thread or task.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// At most one plain progress line this often.
pub const LINE_EVERY: Duration = Duration::from_secs(10);

/// How often a terminal bar is redrawn (indicatif's default is 20 per second; fewer costs less
/// on a busy two-core machine and reads the same).
const REDRAW_HZ: u8 = 5;

/// "No total" in [`Inner::total`].
const NO_TOTAL: u64 = u64::MAX;

/// What is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Things (rows, payloads, sends): shown as plain numbers.
    Items,
    /// Bytes: shown as KiB, MiB, GiB.
    Bytes,
}

/// A long operation's progress: a bar at a terminal, periodic lines elsewhere (see the module
/// documentation). Finish it with [`Progress::finish`] for the last line; dropped unfinished
/// (an error path), a bar stays as it was drawn and no last line is written.
#[derive(Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

struct Inner {
    label: String,
    unit: Unit,
    started: Instant,
    done: AtomicU64,
    total: AtomicU64,
    message: Mutex<String>,
    finished: AtomicBool,
    sink: Sink,
}

enum Sink {
    Bar(ProgressBar),
    Lines {
        to: LineSink,
        /// When the last line was written (the start, before the first).
        last: Mutex<Instant>,
    },
}

/// Where plain lines go.
enum LineSink {
    /// `eprintln!`: a command-line tool, whose stdout carries its result.
    Stderr,
    /// The caller's log: a service, whose output is its log.
    Log(fn(&str)),
    /// Kept, for the tests.
    #[cfg(test)]
    Kept(Mutex<Vec<String>>),
}

impl Progress {
    /// Progress of a command-line tool counting items: a bar on stderr if it is a terminal,
    /// else plain lines on stderr.
    pub fn new(label: impl Into<String>, total: Option<u64>) -> Self {
        Self::on_stderr(label.into(), total, Unit::Items)
    }

    /// As [`Progress::new`], counting bytes.
    pub fn bytes(label: impl Into<String>, total: Option<u64>) -> Self {
        Self::on_stderr(label.into(), total, Unit::Bytes)
    }

    /// Progress of a service that logs: plain lines written by `log`, wherever the log goes (a
    /// bar would be torn by the log lines written past it). `log` is the caller's, e.g.
    /// `|line| tracing::info!("{line}")`, so that the lines carry the caller's module as their
    /// target and `RUST_LOG` filters them with the rest of its log.
    pub fn logged(label: impl Into<String>, total: Option<u64>, log: fn(&str)) -> Self {
        Self::with_sink(
            label.into(),
            total,
            Unit::Items,
            Self::lines(LineSink::Log(log)),
        )
    }

    fn on_stderr(label: String, total: Option<u64>, unit: Unit) -> Self {
        let sink = if std::io::stderr().is_terminal() {
            Sink::Bar(bar(&label, total, unit))
        } else {
            Self::lines(LineSink::Stderr)
        };
        Self::with_sink(label, total, unit, sink)
    }

    fn lines(to: LineSink) -> Sink {
        Sink::Lines {
            to,
            last: Mutex::new(Instant::now()),
        }
    }

    fn with_sink(label: String, total: Option<u64>, unit: Unit, sink: Sink) -> Self {
        let started = match &sink {
            Sink::Lines { last, .. } => *last.lock().unwrap_or_else(PoisonError::into_inner),
            Sink::Bar(_) => Instant::now(),
        };
        Self {
            inner: Arc::new(Inner {
                label,
                unit,
                started,
                done: AtomicU64::new(0),
                total: AtomicU64::new(total.unwrap_or(NO_TOTAL)),
                message: Mutex::new(String::new()),
                finished: AtomicBool::new(false),
                sink,
            }),
        }
    }

    /// Counts `n` more done.
    pub fn inc(&self, n: u64) {
        self.inc_at(n, Instant::now());
    }

    /// Sets how many are done.
    pub fn set(&self, done: u64) {
        self.set_at(done, Instant::now());
    }

    /// Sets the total, once it is known (or when it changes).
    pub fn set_total(&self, total: u64) {
        self.inner.total.store(total, Ordering::Relaxed);
        if let Sink::Bar(bar) = &self.inner.sink {
            bar.set_style(style(true, self.inner.unit));
            bar.set_length(total);
        }
    }

    /// Sets the text after the count (e.g. `12 ok, 0 errors` or the phase under way).
    pub fn set_message(&self, message: impl Into<String>) {
        let message = message.into();
        if let Sink::Bar(bar) = &self.inner.sink {
            bar.set_message(message.clone());
        }
        *self.inner.lock_message() = message;
    }

    /// Writes `line` on stdout without tearing the bar (which is hidden while it is written).
    pub fn println(&self, line: impl AsRef<str>) {
        match &self.inner.sink {
            Sink::Bar(bar) => bar.suspend(|| println!("{}", line.as_ref())),
            Sink::Lines { .. } => println!("{}", line.as_ref()),
        }
    }

    /// How many are done.
    pub fn done(&self) -> u64 {
        self.inner.done.load(Ordering::Relaxed)
    }

    /// Ends the operation: the bar is cleared and one last line is written, the progress line
    /// followed by `summary` (or by the message when `summary` is empty). Only the first call
    /// writes; later ones do nothing.
    pub fn finish(&self, summary: impl AsRef<str>) {
        self.finish_at(summary.as_ref(), Instant::now());
    }

    fn inc_at(&self, n: u64, now: Instant) {
        self.inner.done.fetch_add(n, Ordering::Relaxed);
        if let Sink::Bar(bar) = &self.inner.sink {
            bar.inc(n);
        }
        self.maybe_line(now);
    }

    fn set_at(&self, done: u64, now: Instant) {
        self.inner.done.store(done, Ordering::Relaxed);
        if let Sink::Bar(bar) = &self.inner.sink {
            bar.set_position(done);
        }
        self.maybe_line(now);
    }

    fn finish_at(&self, summary: &str, now: Instant) {
        if self.inner.finished.swap(true, Ordering::Relaxed) {
            return;
        }
        let mut line = self.inner.line(now);
        let tail = if summary.is_empty() {
            self.inner.lock_message().clone()
        } else {
            summary.to_owned()
        };
        if !tail.is_empty() {
            let _ = write!(line, "; {tail}");
        }
        match &self.inner.sink {
            Sink::Bar(bar) => {
                bar.finish_and_clear();
                eprintln!("{line}");
            }
            Sink::Lines { to, .. } => to.write(line),
        }
    }

    /// A plain line if one is due at `now`. With many workers counting at once, one that finds
    /// another deciding skips: that one writes the line.
    fn maybe_line(&self, now: Instant) {
        let Sink::Lines { to, last } = &self.inner.sink else {
            return;
        };
        if self.inner.finished.load(Ordering::Relaxed) {
            return;
        }
        let Ok(mut last) = last.try_lock() else {
            return;
        };
        if !line_due(*last, now) {
            return;
        }
        *last = now;
        drop(last);
        let mut line = self.inner.line(now);
        let message = self.inner.lock_message().clone();
        if !message.is_empty() {
            let _ = write!(line, "; {message}");
        }
        to.write(line);
    }

    /// A progress reporting into `kept`, for the tests.
    #[cfg(test)]
    fn kept(label: &str, total: Option<u64>, unit: Unit, start: Instant) -> Self {
        let sink = Sink::Lines {
            to: LineSink::Kept(Mutex::new(Vec::new())),
            last: Mutex::new(start),
        };
        Self::with_sink(label.to_owned(), total, unit, sink)
    }

    #[cfg(test)]
    fn lines_kept(&self) -> Vec<String> {
        match &self.inner.sink {
            Sink::Lines {
                to: LineSink::Kept(lines),
                ..
            } => lines.lock().unwrap_or_else(PoisonError::into_inner).clone(),
            _ => Vec::new(),
        }
    }
}

impl Inner {
    fn lock_message(&self) -> std::sync::MutexGuard<'_, String> {
        self.message.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn line(&self, now: Instant) -> String {
        let total = match self.total.load(Ordering::Relaxed) {
            NO_TOTAL => None,
            total => Some(total),
        };
        format_line(
            &self.label,
            self.unit,
            self.done.load(Ordering::Relaxed),
            total,
            now.saturating_duration_since(self.started),
        )
    }
}

impl LineSink {
    fn write(&self, line: String) {
        match self {
            Self::Stderr => eprintln!("{line}"),
            Self::Log(log) => log(&line),
            #[cfg(test)]
            Self::Kept(lines) => lines
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line),
        }
    }
}

/// Whether a plain line is due at `now`, the last one (or the start) having been at `last`.
fn line_due(last: Instant, now: Instant) -> bool {
    now.saturating_duration_since(last) >= LINE_EVERY
}

/// `label: 1234 of 5000 (24%) in 4.0 s, 308/s`, or without a total `label: 1234 in 4.0 s,
/// 308/s`; bytes as `1.50 MiB`.
pub fn format_line(
    label: &str,
    unit: Unit,
    done: u64,
    total: Option<u64>,
    elapsed: Duration,
) -> String {
    let amount = |n: u64| match unit {
        Unit::Items => n.to_string(),
        Unit::Bytes => HumanBytes(n).to_string(),
    };
    let mut line = format!("{label}: {}", amount(done));
    if let Some(total) = total {
        let _ = write!(line, " of {} ({}%)", amount(total), percent(done, total));
    }
    let _ = write!(line, " in {}", format_elapsed(elapsed));
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        let rate = done as f64 / seconds;
        match unit {
            Unit::Items if rate >= 100.0 => {
                let _ = write!(line, ", {rate:.0}/s");
            }
            Unit::Items => {
                let _ = write!(line, ", {rate:.1}/s");
            }
            Unit::Bytes => {
                let _ = write!(line, ", {}/s", HumanBytes(rate as u64));
            }
        }
    }
    line
}

/// Whole percent done, rounded down (100 only when done); an empty total is done.
fn percent(done: u64, total: u64) -> u64 {
    if total == 0 {
        return 100;
    }
    (u128::from(done) * 100 / u128::from(total))
        .try_into()
        .unwrap_or(u64::MAX)
}

/// `4.0 s`, `12 s`, `3 min 05 s`, `2 h 03 min`.
fn format_elapsed(elapsed: Duration) -> String {
    let seconds = elapsed.as_secs();
    match seconds {
        0..=9 => format!("{:.1} s", elapsed.as_secs_f64()),
        10..=59 => format!("{seconds} s"),
        60..=3599 => format!("{} min {:02} s", seconds / 60, seconds % 60),
        _ => format!("{} h {:02} min", seconds / 3600, seconds % 3600 / 60),
    }
}

fn bar(label: &str, total: Option<u64>, unit: Unit) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr_with_hz(REDRAW_HZ));
    bar.set_style(style(total.is_some(), unit));
    bar.set_prefix(label.to_owned());
    if total.is_none() {
        // A spinner with nothing counted yet should still show the operation is alive.
        bar.enable_steady_tick(Duration::from_millis(200));
    }
    bar
}

fn style(with_total: bool, unit: Unit) -> ProgressStyle {
    // The templates are constants (a test parses each): the fallback only keeps this from
    // ever panicking.
    ProgressStyle::with_template(template(with_total, unit))
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// The bar's line; `wide_msg` takes what the terminal has left, so that a long message is cut
/// rather than wrapped onto a second line (which would break the redraw in place).
fn template(with_total: bool, unit: Unit) -> &'static str {
    match (with_total, unit) {
        (true, Unit::Items) => {
            "{prefix} [{elapsed}] [{bar:25}] {human_pos}/{human_len} ({percent}%) {per_sec} \
             ETA {eta} {wide_msg}"
        }
        (true, Unit::Bytes) => {
            "{prefix} [{elapsed}] [{bar:25}] {bytes}/{total_bytes} ({percent}%) \
             {bytes_per_sec} ETA {eta} {wide_msg}"
        }
        (false, Unit::Items) => "{spinner} {prefix} [{elapsed}] {human_pos} {per_sec} {wide_msg}",
        (false, Unit::Bytes) => "{spinner} {prefix} [{elapsed}] {bytes} {bytes_per_sec} {wide_msg}",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_line_gives_count_total_percentage_time_and_rate() {
        assert_eq!(
            format_line("h2 import", Unit::Items, 1234, Some(5000), secs(4)),
            "h2 import: 1234 of 5000 (24%) in 4.0 s, 308/s"
        );
        assert_eq!(
            format_line("send1", Unit::Items, 25, None, secs(10)),
            "send1: 25 in 10 s, 2.5/s"
        );
        assert_eq!(
            format_line("h2 import", Unit::Bytes, 3 << 20, Some(12 << 20), secs(200)),
            "h2 import: 3.00 MiB of 12.00 MiB (25%) in 3 min 20 s, 15.36 KiB/s"
        );
    }

    #[test]
    fn a_line_at_the_start_has_no_rate_and_an_empty_total_is_done() {
        assert_eq!(
            format_line("move", Unit::Items, 0, Some(0), Duration::ZERO),
            "move: 0 of 0 (100%) in 0.0 s"
        );
    }

    #[test]
    fn percentages_round_down_and_survive_huge_counts() {
        assert_eq!(percent(999, 1000), 99);
        assert_eq!(percent(1000, 1000), 100);
        assert_eq!(percent(u64::MAX, u64::MAX), 100);
        assert_eq!(percent(1200, 1000), 120);
    }

    #[test]
    fn elapsed_time_reads_at_every_scale() {
        assert_eq!(format_elapsed(Duration::from_millis(2500)), "2.5 s");
        assert_eq!(format_elapsed(secs(59)), "59 s");
        assert_eq!(format_elapsed(secs(185)), "3 min 05 s");
        assert_eq!(format_elapsed(secs(7380)), "2 h 03 min");
    }

    #[test]
    fn a_line_is_due_every_ten_seconds_and_not_sooner() {
        let t = Instant::now();
        assert!(!line_due(t, t));
        assert!(!line_due(t, t + secs(9)));
        assert!(line_due(t, t + secs(10)));
        // A clock that seems to run back never makes a line due.
        assert!(!line_due(t + secs(5), t));
    }

    #[test]
    fn updates_write_at_most_one_line_per_interval_then_a_last_one() {
        let t = Instant::now();
        let progress = Progress::kept("move", Some(100), Unit::Items, t);
        progress.set_at(10, t + secs(1));
        progress.inc_at(10, t + secs(9));
        assert!(progress.lines_kept().is_empty());
        progress.inc_at(10, t + secs(10));
        progress.inc_at(10, t + secs(15));
        progress.inc_at(10, t + secs(19));
        progress.set_at(60, t + secs(20));
        progress.finish_at("60 moved", t + secs(30));
        progress.finish_at("again", t + secs(31));
        progress.inc_at(40, t + secs(60));
        assert_eq!(
            progress.lines_kept(),
            [
                "move: 30 of 100 (30%) in 10 s, 3.0/s",
                "move: 60 of 100 (60%) in 20 s, 3.0/s",
                "move: 60 of 100 (60%) in 30 s, 2.0/s; 60 moved",
            ]
        );
    }

    #[test]
    fn the_message_follows_the_count_and_ends_the_last_line_without_a_summary() {
        let t = Instant::now();
        let progress = Progress::kept("send1", None, Unit::Items, t);
        progress.set_message("4 ok, 1 errors");
        progress.inc_at(5, t + secs(10));
        progress.set_total(10);
        progress.finish_at("", t + secs(10));
        assert_eq!(
            progress.lines_kept(),
            [
                "send1: 5 in 10 s, 0.5/s; 4 ok, 1 errors",
                "send1: 5 of 10 (50%) in 10 s, 0.5/s; 4 ok, 1 errors",
            ]
        );
    }

    #[test]
    fn clones_count_into_one_total_from_many_threads() {
        let t = Instant::now();
        let progress = Progress::kept("sends", None, Unit::Items, t);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let progress = progress.clone();
                scope.spawn(move || {
                    for _ in 0..1000 {
                        progress.inc_at(1, t);
                    }
                });
            }
        });
        assert_eq!(progress.done(), 4000);
        assert!(progress.lines_kept().is_empty());
    }

    #[test]
    fn every_bar_template_parses() {
        for with_total in [true, false] {
            for unit in [Unit::Items, Unit::Bytes] {
                let parsed = ProgressStyle::with_template(template(with_total, unit));
                assert!(parsed.is_ok(), "{with_total} {unit:?}");
            }
        }
    }
}
