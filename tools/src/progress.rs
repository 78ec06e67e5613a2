//! Progress bars for long operations: bytes done, total, rate and time left.
//!
//! A [`Progress`] is either a visible `indicatif` bar (drawn on stderr) or nothing at all;
//! library functions take `&Progress` and never need to know which. Bars are shown only when
//! stdout is a terminal and `--quiet` was not given (see [`Progress::for_terminal`]).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A byte-counting progress bar, or a no-op when hidden.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

const TEMPLATE: &str = "{msg:>10} [{wide_bar}] {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, {eta})";

impl Progress {
    /// A progress that shows nothing.
    pub fn hidden() -> Self {
        Progress { bar: None }
    }

    /// A visible bar when stdout is a terminal and not `quiet`, else [`Progress::hidden`].
    pub fn for_terminal(quiet: bool) -> Self {
        if quiet || !std::io::stdout().is_terminal() {
            return Progress::hidden();
        }
        let bar = ProgressBar::new(0);
        if let Ok(style) = ProgressStyle::with_template(TEMPLATE) {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress { bar: Some(bar) }
    }

    /// True when a bar is drawn.
    pub fn is_visible(&self) -> bool {
        self.bar.is_some()
    }

    /// Starts a phase named `what` of `total` bytes, from zero.
    pub fn start(&self, what: &str, total: u64) {
        if let Some(b) = &self.bar {
            b.reset();
            b.set_length(total);
            b.set_position(0);
            b.set_message(what.to_string());
        }
    }

    /// Records `bytes` more done.
    pub fn inc(&self, bytes: u64) {
        if let Some(b) = &self.bar {
            b.inc(bytes);
        }
    }

    /// Ends the current phase and clears the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
