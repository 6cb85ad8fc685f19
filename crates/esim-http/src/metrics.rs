//! Prometheus text exposition (format 0.0.4) of the binding's counters, written by hand:
//! calls per function and HTTP status, call durations per function (histogram), and the
//! operations answered `202` that no poll has yet seen finish.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Upper bounds (seconds) of the duration histogram buckets.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Most operations tracked as pending (the gauge saturates there; memory stays bounded).
const MAX_PENDING: usize = 100_000;

/// An operation answered `202` and never polled to its end (its result went by callback, or
/// its caller gave up) stops counting as pending after this long.
const PENDING_TTL: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Debug, Default)]
struct Inner {
    calls: BTreeMap<(String, u16), u64>,
    durations: BTreeMap<String, Histogram>,
    pending: HashMap<String, Instant>,
}

impl Inner {
    fn prune(&mut self) {
        self.pending
            .retain(|_, since| since.elapsed() < PENDING_TTL);
    }
}

/// The counters of one server.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one call of `function` (a label from a fixed set, never caller-chosen text).
    pub(crate) fn record(&self, function: &str, status: u16, elapsed: Duration) {
        let mut m = self.lock();
        *m.calls.entry((function.to_owned(), status)).or_default() += 1;
        let h = m.durations.entry(function.to_owned()).or_default();
        let s = elapsed.as_secs_f64();
        for (i, le) in BUCKETS.iter().enumerate() {
            if s <= *le
                && let Some(c) = h.counts.get_mut(i)
            {
                *c += 1;
            }
        }
        h.sum += s;
        h.count += 1;
    }

    /// An operation was answered `202`.
    pub(crate) fn pending(&self, operation: &str) {
        let mut m = self.lock();
        if m.pending.len() >= MAX_PENDING {
            m.prune();
        }
        if m.pending.len() < MAX_PENDING {
            m.pending.insert(operation.to_owned(), Instant::now());
        }
    }

    /// An operation was seen finished.
    pub(crate) fn done(&self, operation: &str) {
        self.lock().pending.remove(operation);
    }

    /// The exposition text.
    pub(crate) fn render(&self) -> String {
        let mut m = self.lock();
        m.prune();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP esim_http_calls_total Calls of the JSON binding by function and HTTP status."
        );
        let _ = writeln!(out, "# TYPE esim_http_calls_total counter");
        for ((f, status), n) in &m.calls {
            let _ = writeln!(
                out,
                "esim_http_calls_total{{function=\"{}\",status=\"{status}\"}} {n}",
                escape(f)
            );
        }
        let _ = writeln!(
            out,
            "# HELP esim_http_call_duration_seconds Time to answer a call of the JSON binding."
        );
        let _ = writeln!(out, "# TYPE esim_http_call_duration_seconds histogram");
        for (f, h) in &m.durations {
            let f = escape(f);
            for (le, c) in BUCKETS.iter().zip(h.counts.iter()) {
                let _ = writeln!(
                    out,
                    "esim_http_call_duration_seconds_bucket{{function=\"{f}\",le=\"{le}\"}} {c}"
                );
            }
            let _ = writeln!(
                out,
                "esim_http_call_duration_seconds_bucket{{function=\"{f}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "esim_http_call_duration_seconds_sum{{function=\"{f}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "esim_http_call_duration_seconds_count{{function=\"{f}\"}} {}",
                h.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP esim_http_pending_operations Operations answered 202 and not yet seen finished."
        );
        let _ = writeln!(out, "# TYPE esim_http_pending_operations gauge");
        let _ = writeln!(out, "esim_http_pending_operations {}", m.pending.len());
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_histogram_and_gauge() {
        let m = Metrics::default();
        m.record("ES3.CreateISDP", 200, Duration::from_millis(20));
        m.record("ES3.CreateISDP", 200, Duration::from_secs(2));
        m.record("ES3.CreateISDP", 401, Duration::from_millis(1));
        m.pending("a");
        m.pending("b");
        m.done("a");
        let t = m.render();
        assert!(t.contains("esim_http_calls_total{function=\"ES3.CreateISDP\",status=\"200\"} 2"));
        assert!(t.contains("esim_http_calls_total{function=\"ES3.CreateISDP\",status=\"401\"} 1"));
        assert!(t.contains(
            "esim_http_call_duration_seconds_bucket{function=\"ES3.CreateISDP\",le=\"0.025\"} 2"
        ));
        assert!(t.contains(
            "esim_http_call_duration_seconds_bucket{function=\"ES3.CreateISDP\",le=\"+Inf\"} 3"
        ));
        assert!(t.contains("esim_http_call_duration_seconds_count{function=\"ES3.CreateISDP\"} 3"));
        assert!(t.contains("esim_http_pending_operations 1"));
        assert_eq!(escape("a\"b\\"), "a\\\"b\\\\");
    }
}
