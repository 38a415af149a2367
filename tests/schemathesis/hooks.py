"""Schemathesis hooks for `make test`'s fuzzing run (tests/schemathesis/schemathesis.toml).

One check replaces the built-in `positive_data_acceptance`: a request the schema allows must be
accepted (2xx, 3xx, 401, 403, 404, 409, 429 or 5xx, as the built-in says) — except for refusals
that depend on stored state or compare values with each other, which JSON Schema cannot say:
"this rep is not on the roster", "this topic is not configured", "this time is in the future",
"these two ids are the same", "this interval ends before it starts". Those are 422s by design,
and each is allowed here by the exact reason the server gives, so any other refusal of a
schema-valid request still fails the run. openapi.json says each of them in words.
"""

import json

import schemathesis

# Reasons (substrings of a field error's `reason`) that a schema cannot rule out. Each names the
# rule and where the server checks it.
STATE_OR_CROSS_FIELD = (
    # stored state: the roster, the configured topics and rejection reasons, stored secrets
    "is not on the roster",  # routing configs, teams, assignment, queue claims
    "does not exist",  # routing rules naming a team
    "is not a configured topic",  # consent record, check, tokens, GET ?topic=
    "is not a configured reason",  # outcomes: the active model's rejection reasons
    "Standard Webhooks secrets are whsec_",  # a source switched to standard_webhooks keeps its secrets
    # the clock: sent times may be backdated, not in the future
    "is in the future",
    "not in the future",
    # one value against another
    "must not be after `to`",  # metrics and stats windows
    "must not be after `created_to`",  # lead search
    "ends before it starts",  # working hours
    "has overlapping intervals",
    "steps must be in time order",  # SLA ladders
    "exit_below must not be above enter_at",  # scoring stages
    "two stages cannot start at the same score",
    # workflows: the lists a step names must exist and be static; a branch names a later step
    "no list has the id",
    "is a dynamic list",
    "no step has the id",
    "a branch only goes forward",
    # uniqueness of ids inside one document (uniqueItems compares whole items)
    "is the id of an earlier step",
    "is listed twice",
    "is listed for two accounts",
    "is used by another rule",
    "is used by an earlier rule",
    "is used by an earlier step",
    "is used by an earlier tier",
    "is given an earlier deadline",
    "use a unique snake_case code",
    # content the schema can only shape: a pinned SNS certificate must parse as X.509
    "is not a PEM X.509 certificate",
)

# Problem types that depend on earlier requests, not on this one.
STATEFUL_PROBLEMS = (
    "/problems/idempotency-key-reused",  # the same Idempotency-Key with another body (IETF draft: 422)
    "/problems/gone",  # an erased person's address: 410 by design
)

ACCEPTED = {401, 403, 404, 409, 429}


def _allowed_refusal(response):
    try:
        problem = json.loads(response.content)
    except (ValueError, TypeError):
        return False
    if not isinstance(problem, dict):
        return False
    if any(str(problem.get("type", "")).endswith(t) for t in STATEFUL_PROBLEMS):
        return True
    errors = problem.get("errors") or []
    return bool(errors) and all(
        any(r in str(e.get("reason", "")) for r in STATE_OR_CROSS_FIELD) for e in errors
    )


@schemathesis.check
def positive_data_accepted_unless_state_says_no(ctx, response, case):
    """Schema-valid requests are accepted, but for refusals JSON Schema cannot express."""
    meta = getattr(case, "meta", None)
    if meta is None or not meta.generation.mode.is_positive:
        return None
    status = response.status_code
    if status < 400 or status >= 500 or status in ACCEPTED:
        return None
    if _allowed_refusal(response):
        return None
    raise AssertionError(
        f"Schema-valid request rejected with {status}: {response.content[:500]!r}"
    )


@schemathesis.check
def form_posts_refuse_what_the_schema_refuses(ctx, response, case):
    """`negative_data_rejection` for POST /f/{form_id}, where a browser's refusal is a 303.

    A form with an `error_url` answers a refused post from a browser with a redirect there,
    carrying `error=<reason>` (openapi.json: "Browsers: to success_url or error_url"): that is a
    refusal. Any other 2xx or 3xx answer to a schema-violating post still fails the run.
    """
    meta = getattr(case, "meta", None)
    if meta is None or meta.generation.mode.is_positive:
        return None
    if case.operation.path != "/f/{form_id}" or case.method.upper() != "POST":
        return None
    status = response.status_code
    if status >= 400:
        return None
    location = response.headers.get("location") or response.headers.get("Location") or [""]
    location = location[0] if isinstance(location, list) else location
    if status == 303 and ("?error=" in location or "&error=" in location):
        return None
    raise AssertionError(f"a schema-violating form post was answered {status} (Location: {location!r})")


@schemathesis.check
def console_pages_refuse_what_the_schema_refuses(ctx, response, case):
    """`negative_data_rejection` for the console's session pages, where a browser without a
    session is sent to sign in (303 to /console/login): that is a refusal, as a 4xx is. Any other
    2xx or 3xx answer to a schema-violating request still fails the run."""
    meta = getattr(case, "meta", None)
    if meta is None or meta.generation.mode.is_positive:
        return None
    path = case.operation.path
    if not path.startswith("/console") or path in ("/console/login", "/console/console.css"):
        return None
    status = response.status_code
    if status >= 400:
        return None
    location = response.headers.get("location") or response.headers.get("Location") or [""]
    location = location[0] if isinstance(location, list) else location
    if status == 303 and location.startswith("/console/login"):
        return None
    raise AssertionError(f"a schema-violating console request was answered {status} (Location: {location!r})")
