// streamflow's dashboard: polls the JSON API and draws the page; charts are SVG drawn here.
// Every text that comes from the job (names, operators, errors) is set as text, never as HTML.
'use strict';

const POLL_MS = 500;
const KEEP = 300; // batches kept for the charts
const ROWS = 100; // batches shown in the table
const COLORS = ['var(--a)', 'var(--b)', 'var(--c)', 'var(--d)', 'var(--e)'];
const SVG = 'http://www.w3.org/2000/svg';

function el(tag, attrs, ...kids) {
  const ns = ['svg', 'g', 'path', 'polyline', 'line', 'rect', 'text', 'defs', 'marker', 'circle'].includes(tag);
  const node = ns ? document.createElementNS(SVG, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === 'onclick') node.addEventListener('click', v);
    else node.setAttribute(k, String(v));
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined) continue;
    node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return node;
}

async function getJSON(url) {
  const response = await fetch(url, { cache: 'no-store' });
  if (!response.ok) throw new Error(response.status + ' ' + url);
  return response.json();
}

function fmt(n, digits) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(1) + 'M';
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + 'k';
  return Number(n).toFixed(digits === undefined ? (Number.isInteger(n) ? 0 : 1) : digits);
}

function time(ms) {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

function setLive(ok) {
  const live = document.getElementById('live');
  live.textContent = ok ? 'live' : 'disconnected';
  live.className = ok ? '' : 'stale';
}

// ---------------------------------------------------------------------------------------------
// The list of jobs
// ---------------------------------------------------------------------------------------------

async function indexPage(app) {
  document.getElementById('where').textContent = 'jobs';
  const tbody = el('tbody', { id: 'jobs' });
  app.replaceChildren(
    el('h1', {}, 'Jobs'),
    el('table', {}, el('thead', {}, el('tr', {}, ['Name', 'Kind', 'State', 'Batches', 'Last batch'].map((h) => el('th', {}, h)))), tbody),
  );
  for (;;) {
    try {
      const jobs = await getJSON('/api/jobs');
      tbody.replaceChildren(...jobs.map((j) => el('tr', { 'data-job-id': j.id },
        el('td', {}, el('a', { href: '/jobs/' + encodeURIComponent(j.id) }, j.name)),
        el('td', {}, j.kind), el('td', {}, j.state), el('td', {}, j.batches),
        el('td', {}, j.lastBatch ? (j.kind === 'query' ? j.lastBatch.timestamp : time(j.lastBatch.batchTime)) : '–'))));
      if (!jobs.length) tbody.append(el('tr', {}, el('td', { colspan: 5, class: 'muted' }, 'No job yet.')));
      setLive(true);
    } catch (e) {
      setLive(false);
    }
    await sleep(POLL_MS);
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------
// One job
// ---------------------------------------------------------------------------------------------

// The charts of each kind: title, unit, and series (label, value of a batch or null).
function chartsOf(kind, batches) {
  if (kind === 'context') {
    return [
      { id: 'rates', title: 'Input rate vs processing rate', unit: 'records/s', series: [
        ['input', (b) => b.inputRowsPerSecond], ['processing', (b) => b.processedRowsPerSecond]] },
      { id: 'duration', title: 'Batch duration', unit: 'ms', series: [['processing time', (b) => b.processingTimeMs]] },
      { id: 'scheduling', title: 'Scheduling delay', unit: 'ms', series: [['scheduling delay', (b) => b.schedulingDelayMs]] },
      { id: 'delay', title: 'Total delay', unit: 'ms', series: [['total delay', (b) => b.totalDelayMs]] },
    ];
  }
  const operators = [];
  for (const b of batches) for (const op of b.stateOperators || []) if (!operators.includes(op.operatorName)) operators.push(op.operatorName);
  const perOp = (field) => operators.map((name) => [name, (b) => {
    const op = (b.stateOperators || []).find((o) => o.operatorName === name);
    return op ? op[field] : null;
  }]);
  const phase = (name) => [name, (b) => (b.durationMs && name in b.durationMs ? b.durationMs[name] : null)];
  return [
    { id: 'rates', title: 'Input rate vs processing rate', unit: 'rows/s', series: [
      ['input', (b) => b.inputRowsPerSecond], ['processing', (b) => b.processedRowsPerSecond]] },
    { id: 'duration', title: 'Batch duration', unit: 'ms', series: [phase('triggerExecution')] },
    { id: 'operations', title: 'Operation durations', unit: 'ms', series: ['addBatch', 'latestOffset', 'walCommit', 'sink'].map(phase) },
    { id: 'watermark', title: 'Watermark gap', unit: 's', series: [['batch time − watermark', (b) =>
      (b.eventTime && b.eventTime.watermark ? (Date.parse(b.timestamp) - Date.parse(b.eventTime.watermark)) / 1000 : null)]] },
    { id: 'state-rows', title: 'State rows per operator', unit: 'rows', series: perOp('numRowsTotal') },
    { id: 'state-memory', title: 'State memory per operator', unit: 'bytes', series: perOp('memoryUsedBytes') },
    { id: 'late', title: 'Late rows dropped', unit: 'rows', series: perOp('numRowsDroppedByWatermark') },
  ];
}

function drawChart(spec, batches) {
  const W = 460, H = 150, L = 44, R = 8, T = 8, B = 18;
  const lines = spec.series.map(([label, f]) => ({ label, points: batches.map((b) => [b.batchId, f(b)]).filter(([, v]) => v !== null && v !== undefined && Number.isFinite(v)) }));
  const all = lines.flatMap((l) => l.points);
  if (!all.length) return null;
  const ids = batches.map((b) => b.batchId);
  const x0 = Math.min(...ids), x1 = Math.max(x0 + 1, ...ids);
  const values = all.map(([, v]) => v);
  const lo = Math.min(0, ...values), hi = Math.max(...values, lo + 1e-9);
  const x = (id) => L + ((id - x0) / (x1 - x0)) * (W - L - R);
  const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', 'data-points': all.length, 'data-last-batch': x1 },
    el('line', { class: 'axis', x1: L, y1: y(lo), x2: W - R, y2: y(lo) }),
    el('line', { class: 'axis', x1: L, y1: T, x2: L, y2: H - B }),
    el('text', { x: L - 4, y: T + 8, 'text-anchor': 'end' }, fmt(hi)),
    el('text', { x: L - 4, y: H - B, 'text-anchor': 'end' }, fmt(lo)),
    el('text', { x: L, y: H - 4 }, 'batch ' + x0),
    el('text', { x: W - R, y: H - 4, 'text-anchor': 'end' }, 'batch ' + Math.max(...ids)));
  lines.forEach((line, i) => {
    if (!line.points.length) return;
    const color = COLORS[i % COLORS.length];
    if (line.points.length === 1) {
      const [id, v] = line.points[0];
      svg.append(el('circle', { cx: x(id), cy: y(v), r: 2.5, style: `fill:${color}` }));
    } else {
      svg.append(el('polyline', { points: line.points.map(([id, v]) => `${x(id).toFixed(1)},${y(v).toFixed(1)}`).join(' '),
        style: `fill:none;stroke:${color};stroke-width:1.5`, 'vector-effect': 'non-scaling-stroke' }));
    }
  });
  const legend = el('div', { class: 'legend' }, lines.map((line, i) => {
    const last = line.points.length ? line.points[line.points.length - 1][1] : null;
    return el('span', {}, el('i', { style: `background:${COLORS[i % COLORS.length]}` }), `${line.label}: ${fmt(last)} ${spec.unit}`);
  }));
  return el('div', { class: 'chart', id: 'chart-' + spec.id }, el('h3', {}, spec.title), svg, legend);
}

function drawStages(stages) {
  if (!stages || !stages.length) return el('p', { class: 'muted' }, 'No stages.');
  const depth = {};
  const byId = {};
  for (const s of stages) byId[s.id] = s;
  const depthOf = (s, seen) => {
    if (depth[s.id] !== undefined) return depth[s.id];
    if (seen.has(s.id)) return 0;
    seen.add(s.id);
    const d = s.reads.length ? 1 + Math.max(...s.reads.map((r) => (byId[r] ? depthOf(byId[r], seen) : 0))) : 0;
    depth[s.id] = d;
    return d;
  };
  stages.forEach((s) => depthOf(s, new Set()));
  const BW = 220, GAP = 50, LINE = 15;
  const columns = {};
  const box = {};
  for (const s of stages) {
    const col = depth[s.id];
    const top = columns[col] || 10;
    const h = 22 + LINE * (s.operators.length + s.outputs.length);
    box[s.id] = { x: 10 + col * (BW + GAP), y: top, h };
    columns[col] = top + h + 14;
  }
  const width = 20 + (Math.max(...Object.keys(columns).map(Number)) + 1) * (BW + GAP);
  const height = Math.max(...Object.values(columns)) + 6;
  const svg = el('svg', { width, height, id: 'stage-graph', 'data-stages': stages.length },
    el('defs', {}, el('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: 'auto' },
      el('path', { d: 'M0,0 L10,5 L0,10 z', style: 'fill:#8a93a6;stroke:none' }))));
  for (const s of stages) {
    const b = box[s.id];
    for (const r of s.reads) {
      const p = box[r];
      if (!p) continue;
      const x1 = p.x + BW, y1 = p.y + p.h / 2, x2 = b.x, y2 = b.y + b.h / 2;
      svg.append(el('path', { d: `M${x1},${y1} C${x1 + GAP / 2},${y1} ${x2 - GAP / 2},${y2} ${x2},${y2}` }));
    }
    const g = el('g', { class: 'stage', 'data-stage': s.id },
      el('rect', { x: b.x, y: b.y, width: BW, height: b.h, rx: 5, class: s.outputs.length ? 'out' : '' }),
      el('text', { x: b.x + 8, y: b.y + 15, class: 'title' }, 'stage ' + s.id));
    s.operators.concat(s.outputs.map((o) => o + '  ⇥ output')).forEach((op, i) => {
      g.append(el('text', { x: b.x + 12, y: b.y + 30 + i * LINE }, op.length > 34 ? op.slice(0, 33) + '…' : op));
    });
    svg.append(g);
  }
  return svg;
}

function table(head, rows) {
  return el('table', {}, el('thead', {}, el('tr', {}, head.map((h) => el('th', {}, h)))), el('tbody', {}, rows));
}

function sourcesOf(job) {
  if (job.kind === 'context') {
    const receivers = job.receivers || [];
    if (!receivers.length) return el('p', { class: 'muted' }, 'No receiver or source reports a status.');
    return table(['Source', 'Active', 'Records', 'Undecodable', 'Errors', 'Last error', 'Restarts'],
      receivers.map((r) => el('tr', {}, el('td', {}, r.name), el('td', { class: r.active ? 'ok' : 'bad' }, r.active ? 'yes' : 'no'),
        el('td', {}, r.records), el('td', {}, r.undecodable), el('td', {}, r.errors), el('td', {}, r.last_error || '–'), el('td', {}, r.restarts))));
  }
  const parts = [el('p', {}, 'Status: ', el('b', {}, job.status ? job.status.message : '–'),
    job.exception ? el('span', { class: 'bad' }, ' — ' + job.exception) : null)];
  const sources = job.sources || [];
  parts.push(table(['Source', 'Start offset', 'End offset', 'Input rows', 'Input rows/s', 'Processed rows/s', 'Malformed'],
    sources.map((s) => el('tr', {}, el('td', {}, s.description), el('td', {}, s.startOffset), el('td', {}, s.endOffset),
      el('td', {}, s.numInputRows), el('td', {}, fmt(s.inputRowsPerSecond)), el('td', {}, fmt(s.processedRowsPerSecond)), el('td', {}, s.numMalformedRows)))));
  if (job.sink) parts.push(el('p', {}, 'Sink: ', job.sink.description, ` — ${job.sink.numOutputRows} rows in the last batch`));
  return el('div', {}, parts);
}

function batchRow(kind, b, onclick) {
  const cells = kind === 'context'
    ? [b.batchId, time(b.batchTime), b.numRecords, fmt(b.schedulingDelayMs, 1), fmt(b.processingTimeMs, 1), fmt(b.totalDelayMs, 1)]
    : [b.batchId, b.timestamp, b.numInputRows, fmt(b.inputRowsPerSecond), fmt(b.processedRowsPerSecond),
      (b.durationMs || {}).triggerExecution, (b.eventTime || {}).watermark || '–', (b.sink || {}).numOutputRows];
  return el('tr', { class: 'batch', 'data-batch-id': b.batchId, onclick }, cells.map((c) => el('td', {}, c)));
}

async function jobPage(app, id) {
  document.getElementById('where').textContent = id;
  let batches = [];
  let last = null;
  let plan = null;
  let selected = null;
  const title = el('h1', {}, id);
  const cards = el('div', { class: 'cards', id: 'cards' });
  const charts = el('div', { class: 'charts', id: 'charts' });
  const stages = el('div', { class: 'stages', id: 'stages' });
  const planText = el('pre', { id: 'plan' });
  const sources = el('div', { id: 'sources' });
  const batchTable = el('div', { id: 'batches' });
  const detail = el('pre', { id: 'batch-detail' }, 'Click a batch to see its progress record.');
  app.replaceChildren(title, cards, el('h2', {}, 'Charts'), charts, el('h2', {}, 'Operator graph (fused stages)'), stages,
    el('details', {}, el('summary', {}, 'explain()'), planText), el('h2', {}, 'Sources and receivers'), sources,
    el('h2', {}, 'Recent batches'), batchTable, el('h2', {}, 'Batch detail'), detail);

  const select = async (batchId) => {
    selected = batchId;
    try {
      const record = await getJSON(`/api/jobs/${encodeURIComponent(id)}/batches/${batchId}`);
      detail.textContent = JSON.stringify(record, null, 2);
      detail.setAttribute('data-batch-id', batchId);
    } catch (e) {
      detail.textContent = `Batch ${batchId} is no longer kept.`;
    }
    for (const tr of batchTable.querySelectorAll('tr.batch')) tr.classList.toggle('selected', Number(tr.dataset.batchId) === selected);
  };

  for (;;) {
    try {
      const job = await getJSON('/api/jobs/' + encodeURIComponent(id));
      const since = last === null ? '' : '?since=' + last;
      const fresh = await getJSON(`/api/jobs/${encodeURIComponent(id)}/batches${since}`);
      if (fresh.length) {
        batches = batches.concat(fresh).slice(-KEEP);
        last = batches[batches.length - 1].batchId;
      }
      title.textContent = `${job.name} (${job.kind})`;
      const lastBatch = batches[batches.length - 1];
      const kv = (k, v) => el('div', { class: 'card' }, el('div', { class: 'k' }, k), el('div', { class: 'v' }, v));
      const n = batches.length || 1;
      cards.replaceChildren(kv('State', job.state), kv('Batches', job.batches),
        job.kind === 'context'
          ? kv('Avg processing', fmt(batches.reduce((s, b) => s + b.processingTimeMs, 0) / n, 1) + ' ms')
          : kv('Avg duration', fmt(batches.reduce((s, b) => s + ((b.durationMs || {}).triggerExecution || 0), 0) / n, 1) + ' ms'),
        job.kind === 'context' ? kv('Batch interval', job.batchIntervalMs + ' ms') : kv('Watermark', lastBatch && lastBatch.eventTime && lastBatch.eventTime.watermark ? lastBatch.eventTime.watermark : '–'),
        job.kind === 'context' ? kv('Parallelism', 'local[' + job.parallelism + ']') : kv('Status', job.status ? job.status.message : '–'));
      charts.replaceChildren(...chartsOf(job.kind, batches).map((spec) => drawChart(spec, batches)).filter(Boolean));
      if (!charts.children.length) charts.append(el('p', { class: 'muted' }, 'No batch yet.'));
      if (plan !== job.plan) {
        plan = job.plan;
        planText.textContent = plan;
        stages.replaceChildren(drawStages(job.stages));
      }
      sources.replaceChildren(sourcesOf(job));
      const head = job.kind === 'context'
        ? ['Batch', 'Batch time', 'Records', 'Scheduling delay (ms)', 'Processing time (ms)', 'Total delay (ms)']
        : ['Batch', 'Timestamp', 'Input rows', 'Input rows/s', 'Processed rows/s', 'Duration (ms)', 'Watermark', 'Output rows'];
      const rows = batches.slice(-ROWS).reverse().map((b) => batchRow(job.kind, b, () => select(b.batchId)));
      const t = table(head, rows);
      t.id = 'batch-table';
      t.setAttribute('data-rows', rows.length);
      for (const tr of t.querySelectorAll('tr.batch')) tr.classList.toggle('selected', Number(tr.dataset.batchId) === selected);
      batchTable.replaceChildren(t);
      setLive(true);
    } catch (e) {
      setLive(false);
    }
    await sleep(POLL_MS);
  }
}

const app = document.getElementById('app');
const match = location.pathname.match(/^\/jobs\/([^/]+)$/);
if (match) jobPage(app, decodeURIComponent(match[1]));
else indexPage(app);
