// `make demo`: loads a realistic example into a running system through its public API only —
// forms, a scoring model, reps and teams in several time zones, routing rules, an SLA policy —
// and a few hundred synthetic leads with activities over the last 30 days, first touches and
// sales outcomes, so the console (http://127.0.0.1:8787/console) shows a living picture.
//
//   node scripts/demo.cjs [--leads N]     (REVOPS_BASE_URL, REVOPS_ADMIN_KEY; defaults: the
//                                          `make dev` session and ADMIN_API_KEY from .dev.vars)
//
// Safe to run again: the configuration is put, not duplicated, and each run adds new leads.
// Random choices come from a seeded generator, so a run is reproducible given its seed.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const BASE = process.env.REVOPS_BASE_URL || 'http://127.0.0.1:8787';
function adminKey() {
  if (process.env.REVOPS_ADMIN_KEY) return process.env.REVOPS_ADMIN_KEY;
  const vars = path.join(ROOT, '.dev.vars');
  const line = fs.existsSync(vars) && fs.readFileSync(vars, 'utf8').split('\n').find((l) => l.startsWith('ADMIN_API_KEY='));
  if (!line) throw new Error('no ADMIN_API_KEY: run `make dev` first (it writes .dev.vars), or set REVOPS_ADMIN_KEY');
  return line.slice('ADMIN_API_KEY='.length).trim();
}
const ADMIN = adminKey();
const argLeads = process.argv.indexOf('--leads');
const LEADS = argLeads > 0 ? Number(process.argv[argLeads + 1]) : 300;
const SEED = Number(process.env.REVOPS_DEMO_SEED || Date.now() % 100000);

// mulberry32: small, seeded, good enough for synthetic data.
let state = SEED >>> 0;
function random() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (list) => list[Math.floor(random() * list.length)];
const chance = (p) => random() < p;

async function call(method, urlPath, body, extra = {}) {
  const res = await fetch(BASE + urlPath, {
    method,
    redirect: 'manual',
    headers: {
      authorization: `Bearer ${ADMIN}`,
      ...(body ? { 'content-type': extra.form ? 'application/x-www-form-urlencoded' : 'application/json' } : {}),
      ...(extra.headers || {}),
    },
    body: extra.form ? new URLSearchParams(body).toString() : body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* a page */ }
  return { status: res.status, json, text };
}

async function must(method, urlPath, body, ok = [200, 201]) {
  const res = await call(method, urlPath, body);
  if (!ok.includes(res.status)) throw new Error(`${method} ${urlPath} answered ${res.status}: ${res.text.slice(0, 500)}`);
  return res.json;
}

const hours = (tz, from = '09:00', to = '17:30') => ({
  timezone: tz,
  hours: { mon: `${from}-${to}`, tue: `${from}-${to}`, wed: `${from}-${to}`, thu: `${from}-${to}`, fri: `${from}-${to}` },
});

const REPS = [
  ['demo-maya', 'Maya Okafor', 'Europe/London', 'demo-lena'],
  ['demo-jonas', 'Jonas Weber', 'Europe/Berlin', 'demo-lena'],
  ['demo-lucie', 'Lucie Martin', 'Europe/Paris', 'demo-lena'],
  ['demo-sam', 'Sam Rivera', 'America/New_York', 'demo-dana'],
  ['demo-priya', 'Priya Shah', 'America/Chicago', 'demo-dana'],
  ['demo-tom', 'Tom Becker', 'America/Los_Angeles', 'demo-dana'],
  ['demo-aiko', 'Aiko Tanaka', 'Asia/Tokyo', 'demo-dana'],
  ['demo-liam', 'Liam Nguyen', 'Australia/Sydney', 'demo-dana'],
];
const MANAGERS = [['demo-lena', 'Lena Fischer (EMEA manager)', 'Europe/Berlin'], ['demo-dana', 'Dana Brooks (Americas & APAC manager)', 'America/New_York']];
const COUNTRIES = { emea: ['GB', 'DE', 'FR', 'NL', 'SE', 'ES'], na: ['US', 'US', 'US', 'CA'], apac: ['JP', 'AU', 'SG', 'IN'] };
const FIRST = ['Ada', 'Grace', 'Alan', 'Linus', 'Margaret', 'Ken', 'Barbara', 'Donald', 'Frances', 'Edsger', 'Radia', 'Tim', 'Hedy', 'Vint', 'Katherine', 'Guido', 'Sophie', 'Yukihiro', 'Anita', 'Bjarne'];
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Torvalds', 'Hamilton', 'Thompson', 'Liskov', 'Knuth', 'Allen', 'Dijkstra', 'Perlman', 'Berners-Lee', 'Lamarr', 'Cerf', 'Johnson', 'van Rossum', 'Wilson', 'Matsumoto', 'Borg', 'Stroustrup'];
const COMPANIES = ['Northwind', 'Contoso', 'Fabrikam', 'Globex', 'Initech', 'Umbrella Analytics', 'Stark Logistics', 'Wayne Retail', 'Acme Robotics', 'Hooli', 'Vandelay Imports', 'Soylent Foods', 'Tyrell Systems', 'Wonka Labs', 'Cyberdyne Health', 'Gringotts Finance', 'Oscorp Energy', 'Monarch Travel', 'Pied Piper', 'Dunder Paper'];
const TITLES = ['VP Marketing', 'Head of Sales', 'Director of Revenue Operations', 'Marketing Manager', 'CEO', 'Growth Lead', 'Sales Operations Analyst', 'CTO', 'Demand Generation Manager', 'Intern', 'Chief Revenue Officer', 'Account Executive'];
const SOURCES = [
  ['website', 'google', 'cpc', 'q4-brand'], ['website', 'google', 'cpc', 'q4-competitor'], ['paid-social', 'linkedin', 'paid-social', 'q4-abm'],
  ['webinar', 'newsletter', 'email', 'revops-webinar-nov'], ['partner', 'partner-portal', 'referral', 'partner-q4'], ['event', 'saastr', 'event', 'saastr-europa'],
  ['organic', 'google', 'organic', null],
];
const REJECTIONS = ['no_budget', 'bad_timing', 'not_icp', 'competitor', 'no_response'];

async function configure() {
  for (const [id, name, tz] of MANAGERS) await must('PUT', `/v1/roster/reps/${id}`, { name, email: `${id}@example.com`, working_hours: hours(tz) });
  for (const [id, name, tz, manager] of REPS) {
    await must('PUT', `/v1/roster/reps/${id}`, {
      name, email: `${id}@example.com`, manager, working_hours: hours(tz),
      capacity: { max_open: pick([40, 50, 60]), max_per_day: 30 },
    });
  }
  await must('PUT', '/v1/roster/teams/demo-emea', { name: 'EMEA SDRs', mode: 'weighted_round_robin', working_hours: 'prefer', members: [{ rep: 'demo-maya', weight: 3 }, { rep: 'demo-jonas', weight: 2 }, { rep: 'demo-lucie', weight: 1 }] });
  await must('PUT', '/v1/roster/teams/demo-na', { name: 'North America SDRs', mode: 'least_loaded', working_hours: 'prefer', members: [{ rep: 'demo-sam' }, { rep: 'demo-priya' }, { rep: 'demo-tom' }] });
  await must('PUT', '/v1/roster/teams/demo-apac', { name: 'APAC SDRs', mode: 'round_robin', working_hours: 'prefer', members: [{ rep: 'demo-aiko' }, { rep: 'demo-liam' }] });

  const builtIn = await must('GET', '/v1/admin/scoring/models/0');
  const model = {
    ...builtIn.model,
    name: 'Demo: B2B SaaS MQL definition',
    stages: [{ name: 'mql', enter_at: 60, exit_below: 45 }],
    rejection_reasons: [
      { code: 'no_budget', label: 'No budget this year', recycle: 'nurture' },
      { code: 'bad_timing', label: 'Bad timing', recycle: 'nurture' },
      { code: 'not_icp', label: 'Not our ideal customer', recycle: 'disqualify' },
      { code: 'competitor', label: 'Competitor or vendor', recycle: 'disqualify' },
      { code: 'no_response', label: 'No response after 5 touches', recycle: 'nurture' },
    ],
  };
  await must('POST', '/v1/admin/scoring/models', { model, reason: 'demo: agreed MQL definition (60 points; marketing and sales signed off)' });

  await must('POST', '/v1/admin/routing/configs', {
    reason: 'demo: territories by country, account owners first',
    config: {
      name: 'Demo territories', account_owner_first: true,
      rules: [
        { id: 'emea', description: 'Europe', when: { field: 'country', in: COUNTRIES.emea }, assign: { team: 'demo-emea' } },
        { id: 'na', description: 'North America', when: { field: 'country', in: ['US', 'CA'] }, assign: { team: 'demo-na' } },
        { id: 'apac', description: 'Asia-Pacific', when: { field: 'country', in: COUNTRIES.apac }, assign: { team: 'demo-apac' } },
      ],
      fallback: { queue: 'triage' },
    },
  });

  await must('POST', '/v1/admin/sla/policies', {
    reason: 'demo: speed to lead agreed with sales leadership',
    policy: {
      name: 'Demo: hot MQLs within 30 business minutes', business_hours: hours('Europe/London', '08:00', '18:00'), use_rep_hours: true,
      tiers: [
        { name: 'hot', when: { field: 'score', at_least: 80 }, first_touch_minutes: 30, follow_up_minutes: 240 },
        { name: 'standard', first_touch_minutes: 240 },
      ],
      ladder: [
        { id: 'warn', action: 'warn', before_deadline_minutes: 10 },
        { id: 'escalate', action: 'escalate', after_deadline_minutes: 0, via: ['task'] },
        { id: 'reassign', action: 'reassign', after_deadline_minutes: 120 },
      ],
    },
  });

  const forms = {};
  const existing = await must('GET', '/v1/admin/forms');
  for (const [key, name, source] of [['demo', 'Demo request', 'website'], ['webinar', 'Webinar registration', 'webinar']]) {
    // Every synthetic fill comes from this one machine: a per-visitor limit fit for a load.
    const config = { name, allowed_origins: ['https://www.example.com'], lead_source: source, rate_limit: { max: 1000, window_seconds: 10 } };
    const found = (existing.forms || []).find((f) => f.name === name);
    const form = found ? await must('PUT', `/v1/admin/forms/${found.id}`, config) : await must('POST', '/v1/admin/forms', config);
    forms[key] = form.id;
  }
  return forms;
}

const DAY = 86400000;

async function oneLead(i, forms, tally) {
  const region = pick(['emea', 'emea', 'na', 'na', 'na', 'apac', null]);
  const country = region ? pick(COUNTRIES[region]) : null;
  const company = pick(COMPANIES);
  const domain = `${company.toLowerCase().replace(/[^a-z]+/g, '')}.example`;
  const [first, last] = [pick(FIRST), pick(LAST)];
  const email = `${first}.${last}.${SEED}.${i}@${domain}`.toLowerCase().replace(/[^a-z0-9.@-]/g, '');
  const [source, utmSource, utmMedium, utmCampaign] = pick(SOURCES);
  const fields = {
    email, first_name: first, last_name: last, company, title: pick(TITLES), lead_source: source,
    utm_source: utmSource, utm_medium: utmMedium, ...(utmCampaign ? { utm_campaign: utmCampaign } : {}), ...(country ? { country } : {}),
  };
  let created;
  if (chance(0.4)) {
    const form = source === 'webinar' ? forms.webinar : forms.demo;
    const res = await call('POST', `/f/${form}`, fields, { form: true, headers: { origin: 'https://www.example.com', accept: 'application/json' } });
    if (![200, 201, 303].includes(res.status)) throw new Error(`form answered ${res.status}: ${res.text.slice(0, 300)}`);
    created = (await must('GET', `/v1/leads?email=${encodeURIComponent(email)}&limit=1`)).leads[0];
  } else {
    created = await must('POST', '/v1/leads', fields);
  }
  const id = created.id;
  tally.leads++;
  // Engagement over the last 30 days: most leads a little, some a lot.
  const activities = Math.floor(random() ** 1.5 * 8);
  for (let a = 0; a < activities; a++) {
    const type = pick(['page_view', 'pricing_page_view', 'email_click', 'content_download', 'webinar_attended', 'demo_request', 'demo_request']);
    const at = new Date(Date.now() - Math.floor(random() * 30 * DAY)).toISOString();
    await must('POST', '/v1/activities', { lead_id: id, type, occurred_at: at, external_id: `demo-${SEED}-${i}-${a}`, source: 'demo' });
    tally.activities++;
  }
  const routing = await must('GET', `/v1/leads/${id}/routing`);
  const rep = routing.current && routing.current.owner && routing.current.owner.rep;
  if (!rep) return;
  tally.routed++;
  // Sales works most of what it is given; some of it is late, some never touched.
  if (chance(0.75)) {
    await must('POST', `/v1/leads/${id}/touches`, { type: pick(['call', 'email', 'email', 'meeting']), rep, external_id: `demo-touch-${SEED}-${i}` }, [200, 201]);
    tally.touched++;
    const roll = random();
    let outcome = null;
    if (roll < 0.35) outcome = { outcome: 'accepted' };
    else if (roll < 0.6) outcome = { outcome: 'rejected', reason: pick(REJECTIONS), note: 'demo' };
    else if (roll < 0.7) outcome = { outcome: 'converted' };
    if (outcome) {
      await must('POST', `/v1/leads/${id}/outcome`, outcome);
      tally[outcome.outcome]++;
    }
  }
}

async function main() {
  const health = await call('GET', '/health');
  if (health.status !== 200 && health.status !== 503) throw new Error(`nothing answers at ${BASE}: start it with \`make dev\``);
  console.error(`demo: loading into ${BASE} (seed ${SEED}, ${LEADS} leads)`);
  const forms = await configure();
  const tally = { leads: 0, activities: 0, routed: 0, touched: 0, accepted: 0, rejected: 0, converted: 0 };
  let next = 0;
  const worker = async () => {
    while (next < LEADS) {
      const i = next++;
      await oneLead(i, forms, tally);
      if (tally.leads % 50 === 0) console.error(`demo: ${tally.leads} leads`);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  // The cron runs the SLA ladder and the rescoring; fire it once so the picture is current.
  await call('GET', '/cdn-cgi/handler/scheduled?cron=*+*+*+*+*');
  console.error(`demo: ${JSON.stringify(tally)}`);
  console.log(`Open ${BASE}/console and sign in with ADMIN_API_KEY from .dev.vars (or any key with reports:read).`);
}

main().catch((e) => { console.error(`demo: ${e.message}`); process.exit(1); });
