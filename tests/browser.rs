//! The `run --html` timeline in a real browser: headless Chromium loads the page, runs its
//! script, and the tests read the DOM it built (lanes, op bars, the violation marker) and
//! decode its screenshot. Without Chromium these tests print a notice and pass, unless `CI`
//! is set: then they fail, so CI cannot skip them silently (`.ci/run` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const LOSSY: &str = "sim-scenarios/lossy-duplicating-network.toml";

/// The Chromium binary, or `None` (after the notice) when it is missing outside CI.
fn chromium() -> Option<PathBuf> {
    let names = [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ];
    let explicit = std::env::var_os("IDEMSIM_CHROMIUM").map(PathBuf::from);
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = explicit.or_else(|| {
        std::env::split_paths(&path)
            .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "Chromium is not installed, and CI is set: the browser tests must run there \
             (apt-get install -y chromium, or set IDEMSIM_CHROMIUM to a Chromium binary)"
        );
        eprintln!("notice: Chromium not found on PATH; skipping the browser test");
    }
    found
}

/// What one `idemsim run --html` produced.
struct Report {
    html: PathBuf,
    exit: i32,
    /// The JSONL trace of the same run (--trace jsonl alongside --html).
    trace: String,
    /// Its JSON summary.
    summary: serde_json::Value,
}

fn generate(dir: &Path, name: &str, args: &[&str]) -> Report {
    let html = dir.join(format!("{name}.html"));
    let out = Command::new(env!("CARGO_BIN_EXE_idemsim"))
        .arg("run")
        .args(args)
        .args(["--trace", "jsonl", "--format", "json", "--html"])
        .arg(&html)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("idemsim runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary_line = stderr
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON summary on stderr: {stderr}"));
    Report {
        html,
        exit: out.status.code().expect("exited"),
        trace: String::from_utf8(out.stdout).expect("utf-8 trace"),
        summary: serde_json::from_str(summary_line).expect("summary is JSON"),
    }
}

fn url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// Chromium's DOM of the page after its script ran, and how long it took.
fn dump_dom(chromium: &Path, page: &Path) -> (String, Duration) {
    let started = Instant::now();
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(url(page))
        .output()
        .expect("chromium runs");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (String::from_utf8_lossy(&out.stdout).into_owned(), took)
}

/// Chromium's 1400×900 screenshot of the page, decoded: (width, height, RGB pixels).
fn screenshot(chromium: &Path, page: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let png_path = page.with_extension("png");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--hide-scrollbars",
            "--virtual-time-budget=5000",
            "--window-size=1400,900",
        ])
        .arg(format!("--screenshot={}", png_path.display()))
        .arg(url(page))
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = std::fs::File::open(&png_path).expect("screenshot written");
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("sized")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let channels = info.color_type.samples();
    assert!(
        channels >= 3,
        "colour screenshot, got {:?}",
        info.color_type
    );
    let pixels = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, pixels)
}

/// Elements whose `class` attribute starts with `prefix` (the page's classes are written
/// in a fixed order, so this is exact).
fn count_class(dom: &str, prefix: &str) -> usize {
    dom.matches(&format!("class=\"{prefix}")).count()
}

fn count_events(trace: &str, event: &str) -> usize {
    trace.matches(&format!("\"event\":\"{event}\"")).count()
}

/// The DOM has a lane per node and per client, one bar per submitted op, and JS finished.
fn check_dom(dom: &str, report: &Report) {
    assert!(
        dom.contains("data-rendered=\"true\""),
        "the script did not finish"
    );
    let nodes = report.summary["nodes"].as_u64().expect("nodes") as usize;
    let clients = report.summary["clients"].as_u64().expect("clients") as usize;
    assert_eq!(count_class(dom, "lane lane-node"), nodes, "node lanes");
    assert_eq!(
        count_class(dom, "lane lane-client"),
        clients,
        "client lanes"
    );
    for n in 1..=nodes {
        assert!(dom.contains(&format!("id=\"lane-n{n}\"")), "lane of n{n}");
    }
    let submits = count_events(&report.trace, "submit");
    assert!(submits > 0, "the run submitted ops");
    assert_eq!(count_class(dom, "op-bar "), submits, "one bar per submit");
    assert!(dom.contains("data-seq=\"1\""), "bars carry their seq");
}

/// Non-blank: most of the page is not background, and it has many colours.
fn check_screenshot(name: &str, (w, h, pixels): (u32, u32, Vec<[u8; 3]>)) {
    assert_eq!((w, h), (1400, 900), "{name}: screenshot size");
    let mut colours = std::collections::HashSet::new();
    let mut ink = 0;
    for p in &pixels {
        colours.insert(*p);
        if p.iter().any(|&c| c < 235) {
            ink += 1;
        }
    }
    let ink_share = ink as f64 / pixels.len() as f64;
    eprintln!(
        "{name}: {} colours, {:.1}% non-background pixels",
        colours.len(),
        ink_share * 100.0
    );
    assert!(
        colours.len() >= 50,
        "{name}: only {} colours: blank?",
        colours.len()
    );
    assert!(
        ink_share > 0.03,
        "{name}: only {:.2}% drawn",
        ink_share * 100.0
    );
    // The op bars' green (applied) is on screen.
    let green = pixels
        .iter()
        .filter(|p| p[1] > 130 && p[0] < 90 && p[2] < 110)
        .count();
    assert!(
        green > 500,
        "{name}: only {green} green pixels: no op bars drawn?"
    );
}

/// A passing run: lanes, bars, no violation marker, and a screenshot that is not blank.
#[test]
fn passing_run_renders() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let report = generate(dir.path(), "pass", &["--seed", "42"]);
    assert_eq!(report.exit, 0, "the default scenario passes");
    let (dom, took) = dump_dom(&chromium, &report.html);
    eprintln!("pass: DOM in {took:?}");
    check_dom(&dom, &report);
    assert!(
        !dom.contains("id=\"violation\""),
        "a pass marks no violation"
    );
    assert!(dom.contains("Every rule held."));
    check_screenshot("pass", screenshot(&chromium, &report.html));
}

/// A failing run (`--dedup off` on a lossy, duplicating network): the violation marker is
/// there, on the op it names, and linked from the verdict box.
#[test]
fn failing_run_marks_the_violation() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let report = generate(
        dir.path(),
        "fail",
        &[LOSSY, "--seed", "11", "--dedup", "off", "--messages"],
    );
    assert_eq!(
        report.exit, 1,
        "seed 11 without dedup applies a retry twice"
    );
    let (dom, took) = dump_dom(&chromium, &report.html);
    eprintln!("fail: DOM in {took:?}");
    check_dom(&dom, &report);
    assert!(dom.contains("id=\"violation\""), "the violation marker");
    assert!(dom.contains("data-rule=\"exactly-once\""));
    assert!(count_class(&dom, "violation-link") > 0, "verdict box links");
    assert!(
        dom.contains("op-bar applied violated"),
        "the violating op is highlighted"
    );
    assert!(dom.contains("class=\"badge fail\""));
    check_screenshot("fail", screenshot(&chromium, &report.html));
}

/// A run of more than 10,000 events (every message traced) renders all its bars quickly.
#[test]
fn ten_thousand_events_render() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let report = generate(
        dir.path(),
        "big",
        &["sim-scenarios/partitioned-leader.toml", "--messages"],
    );
    let events = report.trace.lines().count();
    assert!(events > 10_000, "only {events} events");
    let size = std::fs::metadata(&report.html).expect("page").len();
    let (dom, took) = dump_dom(&chromium, &report.html);
    eprintln!("big: {events} events, page {size} bytes, DOM in {took:?}");
    check_dom(&dom, &report);
    assert!(took < Duration::from_secs(30), "rendering took {took:?}");
}
