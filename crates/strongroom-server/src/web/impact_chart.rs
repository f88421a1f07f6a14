//! The impact page's chart, drawn on the server as SVG (no JavaScript): downloads per UTC day
//! as bars, page reads as a line, and the incident's events as vertical markers placed on the
//! time axis by their time. Bounded: at most [`MAX_DAYS`] days are drawn (the latest), at
//! most [`MAX_MARKERS`] markers; every text is escaped for XML.

use std::fmt::Write as _;

/// µs in a day.
const DAY_US: i64 = 86_400_000_000;
/// Days drawn at most (the latest ones).
pub(crate) const MAX_DAYS: usize = 400;
/// Event markers drawn at most (the latest ones).
pub(crate) const MAX_MARKERS: usize = 100;

/// The chart's size and margins (px).
const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;

/// One event to mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Marker {
    /// µs.
    pub(crate) at: i64,
    /// A short word (upload, hold, removal...), used as the class and the label.
    pub(crate) kind: &'static str,
    /// The tooltip (escaped here).
    pub(crate) title: String,
}

/// Text made safe for XML text and attribute values.
pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // XML 1.0 has no place for other control characters.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn day_of(at: i64) -> i64 {
    at.div_euclid(DAY_US) * DAY_US
}

fn date(at: i64) -> String {
    strongroom_core::clock::iso8601_seconds(at)[..10].to_owned()
}

/// The SVG of `downloads` and `page_hits` per day (µs of the day's midnight, count) with
/// `markers`; `title` names the chart for screen readers.
pub(crate) fn render(
    title: &str,
    downloads: &[(i64, i64)],
    page_hits: &[(i64, i64)],
    markers: &[Marker],
) -> String {
    // The days shown: from the first to the last day anything happened, at most MAX_DAYS.
    let times = downloads
        .iter()
        .map(|d| d.0)
        .chain(page_hits.iter().map(|d| d.0))
        .chain(markers.iter().map(|m| day_of(m.at)));
    let (mut first, last) = match times.fold(None, |acc: Option<(i64, i64)>, t| match acc {
        None => Some((t, t)),
        Some((a, b)) => Some((a.min(t), b.max(t))),
    }) {
        Some((a, b)) => (day_of(a), day_of(b)),
        None => {
            let mut out = String::new();
            let _ = write!(
                out,
                r#"<svg xmlns="http://www.w3.org/2000/svg" class="impact-chart" role="img" width="{WIDTH}" height="60" viewBox="0 0 {WIDTH} 60"><title>{}</title><text x="10" y="30">Nothing on record.</text></svg>"#,
                xml_escape(title)
            );
            return out;
        }
    };
    let max_span = (MAX_DAYS as i64 - 1) * DAY_US;
    if last - first > max_span {
        first = last - max_span;
    }
    let days = usize::try_from((last - first) / DAY_US + 1).unwrap_or(1);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = plot_w / days as f64;
    let in_range = |d: i64| d >= first && d <= last;
    let peak = downloads
        .iter()
        .chain(page_hits.iter())
        .filter(|d| in_range(day_of(d.0)))
        .map(|d| d.1)
        .max()
        .unwrap_or(0)
        .max(1);
    let y_of = |n: i64| TOP + plot_h - (n as f64 / peak as f64) * plot_h;
    let x_of_day = |d: i64| LEFT + ((day_of(d) - first) / DAY_US) as f64 * slot;
    // A time's x within its day's slot.
    let x_of_time = |t: i64| LEFT + ((t - first) as f64 / DAY_US as f64) * slot;

    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="impact-chart" role="img" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}"><title>{}</title>"#,
        xml_escape(title)
    );
    // Axes and the peak's label.
    let _ = write!(
        out,
        r##"<g class="axes" stroke="#555" stroke-width="1"><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{y0:.1}"/><line x1="{LEFT}" y1="{y0:.1}" x2="{xr:.1}" y2="{y0:.1}"/></g><text class="peak" x="{lx:.1}" y="{ty:.1}" text-anchor="end" font-size="11">{peak}</text><text class="zero" x="{lx:.1}" y="{y0:.1}" text-anchor="end" font-size="11">0</text>"##,
        y0 = TOP + plot_h,
        xr = WIDTH - RIGHT,
        lx = LEFT - 4.0,
        ty = TOP + 10.0,
    );
    // Bars: downloads per day.
    out.push_str(r##"<g class="downloads" fill="#3a6ea5">"##);
    for &(d, n) in downloads.iter().filter(|d| in_range(day_of(d.0))) {
        let y = y_of(n);
        let _ = write!(
            out,
            r#"<rect data-day="{day}" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}"><title>{day}: {n} downloads</title></rect>"#,
            day = date(d),
            x = x_of_day(d) + slot * 0.1,
            w = (slot * 0.8).max(0.5),
            h = TOP + plot_h - y,
        );
    }
    out.push_str("</g>");
    // Line: page reads per day.
    let points: Vec<String> = page_hits
        .iter()
        .filter(|d| in_range(day_of(d.0)))
        .map(|&(d, n)| format!("{:.1},{:.1}", x_of_day(d) + slot / 2.0, y_of(n)))
        .collect();
    if !points.is_empty() {
        let _ = write!(
            out,
            r##"<polyline class="page-hits" fill="none" stroke="#c77c02" stroke-width="2" points="{}"/>"##,
            points.join(" ")
        );
    }
    // Markers: the latest events, at their time.
    let shown: Vec<&Marker> = markers.iter().filter(|m| in_range(day_of(m.at))).collect();
    let skip = shown.len().saturating_sub(MAX_MARKERS);
    out.push_str(r##"<g class="events" stroke="#b00020" stroke-width="1.5">"##);
    for m in shown.into_iter().skip(skip) {
        let x = x_of_time(m.at);
        let kind = xml_escape(m.kind);
        let _ = write!(
            out,
            r##"<g class="event event-{kind}" data-day="{day}"><line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{y0:.1}" stroke-dasharray="4 3"/><text x="{x:.1}" y="{ty:.1}" font-size="10" fill="#b00020" stroke="none" text-anchor="middle">{kind}</text><title>{title}</title></g>"##,
            day = date(m.at),
            y0 = TOP + plot_h,
            ty = HEIGHT - BOTTOM + 26.0,
            title = xml_escape(&m.title),
        );
    }
    out.push_str("</g>");
    // The first and last dates under the axis.
    let _ = write!(
        out,
        r#"<text class="first-day" x="{LEFT}" y="{y:.1}" font-size="11">{}</text><text class="last-day" x="{xr:.1}" y="{y:.1}" font-size="11" text-anchor="end">{}</text>"#,
        date(first),
        date(last),
        y = TOP + plot_h + 12.0,
        xr = WIDTH - RIGHT,
    );
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const D0: i64 = 20_000 * DAY_US;

    /// Well-formed: every element opened is closed, in order (a small XML walk, enough for
    /// what `render` writes: no comments, no CDATA, attribute values escaped).
    fn assert_well_formed(svg: &str) {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = svg;
        while let Some(start) = rest.find('<') {
            assert!(!rest[..start].contains('>'), "stray '>' in {svg}");
            let end = rest[start..].find('>').expect("unclosed tag") + start;
            let tag = &rest[start + 1..end];
            assert!(!tag.contains('<'), "'<' inside a tag: {tag}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
            } else if !tag.ends_with('/') {
                let name = tag.split_whitespace().next().expect("tag name");
                stack.push(name.to_owned());
            }
            // Attribute values hold no raw '<' or '&' that is not an entity.
            for (i, _) in tag.match_indices('&') {
                let after = &tag[i..];
                assert!(
                    after.starts_with("&amp;")
                        || after.starts_with("&lt;")
                        || after.starts_with("&gt;")
                        || after.starts_with("&quot;")
                        || after.starts_with("&#39;"),
                    "raw & in {tag}"
                );
            }
            rest = &rest[end + 1..];
        }
        assert!(stack.is_empty(), "unclosed {stack:?}");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    /// The x of the marker whose class is `event-{kind}`.
    fn marker_x(svg: &str, kind: &str) -> f64 {
        let g = svg
            .find(&format!("event event-{kind}"))
            .unwrap_or_else(|| panic!("no {kind} marker"));
        let x = &svg[g..];
        let x = &x[x.find("x1=\"").expect("x1") + 4..];
        x[..x.find('"').expect("end")].parse().expect("number")
    }

    #[test]
    fn bars_per_day_and_markers_placed_by_date() {
        let downloads = [(D0, 4), (D0 + DAY_US, 10), (D0 + 3 * DAY_US, 1)];
        let hits = [(D0, 20), (D0 + 3 * DAY_US, 2)];
        let markers = [
            Marker {
                at: D0 + DAY_US / 2,
                kind: "upload",
                title: "upload of ctx 0.2.2".into(),
            },
            Marker {
                at: D0 + 3 * DAY_US + DAY_US / 4,
                kind: "removal",
                title: "removed <by admin> & \"burned\"".into(),
            },
        ];
        let svg = render("ctx: downloads per day", &downloads, &hits, &markers);
        assert_well_formed(&svg);
        assert_eq!(svg.matches("<rect ").count(), 3);
        assert!(svg.contains(&format!(r#"<rect data-day="{}""#, date(D0 + 3 * DAY_US))));
        // Four days drawn: each slot is a quarter of the plot; the upload falls in the first
        // day's middle, the removal a quarter into the fourth day.
        let slot = (WIDTH - LEFT - RIGHT) / 4.0;
        assert!(
            (marker_x(&svg, "upload") - (LEFT + slot * 0.5)).abs() < 0.2,
            "{svg}"
        );
        assert!(
            (marker_x(&svg, "removal") - (LEFT + slot * 3.25)).abs() < 0.2,
            "{svg}"
        );
        assert!(marker_x(&svg, "upload") < marker_x(&svg, "removal"));
        // Each marker names its day; titles are escaped.
        assert!(svg.contains(&format!(r#"event event-upload" data-day="{}""#, date(D0))));
        assert!(svg.contains(&format!(
            r#"event event-removal" data-day="{}""#,
            date(D0 + 3 * DAY_US)
        )));
        assert!(svg.contains("removed &lt;by admin&gt; &amp; &quot;burned&quot;"));
        assert!(!svg.contains("<by admin>"));
        // The tallest bar reaches the top of the plot (20 page reads are the peak, so 10
        // downloads reach half way).
        assert!(svg.contains(">20</text>"));
        assert!(svg.contains("<polyline"));
    }

    #[test]
    fn hostile_titles_and_empty_data() {
        let svg = render("<script>alert(1)</script>", &[], &[], &[]);
        assert_well_formed(&svg);
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("Nothing on record."));
        let kind_svg = render(
            "x",
            &[(D0, 1)],
            &[],
            &[Marker {
                at: D0,
                kind: "hold",
                title: "\u{1b}[31m'quoted'".into(),
            }],
        );
        assert_well_formed(&kind_svg);
        assert!(kind_svg.contains("\u{fffd}[31m&#39;quoted&#39;"));
    }

    #[test]
    fn the_drawing_is_bounded() {
        let downloads: Vec<(i64, i64)> = (0..2_000).map(|i| (D0 + i * DAY_US, i)).collect();
        let markers: Vec<Marker> = (0..1_000)
            .map(|i| Marker {
                at: D0 + (1_999 - i % 300) * DAY_US,
                kind: "upload",
                title: String::new(),
            })
            .collect();
        let svg = render("many", &downloads, &[], &markers);
        assert_well_formed(&svg);
        assert_eq!(svg.matches("<rect ").count(), MAX_DAYS);
        assert_eq!(svg.matches("event event-upload").count(), MAX_MARKERS);
        assert!(svg.len() < 200_000, "{}", svg.len());
    }
}
