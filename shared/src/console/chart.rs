//! Charts as server-rendered SVG, each with its data table beside it: what is plotted is data
//! computed here, on the host, and tested like any other rule. No script, no external font.

use crate::html::escape;

/// One category of a chart: its label, this period's value and the previous period's.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    pub label: String,
    pub current: f64,
    pub previous: f64,
}

/// Pairs the categories of two periods (a category in either one is kept, 0 where it is
/// missing), largest this period first, ties by label.
pub fn pairs<V>(
    current: &std::collections::BTreeMap<String, V>,
    previous: &std::collections::BTreeMap<String, V>,
    value: impl Fn(&V) -> f64,
) -> Vec<Pair> {
    let mut labels: Vec<&String> = current.keys().chain(previous.keys()).collect();
    labels.sort();
    labels.dedup();
    let mut out: Vec<Pair> = labels
        .into_iter()
        .map(|l| Pair {
            label: l.clone(),
            current: current.get(l).map_or(0.0, &value),
            previous: previous.get(l).map_or(0.0, &value),
        })
        .collect();
    out.sort_by(|a, b| {
        b.current
            .total_cmp(&a.current)
            .then_with(|| a.label.cmp(&b.label))
    });
    out
}

/// A bar's geometry in the SVG's user units.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub y: f64,
    pub width: f64,
    pub value: f64,
    pub previous: bool,
}

/// Chart geometry: a label column, then bars scaled to the largest value.
pub const WIDTH: f64 = 360.0;
pub const LABEL_WIDTH: f64 = 120.0;
pub const VALUE_WIDTH: f64 = 40.0;
pub const BAR_HEIGHT: f64 = 14.0;
/// Height of one category: two bars and the gap after them.
pub const ROW_HEIGHT: f64 = 2.0 * BAR_HEIGHT + 10.0;

/// The bars of `pairs`, two per category (this period above the previous one), scaled so the
/// largest value fills the plot; all zero plots nothing wider than zero.
pub fn layout(pairs: &[Pair]) -> Vec<Bar> {
    let plot = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
    let max = pairs
        .iter()
        .flat_map(|p| [p.current, p.previous])
        .fold(0.0_f64, f64::max);
    let scale = if max > 0.0 { plot / max } else { 0.0 };
    let mut bars = Vec::with_capacity(pairs.len() * 2);
    for (i, p) in pairs.iter().enumerate() {
        let top = i as f64 * ROW_HEIGHT;
        for (value, previous, y) in [
            (p.current, false, top),
            (p.previous, true, top + BAR_HEIGHT),
        ] {
            bars.push(Bar {
                y,
                width: (value.max(0.0) * scale * 10.0).round() / 10.0,
                value,
                previous,
            });
        }
    }
    bars
}

/// A label short enough for the chart's label column (the table beside it has it in full).
pub fn short(label: &str) -> String {
    const MAX: usize = 18;
    if label.chars().count() <= MAX {
        return label.to_string();
    }
    let mut s: String = label.chars().take(MAX - 1).collect();
    s.push('…');
    s
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}")
    }
}

/// The change from `previous` to `current` in words: `+25%`, `−10%`, `new`, or `–`.
pub fn change(current: f64, previous: f64) -> String {
    if previous == 0.0 {
        return if current == 0.0 {
            "–".into()
        } else {
            "new".into()
        };
    }
    let pct = ((current - previous) / previous * 100.0).round();
    if pct > 0.0 {
        format!("+{pct}%")
    } else if pct < 0.0 {
        format!("\u{2212}{}%", -pct)
    } else {
        "0%".into()
    }
}

/// A grouped bar chart of `pairs` with its data table, under the heading `title`. `id` makes
/// the SVG's accessible name unique on the page.
pub fn bars(id: &str, title: &str, pairs: &[Pair]) -> String {
    let mut out = format!(
        "<figure class=\"chart\" id=\"{id}\"><figcaption>{}</figcaption>",
        escape(title)
    );
    if pairs.is_empty() {
        out.push_str("<p class=\"empty\">Nothing in this period.</p></figure>");
        return out;
    }
    let height = pairs.len() as f64 * ROW_HEIGHT;
    out.push_str(&format!(
        "<svg viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-labelledby=\"{id}-t\" preserveAspectRatio=\"xMinYMin meet\">\
         <title id=\"{id}-t\">{}: this period and the previous one</title>",
        escape(title)
    ));
    for (p, pair) in layout(pairs).chunks(2).zip(pairs) {
        out.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" class=\"label\">{}</text>",
            LABEL_WIDTH - 8.0,
            p[0].y + BAR_HEIGHT + 3.0,
            escape(&short(&pair.label))
        ));
        for bar in p {
            out.push_str(&format!(
                "<rect x=\"{LABEL_WIDTH}\" y=\"{}\" width=\"{}\" height=\"{}\" class=\"{}\"/>\
                 <text x=\"{}\" y=\"{}\" class=\"value\">{}</text>",
                bar.y,
                bar.width,
                BAR_HEIGHT - 2.0,
                if bar.previous { "prev" } else { "cur" },
                LABEL_WIDTH + bar.width + 4.0,
                bar.y + BAR_HEIGHT - 3.0,
                number(bar.value)
            ));
        }
    }
    out.push_str("</svg><table><thead><tr><th scope=\"col\"></th><th scope=\"col\">This period</th><th scope=\"col\">Previous</th><th scope=\"col\">Change</th></tr></thead><tbody>");
    for p in pairs {
        out.push_str(&format!(
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&p.label),
            number(p.current),
            number(p.previous),
            change(p.current, p.previous)
        ));
    }
    out.push_str("</tbody></table></figure>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(label: &str, current: f64, previous: f64) -> Pair {
        Pair {
            label: label.into(),
            current,
            previous,
        }
    }

    #[test]
    fn the_largest_value_fills_the_plot_and_the_rest_scale_to_it() {
        let bars = layout(&[pair("a", 40.0, 20.0), pair("b", 10.0, 0.0)]);
        let plot = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
        assert_eq!(bars.len(), 4);
        assert_eq!(bars[0].width, plot);
        assert_eq!(bars[1].width, plot / 2.0);
        assert_eq!(bars[2].width, plot / 4.0);
        assert_eq!(bars[3].width, 0.0);
        assert!(bars[1].previous && !bars[0].previous);
        assert_eq!(bars[2].y, ROW_HEIGHT);
    }

    #[test]
    fn all_zero_values_draw_empty_bars_not_nan() {
        let bars = layout(&[pair("a", 0.0, 0.0)]);
        assert!(bars.iter().all(|b| b.width == 0.0));
    }

    #[test]
    fn long_labels_are_shortened_in_the_chart_only() {
        let long = "a-very-long-campaign-name-2026";
        assert_eq!(short(long).chars().count(), 18);
        assert!(short(long).ends_with('…'));
        let html = bars("c", "Campaigns", &[pair(long, 1.0, 0.0)]);
        assert!(html.contains(&format!("<th scope=\"row\">{long}</th>")));
    }

    #[test]
    fn changes_read_as_people_say_them() {
        assert_eq!(change(15.0, 10.0), "+50%");
        assert_eq!(change(9.0, 10.0), "\u{2212}10%");
        assert_eq!(change(10.0, 10.0), "0%");
        assert_eq!(change(3.0, 0.0), "new");
        assert_eq!(change(0.0, 0.0), "–");
    }

    #[test]
    fn the_chart_escapes_labels_and_carries_its_table() {
        let html = bars("src", "By source", &[pair("<script>", 3.0, 1.0)]);
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("<title id=\"src-t\">By source"));
        assert!(html.contains("<td>3</td><td>1</td><td>+200%</td>"));
        assert!(bars("e", "Empty", &[]).contains("Nothing in this period"));
    }
}
