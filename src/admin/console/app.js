// Risk-team console: plain ES module, no build step. Talks to the admin API with the token kept in
// sessionStorage (gone when the tab closes). Every value from the API is written with textContent.
const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
};

const state = { token: sessionStorage.getItem('switch-console-token') || '', base: null, active: null, edits: {}, original: {}, file: 'routing', lastSaved: null };

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(method, path, body) {
  const r = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${state.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  let j = null;
  try { j = text ? JSON.parse(text) : null; } catch { j = null; }
  if (!r.ok) throw new ApiError(r.status, j);
  return j;
}

function say(text, isError = false) {
  const m = $('message');
  m.textContent = text;
  m.className = isError ? 'error' : 'muted';
}

function confirmDialog(text) {
  return new Promise((resolve) => {
    const d = $('confirm');
    $('confirm-text').textContent = text;
    d.returnValue = '';
    d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
    d.showModal();
  });
}

// ── login ────────────────────────────────────────────────────────────────────────────────────────
async function login(token) {
  state.token = token;
  try {
    const me = await api('GET', '/api/whoami');
    sessionStorage.setItem('switch-console-token', token);
    $('whoami').textContent = `${me.name} (${me.role})`;
    $('login-view').classList.add('hidden');
    $('app-view').classList.remove('hidden');
    $('logout').classList.remove('hidden');
    $('login-error').textContent = '';
    await Promise.all([loadVersions(), loadPending(), loadAcquirers(), loadControls(), loadSettlement()]);
    if (state.active) await Promise.all([loadIntoEditor(state.active), loadForm(state.active)]);
  } catch (e) {
    state.token = '';
    sessionStorage.removeItem('switch-console-token');
    $('login-error').textContent = e.status === 401 ? 'That token is not valid.' : `Login failed: ${e.message}`;
  }
}

// ── acquirers ────────────────────────────────────────────────────────────────────────────────────
async function loadAcquirers() {
  const box = $('acquirers');
  try {
    const { acquirers } = await api('GET', '/api/acquirers');
    const rows = acquirers.map((a) => {
      const health = !a.linkUp ? ['down', 'bad'] : !a.detector.alive ? ['failing', 'bad'] : a.breaker === 'open' ? ['breaker open', 'bad'] : a.detector.score > 0.2 || a.breaker === 'half_open' ? ['degraded', 'warn'] : ['healthy', 'ok'];
      return el('tr', { 'data-acquirer': a.id },
        el('td', {}, a.id),
        el('td', {}, el('span', { class: `badge ${health[1]}` }, health[0])),
        el('td', {}, `${a.connections.ready}/${a.connections.configured}`),
        el('td', {}, a.inFlight),
        el('td', {}, a.breaker),
        el('td', {}, a.detector.score.toFixed(2)),
        el('td', {}, a.lastError ? `${a.lastError.code ?? ''} ${a.lastError.reason} (${new Date(a.lastError.at).toLocaleTimeString()})` : '—'),
        el('td', { class: 'control' }, a.control ? el('span', { class: `badge ${a.control.state === 'up' ? 'ok' : 'warn'}` }, `${CONTROL_LABELS[a.control.state]}: ${a.control.reason}`) : '—'));
    });
    box.replaceChildren(el('table', {}, el('thead', {}, el('tr', {}, ...['Acquirer', 'Health', 'Connections', 'In flight', 'Breaker', 'Failure score', 'Last error', 'Control'].map((h) => el('th', {}, h)))), el('tbody', {}, ...rows)));
  } catch (e) {
    box.replaceChildren(el('p', { class: 'muted' }, e.status === 501 ? 'Acquirer health is not available on this instance.' : `Could not load acquirers: ${e.message}`));
  }
}

// ── traffic charts ───────────────────────────────────────────────────────────────────────────────
const SVG = 'http://www.w3.org/2000/svg';
const COLORS = ['#1f6feb', '#d1242f', '#2da44e', '#bf8700', '#8250df', '#0a7ea4', '#cf222e', '#57606a'];
const svgEl = (tag, attrs = {}) => {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
};

/** One line chart: a polyline per series (gaps where a bucket has no value), y from 0 to the largest value. */
function lineChart(id, title, buckets, series, pick, format) {
  const W = 560, H = 160, L = 44, B = 22;
  const values = series.flatMap((s) => pick(s).filter((v) => v !== null));
  const top = Math.max(1e-9, ...values);
  const x = (i) => L + (i * (W - L - 8)) / Math.max(1, buckets.length - 1);
  const y = (v) => H - B - (v / top) * (H - B - 10);
  const svg = svgEl('svg', { id, width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title });
  svg.append(svgEl('line', { x1: L, y1: H - B, x2: W - 8, y2: H - B, stroke: '#c6ccd4' }));
  const label = (text, attrs) => { const t = svgEl('text', { 'font-size': 10, fill: '#57606a', ...attrs }); t.textContent = text; svg.append(t); };
  label(format(top), { x: 2, y: 14 });
  label('0', { x: 2, y: H - B });
  label(new Date(buckets[0]).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }), { x: L, y: H - 6 });
  label(new Date(buckets[buckets.length - 1]).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }), { x: W - 48, y: H - 6 });
  series.forEach((s, k) => {
    let points = [];
    const flush = () => { if (points.length) svg.append(svgEl(points.length === 1 ? 'circle' : 'polyline', points.length === 1 ? { cx: points[0][0], cy: points[0][1], r: 2.5, fill: COLORS[k % COLORS.length], 'data-series': s.key } : { points: points.map((p) => p.join(',')).join(' '), fill: 'none', stroke: COLORS[k % COLORS.length], 'stroke-width': 1.8, 'data-series': s.key })); points = []; };
    pick(s).forEach((v, i) => { if (v === null) flush(); else points.push([x(i).toFixed(1), y(v).toFixed(1)]); });
    flush();
  });
  return el('figure', {}, el('figcaption', {}, title), svg);
}

async function drawCharts() {
  const box = $('charts');
  try {
    const d = await api('GET', `/api/traffic/series?by=${$('chart-by').value}&window=${$('chart-window').value}`);
    if (d.series.length === 0) {
      box.replaceChildren(el('p', { class: 'muted', id: 'no-traffic' }, 'No traffic in this window.'));
      return;
    }
    // swatches drawn in SVG: the console's content security policy allows no inline style attribute
    const swatch = (k) => { const v = svgEl('svg', { width: 10, height: 10 }); v.append(svgEl('rect', { width: 10, height: 10, fill: COLORS[k % COLORS.length] })); return v; };
    const legend = el('p', { id: 'chart-legend' }, ...d.series.map((s, k) => el('span', { class: 'legend' }, swatch(k), ` ${s.key}  `)));
    box.replaceChildren(legend,
      el('div', { class: 'charts' },
        lineChart('chart-volume', 'Volume (authorizations per bucket)', d.buckets, d.series, (s) => s.volume, (v) => String(Math.round(v))),
        lineChart('chart-approval', 'Approval rate', d.buckets, d.series, (s) => s.approvalRate, (v) => `${Math.round(v * 100)}%`),
        lineChart('chart-latency', 'Latency p95 (ms, request to outcome)', d.buckets, d.series, (s) => s.p95Ms, (v) => `${Math.round(v)} ms`)));
  } catch (e) {
    box.replaceChildren(el('p', { class: 'error' }, `Could not load traffic: ${e.message}`));
  }
}

// ── transaction explorer ─────────────────────────────────────────────────────────────────────────
async function searchTransactions() {
  const q = new URLSearchParams();
  const put = (key, id) => { const v = $(id).value.trim(); if (v) q.set(key, v); };
  put('last4', 'q-last4'); put('pan', 'q-pan'); put('rrn', 'q-rrn'); put('stan', 'q-stan'); put('terminal', 'q-terminal');
  put('merchant', 'q-merchant'); put('acquirer', 'q-acquirer'); put('responseCode', 'q-code');
  for (const [key, id] of [['from', 'q-from'], ['to', 'q-to']]) if ($(id).value) q.set(key, new Date($(id).value).toISOString());
  q.set('limit', '100');
  const box = $('transactions');
  try {
    const { transactions } = await api('GET', `/api/transactions?${q}`);
    if (transactions.length === 0) {
      box.replaceChildren(el('p', { class: 'muted', id: 'no-transactions' }, 'No transaction matches.'));
      return;
    }
    const rows = transactions.map((x) =>
      el('tr', { 'data-txn': x.id, class: 'clickable', onclick: () => void showTransaction(x.id) },
        el('td', {}, new Date(x.at).toLocaleString()), el('td', {}, x.mti), el('td', {}, x.panMasked), el('td', {}, `${x.amountMinor} ${x.currency}`),
        el('td', {}, x.responseCode ?? '—'), el('td', {}, x.state), el('td', {}, x.acquirer ?? '—'), el('td', {}, x.routedTerminal ?? '—'), el('td', {}, x.rrn ?? '—')));
    box.replaceChildren(el('table', { id: 'transactions-table' },
      el('thead', {}, el('tr', {}, ...['When', 'MTI', 'Card', 'Amount', 'Code', 'State', 'Acquirer', 'Route', 'RRN'].map((h) => el('th', {}, h)))), el('tbody', {}, ...rows)));
  } catch (e) {
    box.replaceChildren(el('p', { class: 'error' }, `Search failed: ${e.message}`));
  }
}

const LEG_LABELS = { psp_request: 'PSP → switch', acquirer_request: 'switch → acquirer', acquirer_answer: 'acquirer → switch', psp_answer: 'switch → PSP' };

async function showTransaction(id) {
  const box = $('transaction');
  const x = await api('GET', `/api/transactions/${encodeURIComponent(id)}`);
  const e = x.explanation;
  const parts = [
    el('h3', {}, `${x.mti} ${x.panMasked} ${x.amountMinor} ${x.currency}: ${x.responseCode ?? 'in flight'} (${x.state})`),
    el('h4', {}, 'Events'),
    el('ol', { id: 'txn-events' }, ...x.events.map((ev) => el('li', {}, `${new Date(ev.at).toLocaleTimeString()} ${ev.type}`))),
    el('h4', {}, 'Messages (masked)'),
    el('table', { id: 'txn-messages' }, el('tbody', {}, ...x.messages.map((m) =>
      el('tr', {}, el('td', {}, LEG_LABELS[m.leg] ?? m.leg), el('td', {}, m.mti), el('td', { class: 'mono' }, Object.entries(m.fields).map(([k, v]) => `DE${k}=${v}`).join('  ')))))),
  ];
  if (e) {
    parts.push(
      el('h4', {}, `Routing: rules v${e.rulesVersion ?? '?'}, rule ${e.ruleId ?? '—'}, risk ${e.risk.level}${e.risk.reasons.length ? ` (${e.risk.reasons.join(', ')})` : ''}, ideal ${e.ideal ?? '—'}`),
      el('table', { id: 'txn-candidates' },
        el('thead', {}, el('tr', {}, ...['Candidate', 'Acquirer', 'Priority', 'Weight', 'Alive', 'Failure score', 'Success rate', ''].map((h) => el('th', {}, h)))),
        el('tbody', {}, ...e.candidates.map((c) => el('tr', {},
          el('td', {}, c.terminal), el('td', {}, c.acquirer), el('td', {}, c.priority), el('td', {}, c.weight), el('td', {}, c.alive ? 'yes' : 'no'),
          el('td', {}, Number(c.failureScore).toFixed(2)), el('td', {}, Number(c.successRate).toFixed(2)),
          el('td', {}, [c.lotteryWinner && 'lottery winner', c.pinned && 'pinned', c.probe && 'probe', c.forcedUp && 'forced up', c.lacking && 'lacking'].filter(Boolean).join(', ')))))),
      el('ul', { id: 'txn-rejected' }, ...e.rejected.map((r) => el('li', { class: 'muted' }, `${r.terminal} rejected: ${r.reason}${r.detail ? ` (${r.detail})` : ''}`))));
  }
  if (x.cardToken) {
    parts.push(el('div', { class: 'toolbar' },
      el('label', {}, 'Reason ', el('input', { id: 'block-reason', maxlength: '500', placeholder: 'why block this card' })),
      el('button', { id: 'block-card', class: 'danger', onclick: () => void blockCard(x) }, 'Block this card')));
  }
  box.replaceChildren(...parts);
  box.classList.remove('hidden');
}

async function blockCard(x) {
  const reason = $('block-reason').value.trim();
  if (!reason) { say('A reason is needed to block a card.', true); return; }
  if (!(await confirmDialog(`Block the card ${x.panMasked} on every instance? A new rules version adds its card token to the blocklist.`))) return;
  try {
    const r = await api('POST', `/api/transactions/${encodeURIComponent(x.id)}/block-card`, { reason });
    say(r.activation && r.activation.proposedBy ? `Card ${x.panMasked}: rules v${r.version} proposed, waiting for an approver.` : `Card ${x.panMasked} blocked: rules v${r.version} active.`);
  } catch (e) {
    say(`Block failed: ${e.message}`, true);
  }
  await Promise.all([loadVersions(), loadPending()]);
}

// ── rule form: the common edits as fields, producing the same rule files ────────────────────────
const FORM_LISTS = [['currency', 'Currencies'], ['merchant', 'Merchants'], ['mcc', 'MCCs'], ['brand', 'Brands'], ['psp', 'PSPs'], ['three_ds', '3-D Secure']];

async function loadForm(version) {
  const v = await api('GET', `/api/rules/versions/${version}`);
  state.form = { base: version, files: v.files, rule: state.form && state.form.rule };
  $('form-base').textContent = `(based on v${version})`;
  const rules = v.files.routing.rules;
  const sel = $('form-rule');
  sel.replaceChildren(...rules.map((r) => el('option', { value: r.id }, r.id)));
  if (!rules.some((r) => r.id === state.form.rule)) state.form.rule = rules[0].id;
  sel.value = state.form.rule;
  renderForm();
}

function formRule() {
  return state.form.files.routing.rules.find((r) => r.id === state.form.rule);
}

function renderForm() {
  const r = formRule();
  const when = r.when ?? {};
  const list = (key) => (when[key] ?? []).join(', ');
  const setList = (key, text) => {
    const values = text.split(',').map((x) => x.trim()).filter(Boolean);
    r.when = r.when ?? {};
    if (values.length) r.when[key] = values; else delete r.when[key];
    if (Object.keys(r.when).length === 0) delete r.when;
  };
  const fields = r.default ? [el('p', { class: 'muted' }, 'The default rule has no conditions.')] : [
    ...FORM_LISTS.map(([key, label]) => el('label', {}, `${label} `, el('input', { id: `form-when-${key}`, value: list(key), onchange: (ev) => setList(key, ev.target.value) }))),
    ...['min', 'max'].map((m) => el('label', {}, `Amount ${m} `, el('input', { id: `form-amount-${m}`, type: 'number', min: '0', value: when.amount?.[m] ?? '', onchange: (ev) => {
      r.when = r.when ?? {};
      const a = { ...(r.when.amount ?? {}) };
      if (ev.target.value === '') delete a[m]; else a[m] = Number(ev.target.value);
      if (Object.keys(a).length) r.when.amount = a; else delete r.when.amount;
      if (Object.keys(r.when).length === 0) delete r.when;
    } }))),
  ];
  $('form-conditions').replaceChildren(...fields);

  const terminals = state.form.files.terminals.terminals;
  if (r.then.decline !== undefined) {
    $('form-action').replaceChildren(el('label', {}, 'Decline with ', el('input', { id: 'form-decline', size: '2', value: r.then.decline, onchange: (ev) => { r.then.decline = ev.target.value; } })));
  } else {
    const rows = r.then.terminals.map((c, i) =>
      el('tr', { 'data-candidate': c.terminal },
        el('td', {}, el('select', { class: 'form-terminal', onchange: (ev) => { c.terminal = ev.target.value; } }, ...terminals.map((t) => { const o = el('option', { value: t.id }, t.id); if (t.id === c.terminal) o.setAttribute('selected', ''); return o; }))),
        el('td', {}, el('input', { class: 'form-priority', type: 'number', min: '1', value: c.priority, onchange: (ev) => { c.priority = Number(ev.target.value); } })),
        el('td', {}, el('input', { class: 'form-weight', type: 'number', min: '0', value: c.weight ?? 1, onchange: (ev) => { c.weight = Number(ev.target.value); } })),
        el('td', {}, el('button', { class: 'form-remove', onclick: () => { r.then.terminals.splice(i, 1); renderForm(); } }, 'Remove'))));
    $('form-action').replaceChildren(
      el('table', { id: 'form-candidates' }, el('thead', {}, el('tr', {}, ...['Terminal', 'Priority', 'Weight (split)', ''].map((h) => el('th', {}, h)))), el('tbody', {}, ...rows)),
      el('button', { id: 'form-add', onclick: () => { r.then.terminals.push({ terminal: terminals[0].id, priority: 1, weight: 1 }); renderForm(); } }, 'Add a terminal'));
  }
  $('form-terminals').replaceChildren(...terminals.map((t) => {
    const box = el('input', { type: 'checkbox', id: `form-enabled-${t.id}`, onchange: (ev) => { if (ev.target.checked) delete t.enabled; else t.enabled = false; } });
    box.checked = t.enabled !== false;
    return el('label', { class: 'check' }, box, ` ${t.id}`);
  }));
}

async function saveForm() {
  const f = state.form;
  try {
    const v = await api('POST', '/api/rules/versions', { base: f.base, files: { routing: f.files.routing, terminals: f.files.terminals }, comment: $('form-comment').value });
    say(v.created ? `Saved as v${v.version}. Review the diff, then activate it.` : `Identical to the existing v${v.version}.`);
    await loadVersions();
    if (state.active) await showDiff(state.active, v.version);
    await Promise.all([loadForm(v.version), loadIntoEditor(v.version)]);
  } catch (e) {
    const problems = e.body && Array.isArray(e.body.problems) ? `: ${e.body.problems.map((p) => `${p.file} ${p.rule} ${p.reason}`).join('; ')}` : '';
    say(`Save failed: ${e.message}${problems}`, true);
  }
}

// ── pending changes (maker-checker) ─────────────────────────────────────────────────────────────
async function loadPending() {
  const box = $('pending');
  try {
    const { makerChecker, pending } = await api('GET', '/api/rules/pending');
    if (!makerChecker) {
      box.replaceChildren(el('p', { class: 'muted', id: 'maker-checker-off' }, 'Maker-checker is off: an activation takes effect at once.'));
      return;
    }
    if (pending.length === 0) {
      box.replaceChildren(el('p', { class: 'muted', id: 'no-pending' }, 'No activation is waiting for approval.'));
      return;
    }
    const rows = pending.map((p) =>
      el('tr', { 'data-pending': p.id },
        el('td', {}, `v${p.version}`),
        el('td', { class: 'proposer' }, p.proposedBy),
        el('td', {}, p.comment || '—'),
        el('td', {}, new Date(p.proposedAt).toLocaleString()),
        el('td', {},
          el('button', { class: 'approve', onclick: () => void decide(p, 'approve') }, 'Approve'),
          el('button', { class: 'reject danger', onclick: () => void decide(p, 'reject') }, 'Reject'))));
    box.replaceChildren(el('table', {}, el('thead', {}, el('tr', {}, ...['Version', 'Proposed by', 'Comment', 'When', ''].map((h) => el('th', {}, h)))), el('tbody', {}, ...rows)));
  } catch (e) {
    box.replaceChildren(el('p', { class: 'muted' }, `Could not load pending changes: ${e.message}`));
  }
}

async function decide(p, decision) {
  if (decision === 'approve' && !(await confirmDialog(`Approve rules v${p.version}, proposed by ${p.proposedBy}? Every instance routes with it within a second.`))) return;
  try {
    await api('POST', `/api/rules/pending/${p.id}/${decision}`);
    say(decision === 'approve' ? `Rules v${p.version} approved and active.` : `Rules v${p.version} rejected.`);
  } catch (e) {
    say(`${decision === 'approve' ? 'Approval' : 'Rejection'} failed: ${e.message}`, true);
  }
  await Promise.all([loadVersions(), loadPending()]);
}

// ── manual controls ──────────────────────────────────────────────────────────────────────────────
const CONTROL_LABELS = { drain: 'drained', down: 'forced down', up: 'forced up' };

async function loadControls() {
  const box = $('controls');
  try {
    const { active } = await api('GET', '/api/controls');
    if (active.length === 0) {
      box.replaceChildren(el('p', { class: 'muted', id: 'no-controls' }, 'No manual control in force.'));
      return;
    }
    const rows = active.map((c) =>
      el('tr', { 'data-control': `${c.targetKind}:${c.target}` },
        el('td', {}, `${c.targetKind} ${c.target}`),
        el('td', {}, CONTROL_LABELS[c.state]),
        el('td', {}, c.reason),
        el('td', {}, c.actor),
        el('td', {}, c.expiresAt ? new Date(c.expiresAt).toLocaleString() : 'until lifted'),
        el('td', {}, el('button', { class: 'lift', onclick: () => void liftControl(c) }, 'Lift'))));
    box.replaceChildren(el('table', {}, el('thead', {}, el('tr', {}, ...['Target', 'State', 'Reason', 'By', 'Until', ''].map((h) => el('th', {}, h)))), el('tbody', {}, ...rows)));
  } catch (e) {
    box.replaceChildren(el('p', { class: 'muted' }, e.status === 501 ? 'Manual controls are not available on this instance.' : `Could not load controls: ${e.message}`));
  }
}

async function applyControl() {
  const kind = $('control-kind').value;
  const id = $('control-id').value.trim();
  const minutes = Number($('control-minutes').value);
  const body = { state: $('control-state').value, reason: $('control-reason').value, ...(minutes > 0 ? { ttlSeconds: Math.round(minutes * 60) } : {}) };
  try {
    await api('PUT', `/api/controls/${encodeURIComponent(kind)}/${encodeURIComponent(id)}`, body);
    say(`${kind} ${id}: ${CONTROL_LABELS[body.state]} on every instance`);
  } catch (e) {
    say(`Control failed: ${e.message}`, true);
  }
  await Promise.all([loadControls(), loadAcquirers()]);
}

async function liftControl(c) {
  try {
    await api('DELETE', `/api/controls/${encodeURIComponent(c.targetKind)}/${encodeURIComponent(c.target)}`);
    say(`${c.targetKind} ${c.target}: control lifted`);
  } catch (e) {
    say(`Lift failed: ${e.message}`, true);
  }
  await Promise.all([loadControls(), loadAcquirers()]);
}

// ── settlement reconciliation ────────────────────────────────────────────────────────────────────
const BREAK_LABELS = { missing_ours: 'missing in our books', missing_theirs: 'missing in their file', amount_mismatch: 'amount', currency_mismatch: 'currency', fee_difference: 'fee', late: 'late capture', other_day: 'dated another day' };

async function loadSettlement() {
  const box = $('settlement');
  try {
    const { runs } = await api('GET', '/api/ledger/settlement-runs');
    if (runs.length === 0) return box.replaceChildren(el('p', { class: 'muted' }, 'No reconciliation has run yet.'));
    const rows = runs.map((r) => {
      const kinds = Object.entries(r.counts).filter(([, n]) => n > 0).map(([k, n]) => `${BREAK_LABELS[k] ?? k}: ${n}`).join(', ');
      const detail = el('ul', { class: 'breaks' }, ...r.detail.slice(0, 20).map((b) =>
        el('li', { 'data-kind': b.kind }, `${BREAK_LABELS[b.kind] ?? b.kind} · RRN ${b.rrn} · ${b.type} · ours ${b.ours ? `${b.ours.amount} ${b.ours.currency}` : '—'} · theirs ${b.theirs ? `${b.theirs.amount} ${b.theirs.currency} (line ${b.theirs.line})` : '—'}`)));
      return el('tr', { 'data-acquirer': r.acquirer },
        el('td', {}, r.acquirer),
        el('td', {}, r.day),
        el('td', {}, r.file),
        el('td', {}, new Date(r.ranAt).toLocaleString()),
        el('td', {}, r.matched),
        el('td', {}, el('span', { class: `badge ${r.breaks ? 'bad' : 'ok'}` }, r.breaks ? `${r.breaks} break${r.breaks > 1 ? 's' : ''}` : 'clean')),
        el('td', {}, kinds || '—', r.detail.length ? detail : ''));
    });
    box.replaceChildren(el('table', {}, el('thead', {}, el('tr', {}, ...['Acquirer', 'Day', 'File', 'Ran', 'Matched', 'Result', 'Breaks'].map((h) => el('th', {}, h)))), el('tbody', {}, ...rows)));
  } catch (e) {
    box.replaceChildren(el('p', { class: 'muted' }, e.status === 501 ? 'The ledger is not available on this instance.' : `Could not load reconciliations: ${e.message}`));
  }
}

// ── versions, diff, activate, roll back ──────────────────────────────────────────────────────────
async function loadVersions() {
  const { active, versions } = await api('GET', '/api/rules/versions?limit=50');
  state.active = active ? active.version : null;
  $('active-version').textContent = active ? `v${active.version}` : 'none';
  for (const id of ['compare-from', 'compare-to']) {
    const sel = $(id);
    const keep = sel.value;
    sel.replaceChildren(...versions.map((v) => el('option', { value: v.version }, `v${v.version}`)));
    if (keep) sel.value = keep;
  }
  const tbody = $('versions').querySelector('tbody');
  tbody.replaceChildren(...versions.map((v) => el('tr', { class: v.active ? 'active' : '', 'data-version': v.version },
    el('td', {}, `v${v.version}`, v.active ? ' ' : '', v.active ? el('span', { class: 'badge ok' }, 'active') : ''),
    el('td', {}, v.author),
    el('td', {}, v.comment),
    el('td', {}, new Date(v.createdAt).toLocaleString()),
    el('td', {},
      el('button', { onclick: () => loadIntoEditor(v.version) }, 'Edit'), ' ',
      state.active && !v.active ? el('button', { class: 'diff', onclick: () => showDiff(state.active, v.version) }, 'Diff vs active') : '', ' ',
      v.active ? '' : el('button', { class: 'activate danger', onclick: () => activate(v.version) }, 'Activate')))));
}

async function showDiff(from, to) {
  const d = await api('GET', `/api/rules/diff?from=${from}&to=${to}`);
  $('diff-title').textContent = `Changes from v${from} to v${to}`;
  const out = [];
  for (const f of d.files.filter((x) => x.changed)) {
    out.push(el('strong', {}, `${f.file}  (+${f.added} −${f.removed})\n`));
    for (const l of f.lines) out.push(el('span', { class: l.op === '+' ? 'add' : l.op === '-' ? 'del' : '' }, `${l.op} ${l.text}${l.op === ' ' ? '\n' : ''}`));
  }
  if (out.length === 0) out.push('No differences.');
  $('diff').replaceChildren(...out);
  $('diff-view').classList.remove('hidden');
}

async function activate(version) {
  if (!(await confirmDialog(`Activate rules v${version}? Every switch instance starts routing with it within a second.`))) return;
  try {
    const a = await api('POST', `/api/rules/versions/${version}/activate`, { comment: $('comment').value || `activated from the console` });
    // with maker-checker the activation is proposed (202): an approver makes it
    say(a.proposedBy ? `Rules v${a.version} proposed: waiting for an approver.` : `Rules v${a.version} are active.`);
    await Promise.all([loadVersions(), loadPending()]);
  } catch (e) {
    say(`Activation failed: ${e.message}`, true);
  }
}

async function rollback() {
  if (!(await confirmDialog('Roll back to the version that was active before the current one?'))) return;
  try {
    const a = await api('POST', '/api/rules/rollback', { comment: 'rolled back from the console' });
    say(`Rolled back: rules v${a.version} are active.`);
    await loadVersions();
  } catch (e) {
    say(`Rollback failed: ${e.message}`, true);
  }
}

// ── editor with inline validation ───────────────────────────────────────────────────────────────
async function loadIntoEditor(version) {
  const v = await api('GET', `/api/rules/versions/${version}`);
  state.base = version;
  state.original = v.yaml;
  state.edits = {};
  $('editor-base').textContent = `(based on v${version})`;
  showFile($('file').value);
  $('validation').replaceChildren();
  $('backtest-result').replaceChildren();
}

function showFile(name) {
  state.file = name;
  $('yaml').value = state.edits[name] ?? state.original[name] ?? '';
  renderGutter([]);
}

function renderGutter(problemLines) {
  const n = $('yaml').value.split('\n').length;
  const bad = new Map(problemLines.map((p) => [p.line, p.reason]));
  const nodes = [];
  for (let i = 1; i <= n; i++) {
    const reason = bad.get(i);
    nodes.push(reason ? el('span', { class: 'err', title: reason, 'data-line': i }, String(i)) : String(i), '\n');
  }
  $('gutter').replaceChildren(...nodes);
  $('gutter').scrollTop = $('yaml').scrollTop;
}

function editedFiles() {
  const files = {};
  for (const [k, v] of Object.entries(state.edits)) if (v !== state.original[k]) files[k] = v;
  return files;
}

function rulesBody() {
  const files = editedFiles();
  return Object.keys(files).length > 0 ? { base: state.base, files } : state.base ? { version: state.base } : {};
}

function goToLine(line) {
  const ta = $('yaml');
  const lines = ta.value.split('\n');
  const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
  ta.focus();
  ta.setSelectionRange(start, start + (lines[line - 1] || '').length);
  const lineHeight = parseFloat(getComputedStyle(ta).lineHeight) || 18;
  ta.scrollTop = Math.max(0, (line - 4) * lineHeight);
  $('gutter').scrollTop = ta.scrollTop;
}

async function validate() {
  const files = editedFiles();
  const box = $('validation');
  if (Object.keys(files).length === 0) {
    box.replaceChildren(el('p', { class: 'valid' }, 'No changes to validate.'));
    renderGutter([]);
    return true;
  }
  const r = await api('POST', '/api/rules/validate', { base: state.base, files });
  const here = r.problems.filter((p) => p.file === `${state.file}.yaml` && p.line);
  renderGutter(here);
  if (here[0]) goToLine(here[0].line);
  if (r.valid) {
    box.replaceChildren(el('p', { class: 'valid', id: 'valid' }, '✓ Valid.'));
    return true;
  }
  box.replaceChildren(el('ul', { id: 'problems' }, ...r.problems.map((p) => el('li', {
    class: 'problem',
    'data-line': p.line ?? '',
    onclick: () => { if (p.line) { if (`${state.file}.yaml` !== p.file) { $('file').value = p.file.replace(/\.yaml$/, ''); showFile($('file').value); } goToLine(p.line); } },
  }, `${p.file}${p.line ? ` line ${p.line}` : ''}: ${p.rule} at ${p.path || '/'}: ${p.reason}${p.ref ? ` '${p.ref}'` : ''}`))));
  return false;
}

const pct = (x) => `${(x * 100).toFixed(1)}%`;

async function runBacktest() {
  const box = $('backtest-result');
  box.replaceChildren(el('p', { class: 'muted' }, 'Replaying recent traffic…'));
  try {
    const r = await api('POST', '/api/rules/backtest', { ...rulesBody(), limit: 2000 });
    box.replaceChildren(
      el('p', { class: 'summary', id: 'backtest-summary' }, r.summary),
      el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'From'), el('th', {}, 'To'), el('th', {}, 'Authorizations'))),
        el('tbody', {}, ...r.transitions.slice(0, 10).map((t) => el('tr', {}, el('td', {}, t.from), el('td', {}, t.to), el('td', {}, t.count))))),
      el('p', { class: 'muted' }, `Approval rate: observed ${pct(r.baselineApprovalRate)}, expected ${pct(r.expectedApprovalRate)}.`),
      movesChart(r.transitions.slice(0, 10)));
  } catch (e) {
    box.replaceChildren(el('p', { class: 'error' }, e.status === 422 ? 'Fix the validation problems first.' : `Backtest failed: ${e.message}`));
    if (e.status === 422) await validate();
  }
}

/** The changed routes as horizontal bars: one per from → to, its length the authorizations that would move. */
function movesChart(moves) {
  if (moves.length === 0) return el('p', { class: 'muted' }, 'No route would change.');
  const W = 560, row = 18, L = 220;
  const top = Math.max(...moves.map((m) => m.count));
  const svg = svgEl('svg', { id: 'backtest-chart', width: W, height: moves.length * row + 6, role: 'img', 'aria-label': 'changed routes' });
  moves.forEach((m, i) => {
    const y = i * row + 3;
    const label = svgEl('text', { x: 0, y: y + 12, 'font-size': 11, fill: '#24292f' });
    label.textContent = `${m.from} → ${m.to}`;
    const bar = svgEl('rect', { x: L, y, height: row - 5, width: Math.max(2, ((W - L - 40) * m.count) / top), fill: COLORS[0], 'data-move': `${m.from}>${m.to}` });
    const n = svgEl('text', { x: L + Math.max(2, ((W - L - 40) * m.count) / top) + 4, y: y + 12, 'font-size': 11, fill: '#57606a' });
    n.textContent = String(m.count);
    svg.append(label, bar, n);
  });
  return el('figure', {}, el('figcaption', {}, 'Changed routes (authorizations that would move)'), svg);
}

async function compareVersions() {
  const from = Number($('compare-from').value);
  const to = Number($('compare-to').value);
  if (!from || !to) return say('Pick two versions to compare.', true);
  try {
    await showDiff(from, to);
  } catch (e) {
    say(`Diff failed: ${e.message}`, true);
  }
}

async function save() {
  if (!(await validate())) return;
  const files = editedFiles();
  if (Object.keys(files).length === 0) return say('Nothing changed.');
  try {
    const v = await api('POST', '/api/rules/versions', { base: state.base, files, comment: $('comment').value });
    state.lastSaved = v.version;
    say(v.created ? `Saved as v${v.version}. Review the diff, then activate it.` : `Identical to the existing v${v.version}.`);
    await loadVersions();
    if (state.active) await showDiff(state.active, v.version);
    await loadIntoEditor(v.version);
  } catch (e) {
    say(`Save failed: ${e.message}`, true);
  }
}

async function evaluate() {
  const box = $('evaluation');
  let context;
  try { context = JSON.parse($('sample').value); } catch { box.replaceChildren(el('p', { class: 'error' }, 'The sample is not valid JSON.')); return; }
  try {
    const d = await api('POST', '/api/rules/evaluate', { ...rulesBody(), context });
    const x = d.explanation;
    box.replaceChildren(
      el('p', { id: 'decision' }, d.kind === 'route' ? `Route to ${d.routes[0].terminal} (${d.routes[0].acquirer})` : `Decline ${d.code}: ${d.reason}`),
      el('p', { class: 'muted' }, `Rule ${x.ruleId ?? '—'}, rules v${x.rulesVersion ?? 'draft'}, risk ${x.risk.level}${x.risk.reasons.length ? ` (${x.risk.reasons.join(', ')})` : ''}`),
      el('ul', {}, ...x.candidates.map((c) => el('li', {}, `${c.terminal} @ ${c.acquirer}: priority ${c.priority}, weight ${c.weight}${c.lotteryWinner ? ', lottery winner' : ''}`)),
        ...x.rejected.map((r) => el('li', { class: 'muted' }, `${r.terminal} rejected: ${r.reason}`))));
  } catch (e) {
    box.replaceChildren(el('p', { class: 'error' }, e.message));
  }
}

// ── wiring ───────────────────────────────────────────────────────────────────────────────────────
$('login-form').addEventListener('submit', (ev) => { ev.preventDefault(); void login($('token').value.trim()); });
$('logout').addEventListener('click', () => { sessionStorage.removeItem('switch-console-token'); location.reload(); });
$('file').addEventListener('change', () => showFile($('file').value));
$('yaml').addEventListener('input', () => { state.edits[state.file] = $('yaml').value; renderGutter([]); });
$('yaml').addEventListener('scroll', () => { $('gutter').scrollTop = $('yaml').scrollTop; });
$('validate').addEventListener('click', () => void validate().catch((e) => say(e.message, true)));
$('backtest').addEventListener('click', () => void runBacktest());
$('save').addEventListener('click', () => void save());
$('evaluate').addEventListener('click', () => void evaluate());
$('rollback').addEventListener('click', () => void rollback());
$('control-form').addEventListener('submit', (ev) => { ev.preventDefault(); void applyControl(); });
$('explorer-form').addEventListener('submit', (ev) => { ev.preventDefault(); void searchTransactions(); });
$('chart-draw').addEventListener('click', () => void drawCharts());
$('form-rule').addEventListener('change', () => { state.form.rule = $('form-rule').value; renderForm(); });
$('form-save').addEventListener('click', () => void saveForm());
$('compare').addEventListener('click', () => void compareVersions());
$('sample').value = JSON.stringify({ bin: '41111111', cardToken: 'sample-card', amountMinor: 1500, currency: '978', merchantId: 'SHOP00000000001', psp: 'psp-alpha' }, null, 2);
setInterval(() => { if (state.token && !$('app-view').classList.contains('hidden')) void loadAcquirers(); }, 5000);
if (state.token) void login(state.token);
