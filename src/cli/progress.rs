//! Progress on stderr for long campaigns: a bar when stderr is a terminal, nothing otherwise.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `total` runs, hidden when stderr is not a terminal (logs, CI, pipes).
pub fn bar(total: u64, what: &str) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    let template = format!("{what} [{{bar:40}}] {{pos}}/{{len}} runs · {{per_sec}} · eta {{eta}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Keep the panic message of a run quiet: campaigns report a panicking run themselves, as a
/// failure of its seed, and a backtrace per run would drown the output. Panics anywhere
/// else still print. Installed once, for the rest of the process.
pub fn quiet_run_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !crate::campaign::in_run() {
            previous(info);
        }
    }));
}
