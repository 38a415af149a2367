// The console in a real headless Chromium (Debian's, driven by playwright-core) against the real
// local runtime: sign-in, every page, figures equal to the API's for the same period, a lead
// followed from the search to its story, scopes, sign-out, and cross-site requests refused.
// Run by scripts/test.sh with REVOPS_BASE_URL, REVOPS_ADMIN_KEY, CHROMIUM and REVOPS_ARTIFACTS
// (where each page's screenshot is saved).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const path = require('node:path');
const fs = require('node:fs');
const { chromium } = require('playwright-core');

const BASE = process.env.REVOPS_BASE_URL;
const ADMIN = process.env.REVOPS_ADMIN_KEY;
const SHOTS = process.env.REVOPS_ARTIFACTS || path.join(__dirname, '..', '..', '.test-state', 'screenshots');
fs.mkdirSync(SHOTS, { recursive: true });
const RUN = Date.now().toString(36);

async function api(method, urlPath, body, key = ADMIN) {
  const res = await fetch(BASE + urlPath, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    redirect: 'manual',
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text, headers: res.headers };
}

async function key(name, scopes) {
  const res = await api('POST', '/v1/admin/keys', { name: `${name}-${RUN}`, scopes });
  assert.equal(res.status, 201, res.text);
  return res.json.key;
}

let browser;
const keys = {};
const leads = [];

test.before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  keys.ops = await key('console-ops', ['reports:read', 'leads:read', 'consent:read']);
  keys.reports = await key('console-reports', ['reports:read']);
  keys.leadsOnly = await key('console-leads', ['leads:read']);
  for (const [i, source] of [[1, 'webinar'], [2, 'webinar'], [3, 'paid-search']]) {
    const res = await api('POST', '/v1/leads', {
      email: `browser-${RUN}-${i}@acme-${RUN}.io`, first_name: `Ada${i}`, company: `Acme ${RUN}`,
      title: 'VP Sales', lead_source: source, utm_source: 'google', utm_medium: 'cpc', utm_campaign: `q4-${RUN}`,
    });
    assert.ok([200, 201].includes(res.status), res.text);
    leads.push(res.json);
  }
  // Long unbroken names (campaigns are often like this) must not push a phone's page sideways.
  const long = await api('POST', '/v1/leads', {
    email: `browser-${RUN}-long@a-rather-long-company-domain-name-${RUN}.io`, company: `Averyveryverylongcompanynamewithoutspaces${RUN}`,
    lead_source: `a-long-lead-source-name-without-spaces-${RUN}`, utm_campaign: `emea-q4-2026-brand-awareness-retargeting-lookalike-${RUN}`,
  });
  assert.ok([200, 201].includes(long.status), long.text);
});

test.after(async () => { await browser?.close(); });

async function newPage(viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  // A page that broke its own Content-Security-Policy (an inline style or script, an outside
  // asset) logs it: every test ends by checking there was none.
  page.violations = [];
  page.on('console', (m) => { if (/Content Security Policy|Refused to/.test(m.text())) page.violations.push(m.text()); });
  return { context, page };
}

async function shot(page, name) {
  assert.deepEqual(page.violations, [], 'no Content-Security-Policy violation');
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

async function signIn(page, secret, next = '/console') {
  await page.goto(`${BASE}/console/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel('API key').fill(secret);
  const [response] = await Promise.all([
    page.waitForNavigation(),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  return response;
}

// Every page: one h1, a label for every visible input, a language, and no external asset.
async function checkAccessible(page) {
  assert.equal(await page.locator('h1').count(), 1, 'one heading per page');
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  const unlabelled = await page.$$eval('input:not([type=hidden]), select', (els) =>
    els.filter((e) => !(e.id && document.querySelector(`label[for="${e.id}"]`))).map((e) => e.name));
  assert.deepEqual(unlabelled, [], 'every field has a label');
  const external = await page.$$eval('link[href], img[src], script', (els) =>
    els.map((e) => e.getAttribute('href') || e.getAttribute('src') || 'script'));
  for (const url of external) assert.ok(url.startsWith('/console/'), `only the console's own assets: ${url}`);
}

test('a page without a session sends the browser to sign in, and back after it', async () => {
  const { context, page } = await newPage();
  const response = await page.goto(`${BASE}/console/leads?stage=new`);
  assert.equal(response.status(), 200);
  assert.equal(new URL(page.url()).pathname, '/console/login');
  assert.equal(new URL(page.url()).searchParams.get('next'), '/console/leads?stage=new');
  await checkAccessible(page);
  await shot(page, 'login');
  await page.getByLabel('API key').fill(keys.ops);
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign in' }).click()]);
  assert.equal(new URL(page.url()).pathname + new URL(page.url()).search, '/console/leads?stage=new');
  const cookie = (await context.cookies()).find((c) => c.name === 'revops_console');
  assert.ok(cookie, 'a session cookie');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(cookie.path, '/console');
  await context.close();
});

test('a wrong key, or one without reports:read, does not start a session', async () => {
  const { context, page } = await newPage();
  let response = await signIn(page, 'rk_not-a-key');
  assert.equal(response.status(), 401);
  assert.match(await page.locator('[role=alert]').innerText(), /unknown or revoked/);
  response = await signIn(page, keys.leadsOnly);
  assert.equal(response.status(), 403);
  assert.match(await page.locator('main').innerText(), /reports:read/);
  assert.equal((await context.cookies()).length, 0);
  await context.close();
});

test('the overview shows the API\'s own figures for the period it names', async () => {
  const { context, page } = await newPage();
  await signIn(page, keys.ops);
  assert.equal(new URL(page.url()).pathname, '/console');
  const headers = (await page.goto(`${BASE}/console?period=30d`)).headers();
  assert.match(headers['content-security-policy'], /default-src 'none'/);
  assert.doesNotMatch(headers['content-security-policy'], /script-src/);
  await checkAccessible(page);
  const from = await page.getAttribute('#window', 'data-from');
  const to = await page.getAttribute('#window', 'data-to');
  const funnel = await api('GET', `/v1/reports/funnel?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
  assert.equal(funnel.status, 200, funnel.text);
  for (const measure of ['new_leads', 'mqls', 'accepted', 'rejected', 'converted']) {
    const shown = Number(await page.getAttribute(`#fig-${measure}`, 'data-value'));
    assert.equal(shown, funnel.json.period.totals[measure], measure);
  }
  assert.ok(funnel.json.period.totals.new_leads >= 3, 'the leads made for this run are counted');
  const sla = await api('GET', `/v1/sla/metrics?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
  assert.equal(Number(await page.locator('#sla-breached').innerText()), sla.json.overall.breached);
  assert.equal(Number(await page.locator('#sla-assigned').innerText()), sla.json.overall.assigned);
  // Each breakdown's table (beside its chart) shows the API's own numbers, largest first.
  for (const [id, by] of [['by-source', 'by_source'], ['by-utm-campaign', 'by_utm_campaign'], ['by-form', 'by_form']]) {
    const rows = await page.$$eval(`#${id} tbody tr`, (trs) => trs.map((tr) => [tr.querySelector('th').textContent, Number(tr.querySelector('td').textContent)]));
    assert.ok(rows.length > 0 && rows.length <= 10, `${id}: ${rows.length} rows`);
    for (const [label, shown] of rows) assert.equal(shown, funnel.json.period[by][label].new_leads, `${id} ${label}`);
    const values = rows.map(([, n]) => n);
    assert.deepEqual(values, [...values].sort((a, b) => b - a), `${id} is largest first`);
  }
  assert.equal(await page.locator('#by-source svg[role=img] title').count(), 1);
  await shot(page, 'overview');
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, 'overview-phone');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `no sideways scrolling on a phone (${overflow}px)`);
  await page.selectOption('#period', '7d');
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Show' }).click()]);
  assert.equal(new URL(page.url()).searchParams.get('period'), '7d');
  await context.close();
});

test('a lead is followed from the search to its whole story', async () => {
  // The lead is on a list: its story shows the list, and when and why it joined.
  const list = await api('POST', '/v1/lists', { name: `Browser ${RUN}`, kind: 'static' });
  assert.equal(list.status, 201, list.text);
  const added = await api('POST', `/v1/lists/${list.json.id}/members`, { lead_ids: [leads[2].id] });
  assert.equal(added.json.added, 1, added.text);
  const { context, page } = await newPage();
  await signIn(page, keys.ops, '/console/leads');
  await checkAccessible(page);
  const email = `browser-${RUN}-3@acme-${RUN}.io`;
  await page.getByLabel('Email contains').fill(`${RUN}-3@`);
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Search' }).click()]);
  const rows = page.locator('#results tbody tr');
  assert.equal(await rows.count(), 1);
  assert.match(await rows.first().innerText(), /paid-search/);
  await shot(page, 'leads');
  await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: email }).click()]);
  assert.equal(new URL(page.url()).pathname, `/console/leads/${leads[2].id}`);
  await checkAccessible(page);
  assert.equal(await page.locator('h1').innerText(), email);
  const lead = await api('GET', `/v1/leads/${leads[2].id}/routing`);
  const whereabouts = await page.locator('#whereabouts').innerText();
  if (lead.json.current) assert.match(whereabouts, /^With /);
  else assert.match(whereabouts, /^Not routed: /, 'a lead that went nowhere says why');
  const score = await api('GET', `/v1/leads/${leads[2].id}/score`);
  assert.equal(await page.locator('#score-total').innerText(), Math.round(score.json.total).toString());
  assert.ok(await page.locator('#timeline li[data-kind=submission]').count() >= 1);
  assert.ok(await page.getByRole('heading', { name: 'Consent' }).isVisible());
  assert.ok(await page.getByRole('heading', { name: 'Workflows', exact: true }).isVisible());
  assert.match(await page.locator('#timeline li[data-kind=list]').first().innerText(), new RegExp(`Joined list Browser ${RUN}`));
  await shot(page, 'lead-story');
  // Each submission's payload, as it arrived, one click away.
  await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: 'raw payload' }).first().click()]);
  await checkAccessible(page);
  assert.match(await page.locator('#raw').innerText(), new RegExp(email.replace(/[.]/g, '\\.')));
  assert.match(await page.locator('#normalised').innerText(), /"email"/);
  await shot(page, 'submission');
  await page.goBack();
  // Paging: one lead per page, then the next page link.
  await page.goto(`${BASE}/console/leads?company=${encodeURIComponent(RUN)}&limit=1`);
  assert.equal(await page.locator('#results tbody tr').count(), 1);
  await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: 'Next page' }).click()]);
  assert.equal(await page.locator('#results tbody tr').count(), 1);
  // A malformed filter is named on the page, with the form kept.
  const bad = await page.goto(`${BASE}/console/leads?created_from=yesterday`);
  assert.equal(bad.status(), 422);
  assert.match(await page.locator('[role=alert]').innerText(), /created_from/);
  assert.equal(await page.getByLabel('Created from').inputValue(), 'yesterday');
  const missing = await page.goto(`${BASE}/console/leads/lead_0000000000000000000000000z`);
  assert.equal(missing.status(), 404);
  await context.close();
});

test('a key\'s scopes limit what the console shows', async () => {
  const { context, page } = await newPage();
  await signIn(page, keys.reports);
  assert.equal(new URL(page.url()).pathname, '/console');
  const response = await page.goto(`${BASE}/console/leads`);
  assert.equal(response.status(), 403);
  assert.match(await page.locator('main').innerText(), /leads:read/);
  await context.close();
});

// A page on another origin (a real local server) that posts to the console, as a hostile site
// would. The console refuses it, whatever the browser sends.
function hostileSite(html) {
  return new Promise((resolve) => {
    const server = http.createServer((_, res) => { res.setHeader('content-type', 'text/html'); res.end(html); });
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

test('a cross-site POST is refused', async () => {
  const { context, page } = await newPage();
  await signIn(page, keys.ops);
  const csrf = await page.getAttribute('input[name=csrf]', 'value');
  const site = await hostileSite(`<!doctype html><form method="post" action="${BASE}/console/logout">
    <input name="csrf" value="${csrf}"></form><form id="login" method="post" action="${BASE}/console/login">
    <input name="api_key" value="${keys.ops}"></form>`);
  const evil = `http://127.0.0.1:${site.address().port}/`;
  for (const form of ['form', '#login']) {
    const other = await context.newPage();
    await other.goto(evil);
    const [response] = await Promise.all([
      other.waitForNavigation(),
      other.evaluate((sel) => document.querySelector(sel).submit(), form),
    ]);
    assert.notEqual(response.status(), 303, `${form}: not acted on`);
    assert.ok([403].includes(response.status()) || new URL(other.url()).pathname === '/console/login', `${form}: ${response.status()}`);
    await other.close();
  }
  site.close();
  // Still signed in: the hostile logout did nothing.
  const still = await page.goto(`${BASE}/console`);
  assert.equal(new URL(page.url()).pathname, '/console');
  assert.equal(still.status(), 200);
  // Straight POSTs without the console's Origin, or with a wrong CSRF token, are refused too.
  const cookie = (await context.cookies()).find((c) => c.name === 'revops_console');
  for (const [headers, body] of [
    [{ origin: 'http://evil.example' }, `csrf=${csrf}`],
    [{}, `csrf=${csrf}`],
    [{ origin: BASE }, 'csrf=wrong'],
  ]) {
    const res = await fetch(`${BASE}/console/logout`, {
      method: 'POST', redirect: 'manual', body,
      headers: { ...headers, cookie: `revops_console=${cookie.value}`, 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(res.status, 403, JSON.stringify(headers) + body);
  }
  await context.close();
});

test('signing out ends the session on the server, and so does revoking its key', async () => {
  const { context, page } = await newPage();
  await signIn(page, keys.ops);
  const cookie = (await context.cookies()).find((c) => c.name === 'revops_console');
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign out' }).click()]);
  assert.equal(new URL(page.url()).pathname, '/console/login');
  await page.goto(`${BASE}/console`);
  assert.equal(new URL(page.url()).pathname, '/console/login');
  const replay = await fetch(`${BASE}/console`, { redirect: 'manual', headers: { cookie: `revops_console=${cookie.value}` } });
  assert.equal(replay.status, 303, 'the old cookie no longer opens a session');
  // A session whose key is revoked ends at once.
  const doomed = await key('console-doomed', ['reports:read']);
  await signIn(page, doomed);
  assert.equal(new URL(page.url()).pathname, '/console');
  const list = await api('GET', '/v1/admin/keys');
  const id = list.json.keys.find((k) => k.name === `console-doomed-${RUN}`).id;
  assert.equal((await api('DELETE', `/v1/admin/keys/${id}`)).status, 200);
  await page.goto(`${BASE}/console`);
  assert.equal(new URL(page.url()).pathname, '/console/login');
  await context.close();
});

test('every page renders, readable and within its policy, for a key with every scope', async () => {
  const { context, page } = await newPage();
  await signIn(page, ADMIN);
  for (const [pathName, shotName, heading] of [
    ['/console/routing', 'routing', 'Routing'],
    ['/console/sla', 'sla', 'SLA'],
    ['/console/health', 'health', 'Health'],
    ['/console/workflows', 'workflows', 'Workflows'],
    ['/console/workflows/wf_000000000000000000000bnced', 'workflow-bounce', 'Email bounced'],
    ['/console/definitions', 'definitions', 'Definitions'],
    ['/console/definitions/scoring', 'definitions-scoring', 'Scoring model (the MQL definition)'],
    ['/console/definitions/routing', 'definitions-routing', 'Routing rules'],
    ['/console/definitions/sla', 'definitions-sla', 'SLA policy'],
  ]) {
    const response = await page.goto(BASE + pathName);
    assert.equal(response.status(), 200, pathName);
    assert.equal(await page.locator('h1').innerText(), heading);
    assert.equal(await page.locator('nav a[aria-current=page]').count(), 1, pathName);
    await checkAccessible(page);
    await shot(page, shotName);
  }
  // Fallbacks over time: the routing page's day table carries the API's own days.
  await page.goto(`${BASE}/console/routing`);
  const stats = await api('GET', '/v1/admin/routing/stats');
  assert.equal(await page.locator('#fallbacks-by-day').count(), 1);
  for (const day of Object.keys(stats.json.fallbacks_by_day)) {
    assert.equal(await page.locator('#fallbacks-by-day th[scope=row]', { hasText: day }).count(), 1, day);
  }
  // The Health page names each handler's tick, as GET /v1/admin/ticks does.
  await page.goto(`${BASE}/console/health`);
  const ticks = await api('GET', '/v1/admin/ticks');
  for (const t of ticks.json.ticks) assert.ok(await page.locator('th', { hasText: t.service }).count() >= 1, t.service);
  // Each handler's own probes, as /health gathers them.
  const health = await fetch(`${BASE}/health`).then((r) => r.json());
  for (const name of Object.keys(health.handlers)) {
    const row = page.locator('#handlers tr', { has: page.locator('th', { hasText: name }) });
    assert.equal(await row.count(), 1, name);
    assert.match(await row.locator('td').first().innerText(), /^(ok|degraded)$/, name);
  }
  // Keyboard: the skip link is the first stop, and it leads to the content.
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
  await context.close();
});

async function roster() {
  const reps = [`br-${RUN}-a`, `br-${RUN}-b`];
  for (const [i, id] of reps.entries()) {
    const res = await api('PUT', `/v1/roster/reps/${id}`, { name: `Browser Rep ${i + 1}` });
    assert.equal(res.status, 200, res.text);
  }
  const team = `br-${RUN}`;
  const res = await api('PUT', `/v1/roster/teams/${team}`, {
    name: 'Browser team', mode: 'round_robin', members: reps.map((rep) => ({ rep })),
  });
  assert.equal(res.status, 200, res.text);
  return { reps, team };
}

test('a routing change is dry-run, published with its reason, compared and rolled back from the Definitions page', async () => {
  const { reps, team } = await roster();
  // A version to come back to: what was live before the change made on the page.
  const baseline = await api('POST', '/v1/admin/routing/configs', {
    reason: 'browser test baseline',
    config: { name: `baseline ${RUN}`, account_owner_first: true, rules: [], fallback: { rep: reps[0] } },
  });
  assert.equal(baseline.status, 201, baseline.text);
  const before = await api('GET', '/v1/admin/routing/configs');
  const { context, page } = await newPage();
  await signIn(page, ADMIN, '/console/definitions/routing');
  const draft = JSON.stringify({
    name: `browser ${RUN}`, account_owner_first: false,
    rules: [{ id: 'browser', when: { field: 'company', equals: `Acme ${RUN}` }, assign: { team } }],
    fallback: { rep: reps[0] },
  }, null, 2);
  await page.getByLabel('Draft (JSON)').fill(draft);
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Dry-run against recent leads' }).click()]);
  assert.equal(page.url(), `${BASE}/console/definitions/routing/dry-run`);
  assert.match(await page.locator('#dry-run').innerText(), /would go elsewhere[\s\S]*Nothing was changed/);
  assert.equal(await page.getByLabel('Draft (JSON)').inputValue(), draft, 'the draft is kept');
  await shot(page, 'definitions-dry-run');
  const unchanged = await api('GET', '/v1/admin/routing/configs');
  assert.equal(unchanged.json.active_version, before.json.active_version, 'a dry-run changes nothing');
  // Publishing needs a reason.
  let response;
  [response] = await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Publish' }).click()]);
  assert.equal(response.status(), 422);
  assert.match(await page.locator('[role=alert]').innerText(), /say why/);
  await page.getByLabel('Why (required to publish').fill(`route the browser batch ${RUN} to its team`);
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Publish' }).click()]);
  const published = Number(new URL(page.url()).searchParams.get('published'));
  assert.ok(published > before.json.active_version, page.url());
  assert.match(await page.locator('[role=status]').innerText(), new RegExp(`Published version ${published}`));
  const after = await api('GET', '/v1/admin/routing/configs');
  assert.equal(after.json.active_version, published);
  assert.equal(after.json.versions.find((v) => v.version === published).reason, `route the browser batch ${RUN} to its team`);
  assert.match(await page.locator(`#versions tr[data-version="${published}"]`).innerText(), /active/);
  // Side by side with the version before it.
  await page.selectOption('#cmp-a', String(before.json.active_version));
  await page.selectOption('#cmp-b', String(published));
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Compare' }).click()]);
  assert.match(await page.locator('#diff').innerText(), new RegExp(`Version ${before.json.active_version} beside version ${published}`));
  assert.ok(await page.locator('table.diff tr.changed, table.diff tr.added, table.diff tr.removed').count() > 0);
  await shot(page, 'definitions-diff');
  // Roll back to what was active, with a reason.
  const row = page.locator(`#versions tr[data-version="${before.json.active_version}"]`);
  await row.getByLabel(`Reason to return to ${before.json.active_version}`).fill('browser test: restore');
  await Promise.all([page.waitForNavigation(), row.getByRole('button', { name: `Roll back to ${before.json.active_version}` }).click()]);
  assert.match(await page.locator('[role=status]').innerText(), new RegExp(`Version ${before.json.active_version} is active again`));
  assert.equal((await api('GET', '/v1/admin/routing/configs')).json.active_version, before.json.active_version);
  await context.close();
});

test('a lead is reassigned by hand from its page, and the reassignment is explained', async () => {
  const { reps } = await roster();
  const { context, page } = await newPage();
  await signIn(page, ADMIN, `/console/leads/${leads[0].id}`);
  await page.selectOption('#re-rep', reps[1]);
  await page.getByLabel('Why (recorded)').fill('browser test: the account knows this rep');
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Reassign' }).click()]);
  assert.equal(new URL(page.url()).pathname, `/console/leads/${leads[0].id}`);
  assert.match(await page.locator('[role=status]').innerText(), /Reassigned/);
  const routing = await api('GET', `/v1/leads/${leads[0].id}/routing`);
  assert.equal(routing.json.current.owner.rep, reps[1]);
  assert.equal(routing.json.current.via, 'manual');
  assert.match(await page.locator('#whereabouts').innerText(), new RegExp(`With rep ${reps[1]} since \\d+ \\w+ \\d{4} \\d\\d:\\d\\d UTC, via manual`));
  assert.ok(await page.locator('#timeline li[data-kind=routing]', { hasText: 'via manual' }).count() >= 1);
  await shot(page, 'lead-reassigned');
  // Without leads:write there is no form, and a posted one is refused.
  const narrow = await newPage();
  await signIn(narrow.page, keys.ops, `/console/leads/${leads[0].id}`);
  assert.equal(await narrow.page.locator('#re-rep').count(), 0);
  await narrow.context.close();
  await context.close();
});

test('a webhook source whose sender cannot sign shows on Health and in what needs attention', async () => {
  const secret = `whsec_${Buffer.alloc(32, 7).toString("base64")}`;
  const created = await api('POST', '/v1/admin/sources', { name: `browser source ${RUN}`, vendor: 'standard_webhooks', secrets: [secret] });
  assert.equal(created.status, 201, created.text);
  const source = created.json.id;
  const res = await fetch(`${BASE}/hooks/${source}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json', 'webhook-id': `msg_${RUN}`,
      'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': 'v1,bm90IGEgc2lnbmF0dXJl',
    },
    body: JSON.stringify({ type: 'contact.created', data: { email: `nobody-${RUN}@example.com` } }),
  });
  assert.equal(res.status, 401);
  const { context, page } = await newPage();
  await signIn(page, ADMIN, '/console/health');
  const row = page.locator('#sources tr', { hasText: source });
  assert.match(await row.innerText(), /invalid_signature: 1/);
  assert.equal(await row.locator('td.bad').count(), 1);
  await shot(page, 'health-sources');
  await page.goto(`${BASE}/console?period=7d`);
  assert.match(await page.locator('.attention').innerText(), new RegExp(`Webhook source ${source}: 1 delivery failed the signature check`));
  await context.close();
});

test('a workflow is dry-run, published, paused, resumed and rolled back from the Workflows page, which names its failed steps', async () => {
  const list = await api('POST', '/v1/lists', { name: `browser list ${RUN}`, kind: 'static' });
  assert.equal(list.status, 201, list.text);
  const kind = `custom:browser_${RUN}`;
  const before = await api('GET', '/v1/admin/workflows');
  const { context, page } = await newPage();
  await signIn(page, ADMIN, '/console/workflows');
  assert.equal(await page.locator('h1').innerText(), 'Workflows');
  // The built-in bounce workflow and its list are there for anyone to read.
  assert.equal(await page.locator('#workflows tr[data-workflow="wf_000000000000000000000bnced"]').count(), 1);
  assert.match(await page.locator(`#lists tr[data-list="${list.json.id}"]`).innerText(), /static\s+0/);
  // On a phone the wide table scrolls in its own region; the page does not scroll sideways.
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, 'workflows-phone');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `no sideways scrolling on a phone (${overflow}px)`);
  await page.setViewportSize({ width: 1280, height: 900 });
  // An endpoint nobody registered: the webhook step fails, and the page says why.
  const draft = JSON.stringify({
    name: `Browser ${RUN}`, trigger: { event: 'activity.recorded', type: kind },
    steps: [
      { id: 'join', action: 'add_to_list', list: list.json.id },
      { id: 'call', action: 'webhook', endpoint: 'whe_00000000000000000000000000', body: { email: '{{lead.email}}' } },
    ],
  }, null, 2);
  await page.getByLabel('Draft (JSON)').fill(draft);
  await page.getByLabel('Days of recorded events to replay').fill('7');
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Dry-run against recorded events' }).click()]);
  assert.equal(page.url(), `${BASE}/console/workflows/dry-run`);
  assert.match(await page.locator('#dry-run').innerText(), /Replaying \d+ recorded events of the last 7 days[\s\S]*nothing was stored, sent or changed/);
  assert.equal(await page.getByLabel('Draft (JSON)').inputValue(), draft, 'the draft is kept');
  await checkAccessible(page);
  await shot(page, 'workflows-dry-run');
  assert.equal((await api('GET', '/v1/admin/workflows')).json.workflows.length, before.json.workflows.length, 'a dry-run publishes nothing');
  // Publishing needs a reason; then it lands on the new workflow's page.
  let response;
  [response] = await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Publish' }).click()]);
  assert.equal(response.status(), 422);
  assert.match(await page.locator('[role=alert]').innerText(), /say why/);
  await page.getByLabel('Why (required to publish').fill(`browser ${RUN}: list trial users`);
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Publish' }).click()]);
  const url = new URL(page.url());
  const id = url.pathname.split('/').pop();
  assert.match(id, /^wf_/);
  assert.equal(url.searchParams.get('published'), '1');
  assert.match(await page.locator('[role=status]').innerText(), /Published version 1/);
  assert.match(await page.locator('#steps').innerText(), /join add to list — list: list_[\s\S]*call webhook — body:/);
  // A lead does the activity; the cron runs it: one enrolled, its webhook step failed.
  const lead = await api('POST', '/v1/leads', { email: `browser-${RUN}-wf@acme-${RUN}.io` });
  assert.ok([200, 201].includes(lead.status), lead.text);
  const recorded = await api('POST', '/v1/activities', { lead_id: lead.json.id, type: kind });
  assert.equal(recorded.status, 201, recorded.text);
  const tick = await fetch(`${BASE}/cdn-cgi/handler/scheduled?cron=*+*+*+*+*`);
  assert.equal(tick.status, 200);
  await page.goto(`${BASE}/console/workflows/${id}`);
  const wf = await api('GET', `/v1/admin/workflows/${id}`);
  assert.equal(wf.json.activity.enrolled, 1, wf.text);
  assert.match(await page.locator('#activity').innerText(), /Enrolled\s+1[\s\S]*Steps failed\s+1/);
  const failure = page.locator('#failures tr', { hasText: lead.json.id });
  assert.match(await failure.innerText(), /call webhook[\s\S]*is not registered/);
  assert.equal(await failure.locator(`a[href="/console/leads/${lead.json.id}"]`).count(), 1);
  await checkAccessible(page);
  await shot(page, 'workflow');
  // Paused with a reason, then resumed asking for a catch-up.
  await page.getByLabel('Why pause it').fill('browser test: check the copy');
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Pause' }).click()]);
  assert.match(await page.locator('[role=status]').innerText(), /Paused: nothing runs/);
  assert.equal(await page.getAttribute('#workflow-state', 'data-state'), 'paused');
  assert.equal((await api('GET', `/v1/admin/workflows/${id}`)).json.state, 'paused');
  await page.getByLabel('Why resume it').fill('browser test: copy checked');
  await page.getByLabel('Also enrol the leads whose events came while it was paused').check();
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Resume' }).click()]);
  assert.match(await page.locator('[role=status]').innerText(), /Resumed, and 0 leads/);
  assert.equal((await api('GET', `/v1/admin/workflows/${id}`)).json.state, 'active');
  // A second version, then back to the first; the history says who did what and why.
  await page.getByLabel('Draft (JSON)').fill(draft.replace(`Browser ${RUN}`, `Browser ${RUN} v2`));
  await page.getByLabel('Why (required to publish').fill('browser test: rename');
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Publish' }).click()]);
  assert.match(await page.locator('[role=status]').innerText(), /Published version 2/);
  assert.equal(await page.locator('h1').innerText(), `Browser ${RUN} v2`);
  const row = page.locator('#versions tr[data-version="1"]');
  await row.getByLabel('Reason to return to 1').fill('browser test: the old name');
  await Promise.all([page.waitForNavigation(), row.getByRole('button', { name: 'Roll back to 1' }).click()]);
  assert.match(await page.locator('[role=status]').innerText(), /Version 1 is active again/);
  assert.equal((await api('GET', `/v1/admin/workflows/${id}`)).json.version, 1);
  assert.match(await page.locator('#history').innerText(), /rollback\s+1[\s\S]*publish\s+2[\s\S]*resume[\s\S]*pause[\s\S]*publish\s+1/);
  await context.close();
  // A key without config:write sees the lists, is told why there are no workflows, and may not open one.
  const narrow = await newPage();
  await signIn(narrow.page, keys.ops, '/console/workflows');
  assert.equal(await narrow.page.locator(`#lists tr[data-list="${list.json.id}"]`).count(), 1);
  assert.equal(await narrow.page.locator('#workflows').count(), 0);
  assert.match(await narrow.page.locator('main').innerText(), /needs a key with the config:write scope/);
  assert.equal(await narrow.page.getByLabel('Draft (JSON)').count(), 0);
  const refused = await narrow.page.goto(`${BASE}/console/workflows/${id}`);
  assert.equal(refused.status(), 403);
  await narrow.context.close();
});
