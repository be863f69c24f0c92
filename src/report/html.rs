//! The page: one HTML file with its CSS, script and data inline, nothing fetched.

use serde::Serialize;

use super::model::Model;

const CSS: &str = include_str!("timeline.css");
const JS: &str = include_str!("timeline.js");

/// What the page's header says about the run (from its summary, not its trace).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Header {
    pub scenario: String,
    pub seed: u64,
    pub dedup: String,
    pub ok: bool,
    pub replay: String,
    /// The run's text summary, shown under the header.
    pub summary: String,
}

#[derive(Serialize)]
struct Page<'a> {
    header: &'a Header,
    model: &'a Model,
}

/// Render the page.
pub fn render(header: &Header, model: &Model) -> String {
    let data = serde_json::to_string(&Page { header, model })
        .unwrap_or_else(|_| "{\"header\":{},\"model\":{}}".to_owned());
    let data = script_safe(&data);
    let title = escape_html(&format!(
        "idemsim {} seed {} — {}",
        header.scenario,
        header.seed,
        if header.ok { "PASS" } else { "FAIL" }
    ));
    let mut out = String::with_capacity(data.len() + CSS.len() + JS.len() + 2_048);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str(&format!(
        "<title>{title}</title>\n<style>\n{CSS}\n</style>\n</head>\n"
    ));
    out.push_str("<body>\n<noscript>This timeline needs JavaScript.</noscript>\n");
    out.push_str("<script type=\"application/json\" id=\"data\">");
    out.push_str(&data);
    out.push_str("</script>\n<script>\n");
    out.push_str(JS);
    out.push_str("\n</script>\n</body>\n</html>\n");
    out
}

/// JSON made safe inside a `<script>` element: no `<`, `>` or `&` (so no `</script>` or
/// `<!--`), and no U+2028/U+2029. Each is escaped as `\uXXXX`, which JSON reads back as the
/// same character; outside strings JSON never has them.
pub fn script_safe(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Text made safe inside HTML.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `</script>` (or `<!--`) in any value cannot end the data block early, and the data
    /// reads back unchanged.
    #[test]
    fn embedded_json_cannot_break_out_of_its_script() {
        let lines = [
            r#"{"t_us":1,"event":"submit","client":1,"seq":1,"op":"put","key":"</script><script>alert(1)</script>","value":"<!-- & \u2028","client_no":1}"#,
        ];
        let model = super::super::model::build(&lines, 1, 1);
        let header = Header {
            scenario: "</title><b>x".to_owned(),
            ..Header::default()
        };
        let page = render(&header, &model);
        let start = page.find("id=\"data\">").expect("data block") + "id=\"data\">".len();
        let end = start + page[start..].find("</script>").expect("end of data");
        let data = &page[start..end];
        assert!(!data.contains('<'), "{data}");
        assert!(!data.contains('\u{2028}'));
        let back: serde_json::Value = serde_json::from_str(data).expect("data is JSON");
        assert_eq!(
            back["model"]["ops"][0]["key"],
            "</script><script>alert(1)</script>"
        );
        assert_eq!(back["model"]["ops"][0]["value"], "<!-- & \u{2028}");
        assert_eq!(back["header"]["scenario"], "</title><b>x");
        assert!(page.contains("<title>idemsim &lt;/title&gt;&lt;b&gt;x seed 0"));
        assert_eq!(page.matches("<script").count(), 2, "no script injected");
    }

    /// The page fetches nothing: no external URLs in its markup, style or script.
    #[test]
    fn the_page_is_self_contained() {
        let page = render(&Header::default(), &Model::default());
        let page = page.replace("'http://www.w3.org/2000/svg'", "SVG_NS");
        for needle in [
            "http://", "https://", "src=", "@import", "url(http", "url(//", "<link",
        ] {
            assert!(!page.contains(needle), "page contains {needle}");
        }
    }
}
