//! The API's route table: every endpoint, which handler serves it and who may call it.
//!
//! One table drives three things: the gateway's dispatch and authorization, each handler's own
//! dispatch (it matches the same table and switches on [`RouteId`]), and the test that keeps
//! `openapi.json` true (every public route documented, every documented operation routed).
//! Routes marked [`Access::Internal`] are the handlers' service-to-service calls; the gateway
//! never forwards them.

use crate::auth::Scope;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Gateway,
    Intake,
    Scoring,
    Routing,
    Consent,
    Sla,
    /// Automation workflows and lists.
    Workflows,
    /// The console: server-rendered pages for people, reached through the gateway at
    /// `/console`; it reads through the handlers' APIs with the signed-in key's scopes.
    Console,
}

impl Service {
    /// The five handlers behind the gateway, in the order `/health` reports them.
    pub const HANDLERS: [Service; 6] = [
        Service::Intake,
        Service::Scoring,
        Service::Routing,
        Service::Consent,
        Service::Sla,
        Service::Workflows,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Service::Gateway => "gateway",
            Service::Intake => "intake",
            Service::Scoring => "scoring",
            Service::Routing => "routing",
            Service::Consent => "consent",
            Service::Sla => "sla",
            Service::Workflows => "workflows",
            Service::Console => "console",
        }
    }

    /// The service binding through which other workers reach this one.
    pub fn binding(self) -> &'static str {
        match self {
            Service::Gateway => "GATEWAY",
            Service::Intake => "INTAKE",
            Service::Scoring => "SCORING",
            Service::Routing => "ROUTING",
            Service::Consent => "CONSENT",
            Service::Sla => "SLA",
            Service::Workflows => "WORKFLOWS",
            Service::Console => "CONSOLE",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Options,
}

impl Method {
    pub fn parse(s: &str) -> Option<Method> {
        Some(match s.to_ascii_uppercase().as_str() {
            "GET" | "HEAD" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
        }
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: browser forms, signed webhooks (the handler verifies the signature), unsubscribe
    /// links, health and documentation.
    Public,
    /// An API key holding this scope (or `admin`).
    Scope(Scope),
    /// Only our own handlers, through service bindings.
    Internal,
    /// A console page: a browser session (cookie) whose API key holds this scope (or `admin`).
    /// The gateway forwards these unauthenticated; the console checks the session, and
    /// everything it shows it reads through the handlers' APIs with that key's scopes.
    Session(Scope),
}

/// The routes of one service (or of every handler): the enum its handler dispatches on, so the
/// compiler checks that every route the table gives it has a function serving it.
pub trait ServiceRoutes: Copy + std::fmt::Debug + 'static {
    /// This group's route, if `id` is one.
    fn of(id: RouteId) -> Option<Self>;
}

macro_rules! routes {
    ($( $group:ident for $service:ident {
        $( $id:ident : $method:ident $pattern:literal, $access:expr; )*
    } )*) => {
        /// Every route, named. The gateway authorizes and forwards on this; each handler matches
        /// its own group's enum (see [`ServiceRoutes`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum RouteId { $( $( $id, )* )* }

        $(
            #[doc = concat!("The routes served as `", stringify!($service), "` (", stringify!($group), ").")]
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub enum $group { $( $id, )* }

            impl ServiceRoutes for $group {
                fn of(id: RouteId) -> Option<Self> {
                    match id {
                        $( RouteId::$id => Some($group::$id), )*
                        #[allow(unreachable_patterns)]
                        _ => None,
                    }
                }
            }
        )*

        /// The route table, in match order.
        pub const ROUTES: &[Route] = &[
            $( $( Route { id: RouteId::$id, method: Method::$method, pattern: $pattern, service: Service::$service, access: $access }, )* )*
        ];
    };
}

use Access::{Internal, Public};
const fn scope(s: Scope) -> Access {
    Access::Scope(s)
}
const fn session(s: Scope) -> Access {
    Access::Session(s)
}

routes! {
    GatewayRoute for Gateway {
        // Gateway: the public entry's own endpoints.
        Health: Get "/health", Public;
        OpenApi: Get "/openapi.json", Public;
        ProblemPage: Get "/problems/{slug}", Public;
        CreateApiKey: Post "/v1/admin/keys", scope(Scope::Admin);
        ListApiKeys: Get "/v1/admin/keys", scope(Scope::Admin);
        RevokeApiKey: Delete "/v1/admin/keys/{key_id}", scope(Scope::Admin);
        // The gateway also serves the configuration documents (control plane), so the handlers'
        // workers stay lean for the data plane, and the retry queue of every handler.
        CreateForm: Post "/v1/admin/forms", scope(Scope::ConfigWrite);
        ListForms: Get "/v1/admin/forms", scope(Scope::ConfigWrite);
        GetForm: Get "/v1/admin/forms/{form_id}", scope(Scope::ConfigWrite);
        UpdateForm: Put "/v1/admin/forms/{form_id}", scope(Scope::ConfigWrite);
        FormStats: Get "/v1/admin/forms/{form_id}/stats", scope(Scope::ReportsRead);
        CreateSource: Post "/v1/admin/sources", scope(Scope::ConfigWrite);
        ListSources: Get "/v1/admin/sources", scope(Scope::ConfigWrite);
        GetSource: Get "/v1/admin/sources/{source_id}", scope(Scope::ConfigWrite);
        UpdateSource: Put "/v1/admin/sources/{source_id}", scope(Scope::ConfigWrite);
        ListJobs: Get "/v1/admin/jobs", scope(Scope::ReportsRead);
        RetryJob: Post "/v1/admin/jobs/{job_id}/retry", scope(Scope::ConfigWrite);
        ListTicks: Get "/v1/admin/ticks", scope(Scope::ReportsRead);
        ListWebhookDeliveries: Get "/v1/admin/webhooks/deliveries", scope(Scope::ConfigWrite);
        RetryWebhookDelivery: Post "/v1/admin/webhooks/deliveries/{delivery_id}/retry", scope(Scope::ConfigWrite);
        CreateWebhookEndpoint: Post "/v1/admin/webhooks", scope(Scope::ConfigWrite);
        ListWebhookEndpoints: Get "/v1/admin/webhooks", scope(Scope::ConfigWrite);
        DeleteWebhookEndpoint: Delete "/v1/admin/webhooks/{endpoint_id}", scope(Scope::ConfigWrite);
    }
    EachHandlerRoute for Gateway {
        // Internal, served by every handler: its health check (gathered by the gateway's /health)
        // and its share of the cron trigger (the gateway's scheduled handler calls each one).
        HandlerHealth: Get "/internal/health", Internal;
        HandlerTick: Post "/internal/tick", Internal;
    }
    IntakeRoute for Intake {
        // Intake: forms and webhooks (public; forms check origins, webhooks check signatures).
        SubmitForm: Post "/f/{form_id}", Public;
        FormPreflight: Options "/f/{form_id}", Public;
        ReceiveWebhook: Post "/hooks/{source_id}", Public;
        // Intake: the API for marketing tools.
        CreateLead: Post "/v1/leads", scope(Scope::IntakeWrite);
        GetLead: Get "/v1/leads/{lead_id}", scope(Scope::LeadsRead);
        ListLeads: Get "/v1/leads", scope(Scope::LeadsRead);
        IntakeStats: Get "/v1/admin/intake/stats", scope(Scope::ReportsRead);
        GetSubmission: Get "/v1/leads/{lead_id}/submissions/{submission_id}", scope(Scope::LeadsRead);
        CreateActivity: Post "/v1/activities", scope(Scope::IntakeWrite);
        NormaliseLead: Post "/internal/normalise", Internal;
        ChangeLead: Post "/internal/leads/{lead_id}/changes", Internal;
    }
    ScoringRoute for Scoring {
        // Scoring: previews, explanations, sales' outcomes, and the versioned model.
        ScorePreview: Post "/v1/score", scope(Scope::LeadsRead);
        GetLeadScore: Get "/v1/leads/{lead_id}/score", scope(Scope::LeadsRead);
        RecordOutcome: Post "/v1/leads/{lead_id}/outcome", scope(Scope::LeadsWrite);
        ListScoringModels: Get "/v1/admin/scoring/models", scope(Scope::ConfigWrite);
        PublishScoringModel: Post "/v1/admin/scoring/models", scope(Scope::ConfigWrite);
        GetScoringModel: Get "/v1/admin/scoring/models/{version}", scope(Scope::ConfigWrite);
        DryRunScoringModel: Post "/v1/admin/scoring/dry-run", scope(Scope::ConfigWrite);
        RollbackScoringModel: Post "/v1/admin/scoring/rollback", scope(Scope::ConfigWrite);
        BacktestScoringModel: Post "/v1/admin/scoring/backtest", scope(Scope::ConfigWrite);
        RescoringStatus: Get "/v1/admin/scoring/rescoring", scope(Scope::ConfigWrite);
        FunnelReport: Get "/v1/reports/funnel", scope(Scope::ReportsRead);
        ScoreLead: Post "/internal/leads/{lead_id}/score", Internal;
    }
    ConsentRoute for Consent {
        // Consent: the ledger, fast checks, signed links, provider feedback, erasure and export.
        CheckConsent: Post "/v1/consent/check", scope(Scope::ConsentRead);
        RecordConsent: Post "/v1/consent", scope(Scope::ConsentWrite);
        IssueUnsubscribeToken: Post "/v1/consent/unsubscribe-tokens", scope(Scope::ConsentWrite);
        GetConsent: Get "/v1/consent/{email}", scope(Scope::ConsentRead);
        ConsentHistory: Get "/v1/consent/{email}/history", scope(Scope::ConsentRead);
        UnsubscribePage: Get "/u/{token}", Public;
        Unsubscribe: Post "/u/{token}", Public;
        ConfirmPage: Get "/c/{token}", Public;
        Confirm: Post "/c/{token}", Public;
        EmailProviderWebhook: Post "/hooks/email/{provider}", Public;
        GetConsentTopics: Get "/v1/admin/consent/topics", scope(Scope::ConfigWrite);
        PutConsentTopics: Put "/v1/admin/consent/topics", scope(Scope::ConfigWrite);
        GetEmailProviders: Get "/v1/admin/consent/providers", scope(Scope::ConfigWrite);
        PutEmailProviders: Put "/v1/admin/consent/providers", scope(Scope::ConfigWrite);
        EraseSubject: Delete "/v1/subjects/{email}", scope(Scope::SubjectsAdmin);
        ExportSubject: Get "/v1/subjects/{email}/export", scope(Scope::SubjectsAdmin);
        ConsentForIntake: Post "/internal/consent/intake", Internal;
        UnsubscribeLinkInternal: Post "/internal/consent/unsubscribe-link", Internal;
    }
    RoutingRoute for Routing {
        // Routing: decisions and their explanations, the roster, CRM accounts, versioned rules.
        // (Outgoing-webhook endpoints, which every handler's messages go to, are the gateway's.)
        RouteLead: Post "/v1/leads/{lead_id}/route", scope(Scope::LeadsWrite);
        GetLeadRouting: Get "/v1/leads/{lead_id}/routing", scope(Scope::LeadsRead);
        AssignLead: Post "/v1/leads/{lead_id}/assignment", scope(Scope::LeadsWrite);
        ListReps: Get "/v1/roster/reps", scope(Scope::ReportsRead);
        GetRep: Get "/v1/roster/reps/{rep_id}", scope(Scope::ReportsRead);
        PutRep: Put "/v1/roster/reps/{rep_id}", scope(Scope::RosterWrite);
        PatchRep: Patch "/v1/roster/reps/{rep_id}", scope(Scope::RosterWrite);
        DeactivateRep: Post "/v1/roster/reps/{rep_id}/deactivate", scope(Scope::RosterWrite);
        ListTeams: Get "/v1/roster/teams", scope(Scope::ReportsRead);
        PutTeam: Put "/v1/roster/teams/{team_id}", scope(Scope::RosterWrite);
        UpsertAccounts: Post "/v1/accounts/bulk", scope(Scope::RosterWrite);
        GetAccount: Get "/v1/accounts/{account_id}", scope(Scope::LeadsRead);
        ListRoutingConfigs: Get "/v1/admin/routing/configs", scope(Scope::ConfigWrite);
        PublishRoutingConfig: Post "/v1/admin/routing/configs", scope(Scope::ConfigWrite);
        GetRoutingConfig: Get "/v1/admin/routing/configs/{version}", scope(Scope::ConfigWrite);
        DryRunRoutingConfig: Post "/v1/admin/routing/dry-run", scope(Scope::ConfigWrite);
        RollbackRoutingConfig: Post "/v1/admin/routing/rollback", scope(Scope::ConfigWrite);
        RoutingStats: Get "/v1/admin/routing/stats", scope(Scope::ReportsRead);
        RouteLeadInternal: Post "/internal/leads/{lead_id}/route", Internal;
        // Queues: leads waiting for a rep, oldest first; a rep claims one (recorded like any
        // assignment). SLA tells routing of an assignment's first touch.
        ListQueues: Get "/v1/queues", scope(Scope::LeadsRead);
        GetQueue: Get "/v1/queues/{queue_id}", scope(Scope::LeadsRead);
        ClaimFromQueue: Post "/v1/queues/{queue_id}/claim", scope(Scope::LeadsWrite);
        AssignmentTouched: Post "/internal/assignments/{assignment_id}/touched", Internal;
        // Scoring recorded a rejection or a conversion: the lead's open assignment is done.
        CloseAssignment: Post "/internal/leads/{lead_id}/close", Internal;
    }
    SlaRoute for Sla {
        // SLA: touches that stop the clock, each lead's clocks and ladder, tasks, the figures, and
        // the policy as versioned configuration. The ladder itself runs on the cron tick.
        RecordTouch: Post "/v1/leads/{lead_id}/touches", scope(Scope::LeadsWrite);
        GetLeadSla: Get "/v1/leads/{lead_id}/sla", scope(Scope::LeadsRead);
        ListSlaTasks: Get "/v1/sla/tasks", scope(Scope::ReportsRead);
        CompleteSlaTask: Post "/v1/sla/tasks/{task_id}/done", scope(Scope::LeadsWrite);
        SlaMetrics: Get "/v1/sla/metrics", scope(Scope::ReportsRead);
        SlaBreaches: Get "/v1/sla/breaches", scope(Scope::ReportsRead);
        SlaTouches: Get "/v1/sla/touches", scope(Scope::ReportsRead);
        ListSlaPolicies: Get "/v1/admin/sla/policies", scope(Scope::ConfigWrite);
        PublishSlaPolicy: Post "/v1/admin/sla/policies", scope(Scope::ConfigWrite);
        GetSlaPolicy: Get "/v1/admin/sla/policies/{version}", scope(Scope::ConfigWrite);
        RollbackSlaPolicy: Post "/v1/admin/sla/rollback", scope(Scope::ConfigWrite);
        CreateTaskInternal: Post "/internal/tasks", Internal;
    }
    WorkflowsRoute for Workflows {
        ListWorkflows: Get "/v1/admin/workflows", scope(Scope::ConfigWrite);
        PublishWorkflow: Post "/v1/admin/workflows", scope(Scope::ConfigWrite);
        DryRunWorkflow: Post "/v1/admin/workflows/dry-run", scope(Scope::ConfigWrite);
        GetWorkflow: Get "/v1/admin/workflows/{workflow_id}", scope(Scope::ConfigWrite);
        GetWorkflowVersion: Get "/v1/admin/workflows/{workflow_id}/versions/{version}", scope(Scope::ConfigWrite);
        RollbackWorkflow: Post "/v1/admin/workflows/{workflow_id}/rollback", scope(Scope::ConfigWrite);
        PauseWorkflow: Post "/v1/admin/workflows/{workflow_id}/pause", scope(Scope::ConfigWrite);
        ResumeWorkflow: Post "/v1/admin/workflows/{workflow_id}/resume", scope(Scope::ConfigWrite);
        LeadWorkflows: Get "/v1/leads/{lead_id}/workflows", scope(Scope::LeadsRead);
        CreateList: Post "/v1/lists", scope(Scope::ConfigWrite);
        ListLists: Get "/v1/lists", scope(Scope::LeadsRead);
        GetList: Get "/v1/lists/{list_id}", scope(Scope::LeadsRead);
        ListMembers: Get "/v1/lists/{list_id}/members", scope(Scope::LeadsRead);
        AddListMembers: Post "/v1/lists/{list_id}/members", scope(Scope::LeadsWrite);
        RemoveListMembers: Delete "/v1/lists/{list_id}/members", scope(Scope::LeadsWrite);
        ExportList: Get "/v1/lists/{list_id}/export", scope(Scope::LeadsRead);
    }
    ConsoleRoute for Console {
        // The console: sign-in, and pages for the people both teams are (see functions/console).
        ConsoleStylesheet: Get "/console/console.css", Public;
        ConsoleLoginPage: Get "/console/login", Public;
        ConsoleLogin: Post "/console/login", Public;
        ConsoleLogout: Post "/console/logout", session(Scope::ReportsRead);
        ConsoleOverview: Get "/console", session(Scope::ReportsRead);
        ConsoleLeads: Get "/console/leads", session(Scope::LeadsRead);
        ConsoleLead: Get "/console/leads/{lead_id}", session(Scope::LeadsRead);
        ConsoleReassign: Post "/console/leads/{lead_id}/assignment", session(Scope::LeadsWrite);
        ConsoleSubmission: Get "/console/leads/{lead_id}/submissions/{submission_id}", session(Scope::LeadsRead);
        ConsoleRouting: Get "/console/routing", session(Scope::ReportsRead);
        ConsoleSla: Get "/console/sla", session(Scope::ReportsRead);
        ConsoleHealth: Get "/console/health", session(Scope::ReportsRead);
        ConsoleDefinitions: Get "/console/definitions", session(Scope::ConfigWrite);
        ConsoleDefinition: Get "/console/definitions/{kind}", session(Scope::ConfigWrite);
        ConsoleDryRun: Post "/console/definitions/{kind}/dry-run", session(Scope::ConfigWrite);
        ConsolePublish: Post "/console/definitions/{kind}/publish", session(Scope::ConfigWrite);
        ConsoleRollback: Post "/console/definitions/{kind}/rollback", session(Scope::ConfigWrite);
        ConsoleWorkflows: Get "/console/workflows", session(Scope::LeadsRead);
        ConsoleWorkflowCreate: Post "/console/workflows", session(Scope::ConfigWrite);
        ConsoleWorkflowDraftDryRun: Post "/console/workflows/dry-run", session(Scope::ConfigWrite);
        ConsoleWorkflow: Get "/console/workflows/{workflow_id}", session(Scope::ConfigWrite);
        ConsoleWorkflowDryRun: Post "/console/workflows/{workflow_id}/dry-run", session(Scope::ConfigWrite);
        ConsoleWorkflowPublish: Post "/console/workflows/{workflow_id}/publish", session(Scope::ConfigWrite);
        ConsoleWorkflowRollback: Post "/console/workflows/{workflow_id}/rollback", session(Scope::ConfigWrite);
        ConsoleWorkflowPause: Post "/console/workflows/{workflow_id}/pause", session(Scope::ConfigWrite);
        ConsoleWorkflowResume: Post "/console/workflows/{workflow_id}/resume", session(Scope::ConfigWrite);
    }
}

impl RouteId {
    /// Routes every handler serves itself, whatever service the table names.
    pub fn served_by_each_handler(self) -> bool {
        EachHandlerRoute::of(self).is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub id: RouteId,
    pub method: Method,
    pub pattern: &'static str,
    pub service: Service,
    pub access: Access,
}

/// The outcome of matching a request against the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMatch {
    Found {
        route: Route,
        params: Vec<(&'static str, String)>,
    },
    /// The path exists with other methods (listed for the `Allow` header).
    MethodNotAllowed {
        allowed: Vec<Method>,
    },
    NotFound,
}

impl RouteMatch {
    pub fn param(&self, name: &str) -> Option<&str> {
        match self {
            RouteMatch::Found { params, .. } => params
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str()),
            _ => None,
        }
    }
}

fn match_pattern(pattern: &'static str, path: &str) -> Option<Vec<(&'static str, String)>> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let mut params = Vec::new();
    let mut pat_segments = pattern.split('/');
    let mut path_segments = path.split('/');
    loop {
        match (pat_segments.next(), path_segments.next()) {
            (None, None) => return Some(params),
            (Some(p), Some(s)) => {
                if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    if s.is_empty() {
                        return None;
                    }
                    params.push((name, percent_decode(s)?));
                } else if p != s {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// Decodes `%XX` escapes in a path segment; `None` for malformed escapes or invalid UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    // A `%` must start an escape of two hex digits (`%+5` is malformed, not byte 0x05).
    let b = s.as_bytes();
    let malformed = (0..b.len()).any(|i| {
        b[i] == b'%'
            && !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    if malformed {
        return None;
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// How specific a pattern is, segment by segment: a literal segment outranks a parameter, so
/// `/v1/accounts/bulk` wins over `/v1/accounts/{account_id}` for the path `/v1/accounts/bulk`.
fn specificity(pattern: &str) -> Vec<bool> {
    pattern.split('/').map(|s| !s.starts_with('{')).collect()
}

/// Matches a method and path. The path's resource is the most specific pattern it matches; its
/// methods are the ones allowed (`HEAD` matches like `GET`). A method the API does not use at
/// all (`TRACE`, `QUERY`, …) on an existing path is not allowed there either.
pub fn match_route(method: &str, path: &str) -> RouteMatch {
    let matching: Vec<(&Route, Vec<(&'static str, String)>)> = ROUTES
        .iter()
        .filter_map(|r| match_pattern(r.pattern, path).map(|p| (r, p)))
        .collect();
    let Some(best) = matching
        .iter()
        .map(|(r, _)| r.pattern)
        .max_by(|a, b| specificity(a).cmp(&specificity(b)))
    else {
        return RouteMatch::NotFound;
    };
    let resource = matching.into_iter().filter(|(r, _)| r.pattern == best);
    let method = Method::parse(method);
    let mut allowed = Vec::new();
    for (route, params) in resource {
        if Some(route.method) == method {
            return RouteMatch::Found {
                route: *route,
                params,
            };
        }
        if !allowed.contains(&route.method) {
            allowed.push(route.method);
        }
    }
    RouteMatch::MethodNotAllowed { allowed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_belongs_to_the_group_of_the_service_that_serves_it() {
        for r in ROUTES {
            let groups = [
                (GatewayRoute::of(r.id).is_some(), Service::Gateway),
                (EachHandlerRoute::of(r.id).is_some(), Service::Gateway),
                (IntakeRoute::of(r.id).is_some(), Service::Intake),
                (ScoringRoute::of(r.id).is_some(), Service::Scoring),
                (ConsentRoute::of(r.id).is_some(), Service::Consent),
                (RoutingRoute::of(r.id).is_some(), Service::Routing),
                (SlaRoute::of(r.id).is_some(), Service::Sla),
                (WorkflowsRoute::of(r.id).is_some(), Service::Workflows),
                (ConsoleRoute::of(r.id).is_some(), Service::Console),
            ];
            let in_groups: Vec<Service> = groups
                .iter()
                .filter(|(member, _)| *member)
                .map(|(_, s)| *s)
                .collect();
            assert_eq!(in_groups, vec![r.service], "{:?}", r.id);
        }
        assert_eq!(
            EachHandlerRoute::of(RouteId::HandlerTick),
            Some(EachHandlerRoute::HandlerTick)
        );
        assert!(RouteId::HandlerHealth.served_by_each_handler());
        assert!(!RouteId::Health.served_by_each_handler());
    }

    #[test]
    fn matches_literal_and_param_routes() {
        match match_route("DELETE", "/v1/admin/keys/key_abc") {
            m @ RouteMatch::Found { .. } => {
                assert_eq!(m.param("key_id"), Some("key_abc"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            match_route("post", "/v1/admin/keys/"),
            RouteMatch::Found {
                route: Route {
                    id: RouteId::CreateApiKey,
                    ..
                },
                ..
            }
        ));
        assert!(matches!(
            match_route("HEAD", "/health"),
            RouteMatch::Found {
                route: Route {
                    id: RouteId::Health,
                    ..
                },
                ..
            }
        ));
    }

    #[test]
    fn wrong_method_lists_the_allowed_ones() {
        assert_eq!(
            match_route("PUT", "/v1/admin/keys"),
            RouteMatch::MethodNotAllowed {
                allowed: vec![Method::Post, Method::Get]
            }
        );
        assert_eq!(match_route("GET", "/nope"), RouteMatch::NotFound);
        // Methods the API never uses are not allowed on an existing path either.
        for m in ["BREW", "TRACE", "QUERY"] {
            assert_eq!(
                match_route(m, "/health"),
                RouteMatch::MethodNotAllowed {
                    allowed: vec![Method::Get]
                },
                "{m}"
            );
        }
        // A literal segment outranks a parameter: the bulk upsert is not an account id.
        assert_eq!(
            match_route("GET", "/v1/accounts/bulk"),
            RouteMatch::MethodNotAllowed {
                allowed: vec![Method::Post]
            }
        );
        assert!(matches!(
            match_route("GET", "/v1/accounts/acme"),
            RouteMatch::Found { .. }
        ));
        assert_eq!(
            match_route("DELETE", "/v1/admin/keys/a/b"),
            RouteMatch::NotFound
        );
        assert_eq!(
            match_route("DELETE", "/v1/admin/keys//"),
            RouteMatch::NotFound
        );
    }

    #[test]
    fn params_are_percent_decoded() {
        assert_eq!(
            percent_decode("jane%40acme.com").as_deref(),
            Some("jane@acme.com")
        );
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%ff"), None);
    }

    #[test]
    fn every_route_is_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(r.pattern.starts_with('/'), "{}", r.pattern);
            assert!(
                seen.insert((r.method, r.pattern)),
                "duplicate {:?} {}",
                r.method,
                r.pattern
            );
            let internal = r.pattern.starts_with("/internal/");
            assert_eq!(internal, r.access == Access::Internal, "{}", r.pattern);
        }
    }
}
