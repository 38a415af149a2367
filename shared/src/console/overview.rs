//! The overview both teams read every morning: the funnel for a period beside the previous
//! period, broken down by source, UTM and form; SLA compliance and time to first touch; routing
//! fallbacks by reason; leads waiting in queues; and what needs attention now. The figures are
//! the APIs' own (`/v1/reports/funnel`, `/v1/sla/metrics`, `/v1/admin/routing/stats`,
//! `/v1/queues`), so the console and the API never disagree.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::chart::{self, Pair};
use super::layout::time_tag;
use crate::html::escape;
use crate::scoring::funnel::Figures;

/// The periods the overview offers, each ending now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Days7,
    Days30,
    Days90,
}

impl Period {
    pub const ALL: [Period; 3] = [Period::Days7, Period::Days30, Period::Days90];

    /// `7d`, `30d` or `90d`; absent is 30 days.
    pub fn parse(value: Option<&str>) -> Option<Period> {
        match value {
            None | Some("30d") => Some(Period::Days30),
            Some("7d") => Some(Period::Days7),
            Some("90d") => Some(Period::Days90),
            Some(_) => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Days7 => "7d",
            Period::Days30 => "30d",
            Period::Days90 => "90d",
        }
    }

    pub fn days(self) -> i64 {
        match self {
            Period::Days7 => 7,
            Period::Days30 => 30,
            Period::Days90 => 90,
        }
    }

    /// `[from, to)` in epoch ms for a period ending at `now`, and the previous one before it.
    pub fn window(self, now: i64) -> ((i64, i64), (i64, i64)) {
        let from = now - self.days() * 86_400_000;
        (
            (from, now),
            crate::scoring::funnel::previous_period(from, now),
        )
    }
}

/// One period of `/v1/reports/funnel`.
#[derive(Debug, Clone, Deserialize)]
pub struct FunnelView {
    pub from: String,
    pub to: String,
    pub totals: Figures,
    pub rejected_by_reason: BTreeMap<String, u64>,
    pub by_source: BTreeMap<String, Figures>,
    pub by_utm_source: BTreeMap<String, Figures>,
    pub by_utm_medium: BTreeMap<String, Figures>,
    pub by_utm_campaign: BTreeMap<String, Figures>,
    pub by_form: BTreeMap<String, Figures>,
}

/// `/v1/reports/funnel`'s answer.
#[derive(Debug, Clone, Deserialize)]
pub struct FunnelReport {
    pub period: FunnelView,
    pub previous: FunnelView,
}

/// The overall figures of `/v1/sla/metrics`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SlaFigures {
    pub assigned: u64,
    pub touched_within_sla: u64,
    pub breached: u64,
    pub pending: u64,
    pub median_minutes_to_first_touch: Option<f64>,
    pub p90_minutes_to_first_touch: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SlaMetrics {
    pub overall: SlaFigures,
}

/// What the overview uses of `/v1/admin/routing/stats`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RoutingStats {
    pub assignments: u64,
    #[serde(default)]
    pub fallbacks: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Queue {
    pub id: String,
    pub waiting: u64,
    pub oldest_waiting_minutes: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Queues {
    pub queues: Vec<Queue>,
}

/// Everything the overview shows, as read from the APIs for one period and the one before.
pub struct Overview {
    pub period: Period,
    pub funnel: FunnelReport,
    pub sla: SlaMetrics,
    pub sla_previous: SlaMetrics,
    pub routing: RoutingStats,
    pub routing_previous: RoutingStats,
    pub queues: Queues,
    /// Machinery that needs a look (see the Health page): retry jobs failing or dead, outgoing
    /// webhooks failing (`None`: this key may not see them), and webhook sources whose
    /// deliveries failed their signature check in the period, with how many.
    pub machinery: Machinery,
}

#[derive(Debug, Clone, Default)]
pub struct Machinery {
    pub failing_jobs: usize,
    pub failing_deliveries: Option<usize>,
    pub signature_failures: Vec<(String, u64)>,
}

/// A lead waiting longer than this in a queue needs someone's attention.
pub const QUEUE_WAIT_ALERT_MINUTES: u64 = 60;

/// What needs attention now, most urgent first, as sentences.
pub fn attention(o: &Overview) -> Vec<String> {
    let mut items = Vec::new();
    if o.sla.overall.breached > 0 {
        items.push(format!(
            "{} first touch{} breached the SLA in this period.",
            o.sla.overall.breached,
            if o.sla.overall.breached == 1 {
                ""
            } else {
                "es"
            }
        ));
    }
    for q in &o.queues.queues {
        if let Some(minutes) = q
            .oldest_waiting_minutes
            .filter(|m| *m >= QUEUE_WAIT_ALERT_MINUTES)
        {
            items.push(format!(
                "Queue {}: {} lead{} waiting, the oldest for {}.",
                q.id,
                q.waiting,
                if q.waiting == 1 { "" } else { "s" },
                duration(minutes)
            ));
        }
    }
    if let Some(n) = o
        .routing
        .fallbacks
        .get("no_one_available")
        .filter(|n| **n > 0)
    {
        items.push(format!(
            "{n} lead{} went to a fallback because no rep was available.",
            if *n == 1 { "" } else { "s" }
        ));
    }
    let m = &o.machinery;
    if m.failing_jobs > 0 {
        items.push(format!(
            "{} retry job{} failing or dead (see Health).",
            m.failing_jobs,
            if m.failing_jobs == 1 { " is" } else { "s are" }
        ));
    }
    if let Some(n) = m.failing_deliveries.filter(|n| *n > 0) {
        items.push(format!(
            "{n} outgoing webhook{} failing (see Health).",
            if n == 1 { " is" } else { "s are" }
        ));
    }
    for (source, n) in &m.signature_failures {
        items.push(format!(
            "Webhook source {source}: {n} deliver{} failed the signature check.",
            if *n == 1 { "y" } else { "ies" }
        ));
    }
    items
}

fn duration(minutes: u64) -> String {
    match minutes {
        m if m < 120 => format!("{m} minutes"),
        m if m < 48 * 60 => format!("{} hours", m / 60),
        m => format!("{} days", m / (24 * 60)),
    }
}

fn minutes(v: Option<f64>) -> String {
    v.map_or("–".into(), |m| format!("{m:.0} min"))
}

const MEASURES: [(&str, &str); 5] = [
    ("new_leads", "New leads"),
    ("mqls", "MQLs"),
    ("accepted", "Accepted"),
    ("rejected", "Rejected"),
    ("converted", "Converted"),
];

fn measure(f: &Figures, key: &str) -> u64 {
    match key {
        "new_leads" => f.new_leads,
        "mqls" => f.mqls,
        "accepted" => f.accepted,
        "rejected" => f.rejected,
        _ => f.converted,
    }
}

/// The pairs of a breakdown for one measure, largest first (ties by name), at most `limit`.
pub fn breakdown(
    current: &BTreeMap<String, Figures>,
    previous: &BTreeMap<String, Figures>,
    key: &str,
    limit: usize,
) -> Vec<Pair> {
    let mut pairs: Vec<Pair> = chart::pairs(current, previous, |f| measure(f, key) as f64)
        .into_iter()
        .filter(|p| p.current > 0.0 || p.previous > 0.0)
        .collect();
    pairs.truncate(limit);
    pairs
}

fn map_pairs(current: &BTreeMap<String, u64>, previous: &BTreeMap<String, u64>) -> Vec<Pair> {
    chart::pairs(current, previous, |n| *n as f64)
}

/// The overview's body.
pub fn render(o: &Overview) -> String {
    let (cur, prev) = (&o.funnel.period, &o.funnel.previous);
    let mut out = String::new();
    out.push_str("<form method=\"get\" action=\"/console\" class=\"period\"><label for=\"period\">Period</label><select id=\"period\" name=\"period\">");
    for p in Period::ALL {
        out.push_str(&format!(
            "<option value=\"{0}\"{1}>Last {2} days</option>",
            p.as_str(),
            if p == o.period { " selected" } else { "" },
            p.days()
        ));
    }
    out.push_str(&format!(
        "</select> <button type=\"submit\">Show</button></form>\
         <p class=\"muted\" id=\"window\" data-from=\"{}\" data-to=\"{}\" data-previous-from=\"{}\">\
         From {} to {}, beside the previous period from {}.</p>",
        escape(&cur.from),
        escape(&cur.to),
        escape(&prev.from),
        time_tag(&cur.from),
        time_tag(&cur.to),
        time_tag(&prev.from)
    ));
    out.push_str("<h2>What needs attention</h2>");
    let items = attention(o);
    if items.is_empty() {
        out.push_str("<p class=\"ok\">Nothing right now.</p>");
    } else {
        out.push_str("<ul class=\"attention\">");
        for i in items {
            out.push_str(&format!("<li class=\"bad\">{}</li>", escape(&i)));
        }
        out.push_str("</ul>");
    }
    out.push_str("<h2>Funnel</h2><ul class=\"tiles\">");
    for (key, name) in MEASURES {
        let (c, p) = (measure(&cur.totals, key), measure(&prev.totals, key));
        out.push_str(&format!(
            "<li><span class=\"n\" id=\"fig-{key}\" data-value=\"{c}\">{c}</span>{name}<br><span class=\"muted\">previous {p} ({})</span></li>",
            chart::change(c as f64, p as f64)
        ));
    }
    out.push_str("</ul><div class=\"grid\">");
    out.push_str(&chart::bars(
        "rejections",
        "Rejected, by reason",
        &map_pairs(&cur.rejected_by_reason, &prev.rejected_by_reason),
    ));
    for (id, title, c, p) in [
        (
            "by-source",
            "New leads by lead source",
            &cur.by_source,
            &prev.by_source,
        ),
        (
            "by-utm-source",
            "New leads by UTM source",
            &cur.by_utm_source,
            &prev.by_utm_source,
        ),
        (
            "by-utm-medium",
            "New leads by UTM medium",
            &cur.by_utm_medium,
            &prev.by_utm_medium,
        ),
        (
            "by-utm-campaign",
            "New leads by UTM campaign",
            &cur.by_utm_campaign,
            &prev.by_utm_campaign,
        ),
        ("by-form", "New leads by form", &cur.by_form, &prev.by_form),
        (
            "mql-by-source",
            "MQLs by lead source",
            &cur.by_source,
            &prev.by_source,
        ),
    ] {
        let key = if id.starts_with("mql") {
            "mqls"
        } else {
            "new_leads"
        };
        out.push_str(&chart::bars(id, title, &breakdown(c, p, key, 10)));
    }
    out.push_str("</div>");
    let (s, sp) = (&o.sla.overall, &o.sla_previous.overall);
    out.push_str("<h2>Speed to lead (SLA)</h2><table><thead><tr><th scope=\"col\"></th><th scope=\"col\" class=\"num\">This period</th><th scope=\"col\" class=\"num\">Previous</th></tr></thead><tbody>");
    for (id, name, c, p) in [
        (
            "sla-assigned",
            "Assigned with a clock",
            s.assigned.to_string(),
            sp.assigned.to_string(),
        ),
        (
            "sla-met",
            "Touched within the SLA",
            s.touched_within_sla.to_string(),
            sp.touched_within_sla.to_string(),
        ),
        (
            "sla-breached",
            "Breached",
            s.breached.to_string(),
            sp.breached.to_string(),
        ),
        (
            "sla-pending",
            "Pending",
            s.pending.to_string(),
            sp.pending.to_string(),
        ),
        (
            "sla-median",
            "Median time to first touch (business minutes)",
            minutes(s.median_minutes_to_first_touch),
            minutes(sp.median_minutes_to_first_touch),
        ),
        (
            "sla-p90",
            "90th percentile time to first touch",
            minutes(s.p90_minutes_to_first_touch),
            minutes(sp.p90_minutes_to_first_touch),
        ),
    ] {
        out.push_str(&format!(
            "<tr><th scope=\"row\">{name}</th><td class=\"num\" id=\"{id}\">{c}</td><td class=\"num\">{p}</td></tr>"
        ));
    }
    out.push_str("</tbody></table>");
    out.push_str(&format!(
        "<h2>Routing</h2><p>{} assignments in this period ({} before).</p>",
        o.routing.assignments, o.routing_previous.assignments
    ));
    out.push_str(&chart::bars(
        "fallbacks",
        "Fallbacks, by reason",
        &map_pairs(&o.routing.fallbacks, &o.routing_previous.fallbacks),
    ));
    out.push_str("<h2>Waiting in queues</h2>");
    if o.queues.queues.is_empty() {
        out.push_str("<p>No lead is waiting in a queue.</p>");
    } else {
        out.push_str("<table><thead><tr><th scope=\"col\">Queue</th><th scope=\"col\" class=\"num\">Waiting</th><th scope=\"col\" class=\"num\">Oldest waiting</th></tr></thead><tbody>");
        for q in &o.queues.queues {
            out.push_str(&format!(
                "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(&q.id),
                q.waiting,
                q.oldest_waiting_minutes.map_or("–".into(), duration)
            ));
        }
        out.push_str("</tbody></table>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn figures(new_leads: u64, mqls: u64) -> Figures {
        Figures {
            new_leads,
            mqls,
            ..Figures::default()
        }
    }

    fn overview() -> Overview {
        let funnel: FunnelReport = serde_json::from_value(json!({
            "period": {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z",
                "totals": {"new_leads": 12, "mqls": 4, "accepted": 2, "rejected": 1, "converted": 1},
                "rejected_by_reason": {"no_budget": 1},
                "by_source": {"webinar": {"new_leads": 9, "mqls": 3, "accepted": 0, "rejected": 0, "converted": 0}},
                "by_utm_source": {}, "by_utm_medium": {}, "by_utm_campaign": {}, "by_form": {}},
            "previous": {"from": "2026-10-02T00:00:00Z", "to": "2026-11-01T00:00:00Z",
                "totals": {"new_leads": 6, "mqls": 4, "accepted": 0, "rejected": 0, "converted": 0},
                "rejected_by_reason": {}, "by_source": {}, "by_utm_source": {}, "by_utm_medium": {},
                "by_utm_campaign": {}, "by_form": {}}
        }))
        .unwrap();
        Overview {
            period: Period::Days30,
            funnel,
            sla: SlaMetrics {
                overall: SlaFigures {
                    breached: 2,
                    ..SlaFigures::default()
                },
            },
            sla_previous: SlaMetrics::default(),
            routing: RoutingStats {
                assignments: 4,
                fallbacks: BTreeMap::from([("no_one_available".to_string(), 1)]),
            },
            routing_previous: RoutingStats::default(),
            queues: Queues {
                queues: vec![Queue {
                    id: "emea".into(),
                    waiting: 3,
                    oldest_waiting_minutes: Some(180),
                }],
            },
            machinery: Machinery::default(),
        }
    }

    #[test]
    fn periods_parse_and_end_now() {
        assert_eq!(Period::parse(None), Some(Period::Days30));
        assert_eq!(Period::parse(Some("7d")), Some(Period::Days7));
        assert_eq!(Period::parse(Some("1y")), None);
        let ((from, to), (pfrom, pto)) = Period::Days7.window(1_000_000_000_000);
        assert_eq!(to - from, 7 * 86_400_000);
        assert_eq!((pto, pto - pfrom), (from, 7 * 86_400_000));
    }

    #[test]
    fn attention_lists_breaches_stale_queues_and_unavailable_fallbacks() {
        let items = attention(&overview());
        assert_eq!(items.len(), 3, "{items:?}");
        assert!(items[0].starts_with("2 first touches breached"));
        assert!(items[1].contains("emea: 3 leads waiting, the oldest for 3 hours"));
        assert!(items[2].starts_with("1 lead went to a fallback"));
        let mut o = overview();
        o.machinery = Machinery {
            failing_jobs: 2,
            failing_deliveries: Some(1),
            signature_failures: vec![("src_typeform".into(), 3)],
        };
        let items = attention(&o);
        assert_eq!(items[3], "2 retry jobs are failing or dead (see Health).");
        assert_eq!(items[4], "1 outgoing webhook is failing (see Health).");
        assert_eq!(
            items[5],
            "Webhook source src_typeform: 3 deliveries failed the signature check."
        );
    }

    #[test]
    fn breakdowns_put_the_largest_first_and_keep_categories_of_either_period() {
        let cur = BTreeMap::from([
            ("a".to_string(), figures(1, 0)),
            ("b".to_string(), figures(5, 1)),
        ]);
        let prev = BTreeMap::from([("c".to_string(), figures(2, 0))]);
        let pairs = breakdown(&cur, &prev, "new_leads", 10);
        let labels: Vec<&str> = pairs.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["b", "a", "c"]);
        assert_eq!(pairs[2].previous, 2.0);
        assert_eq!(breakdown(&cur, &prev, "new_leads", 1).len(), 1);
        assert_eq!(breakdown(&cur, &prev, "mqls", 10).len(), 1);
    }

    #[test]
    fn the_overview_shows_the_apis_figures_with_their_window() {
        let html = render(&overview());
        assert!(html.contains("id=\"fig-new_leads\" data-value=\"12\">12<"));
        assert!(html.contains("previous 6 (+100%)"));
        assert!(html.contains("data-from=\"2026-11-01T00:00:00Z\""));
        assert!(html.contains("<td class=\"num\" id=\"sla-breached\">2</td>"));
        assert!(html.contains("Rejected, by reason"));
        assert!(html.contains("<option value=\"30d\" selected>"));
    }
}
