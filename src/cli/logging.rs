//! Log output on stderr for `serve` and `run --trace tracing`: `tracing` events, filtered by
//! `RUST_LOG`, in colour only on a terminal and never when `NO_COLOR` is set.

use std::io::{self, IsTerminal};

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Whether output to a stream may use ANSI colours: only to a terminal, and never when
/// `no_color` (the `NO_COLOR` variable, <https://no-color.org>) is set and not empty.
pub fn colour(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// What `RUST_LOG` selects (`target=level` directives, comma-separated, or a bare level),
/// or `default` when it is unset or cannot be read.
fn filter(rust_log: Option<&str>, default: &str) -> Targets {
    rust_log
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| default.parse().expect("a valid default filter"))
}

/// How log lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// A real node: wall-clock time first (the node name is in the message).
    Node,
    /// A simulated run's trace: no wall clock (events carry simulated time), the target shown.
    Trace,
}

/// Send `tracing` events to stderr, filtered by `RUST_LOG` (default: `default_filter`, such as
/// `info`). Does nothing if logging is already set up.
pub fn init(default_filter: &str, style: Style) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let targets = filter(rust_log.as_deref(), default_filter);
    let ansi = colour(
        io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_ansi(ansi)
        .with_max_level(tracing::Level::TRACE);
    let _ = match style {
        Style::Node => builder.with_target(false).finish().with(targets).try_init(),
        Style::Trace => builder.without_time().finish().with(targets).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    /// Colour only on a terminal, and `NO_COLOR` (any non-empty value) always wins.
    #[test]
    fn no_color_turns_colour_off() {
        let cases = [
            (true, None, true),
            (false, None, false),
            (true, Some("1"), false),
            (true, Some(""), true),
            (false, Some("1"), false),
        ];
        for (i, (terminal, no_color, want)) in cases.into_iter().enumerate() {
            assert_eq!(colour(terminal, no_color.map(OsStr::new)), want, "case {i}");
        }
    }

    /// `RUST_LOG` directives select targets and levels; an unreadable one falls back.
    #[test]
    fn rust_log_selects_targets() {
        use tracing::Level;
        let t = filter(Some("idemsim::trace=info"), "warn");
        assert!(t.would_enable("idemsim::trace", &Level::INFO));
        assert!(!t.would_enable("idemsim::net", &Level::INFO));
        let t = filter(Some("=garbage=="), "warn");
        assert!(t.would_enable("anything", &Level::WARN));
        assert!(!t.would_enable("anything", &Level::INFO));
        let t = filter(None, "info");
        assert!(t.would_enable("idemsim::net::server", &Level::INFO));
    }
}
