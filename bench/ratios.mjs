#!/usr/bin/env node
// Summarizes herald-bench JSON lines: the median of the runs per (scenario,
// target, N) (each figure's median on its own; runs = how many), a table of the figures that matter for the scenario, and the ratios
// Herald / nchan. Usage: node bench/ratios.mjs FILE.jsonl [SCENARIO] [--md] [--targets]
// (--targets: the issue-7 target table from scale.sh runs)
import fs from 'node:fs';

const args = process.argv.slice(2);
const md = args.includes('--md');
const [file, only] = args.filter((a) => !a.startsWith('--'));
const runs = new Map();
for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
  if (!line.trim()) continue;
  let r;
  try { r = JSON.parse(line); } catch { continue; }
  // scale.sh adds w<K>, the server's worker processes, and for plain-redis
  // n<M>, its notifiers.
  const [scenario, target, n, w, nf] = r.label.split(':');
  // A server that was not running when sampled means the run measured
  // something else (e.g. another process on the port): drop it, loudly.
  if (Object.values(r.procs || {}).some((p) => !p.rss_before)) {
    console.error(`discarded ${r.label}: a named server process was not running`);
    continue;
  }
  if (only && scenario !== only) continue;
  // herald-bench --phases: each phase's figures become top-level fields
  // (ph_<name>_<field>), so they get medians like every other figure.
  if ((r.phases || []).length > 1) {
    for (const p of r.phases) {
      for (const [f, v] of Object.entries(p)) if (typeof v === 'number') r[`ph_${p.name}_${f}`] = v;
    }
  }
  const k = `${scenario}:${n}:${target}`;
  if (!runs.has(k)) runs.set(k, []);
  runs.get(k).push({ ...r, scenario, target, n: Number(n), srv_workers: w ? Number(w.slice(1)) : 1,
    srv_procs: (w ? w.slice(1) : '1') + (nf ? ` + ${nf.slice(1)} notifiers` : '') });
}
// One row per key: every numeric figure replaced by its median over the runs.
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
for (const [k, list] of runs) {
  const row = { ...list[list.length - 1], runs: list.length };
  // Counts are summed so that a loss in any run shows; figures are medians.
  const summed = ['ready', 'delivered', 'expected', 'lossy_conns', 'failed', 'closed'];
  for (const f of Object.keys(row)) {
    if (typeof row[f] !== 'number' || f === 'runs' || f === 'srv_workers') continue;
    const xs = list.map((r) => r[f]);
    row[f] = summed.includes(f) ? xs.reduce((a, b) => a + b, 0) : median(xs);
  }
  row.procs = Object.fromEntries(Object.keys(row.procs).map((p) => [p, {
    cpu_s: median(list.map((r) => r.procs[p].cpu_s)),
    rss_end: median(list.map((r) => r.procs[p].rss_end)),
  }]));
  runs.set(k, row);
}

const perDelivery = (r, who) => (r['ph_10/s_delivered'] ? (r[`ph_10/s_${who}_cpu_s`] * 1e6) / r['ph_10/s_delivered'] : undefined);
const cpu = (r) => Object.values(r.procs).reduce((a, p) => a + p.cpu_s, 0);
const rssEnd = (r) => Object.values(r.procs).reduce((a, p) => a + p.rss_end, 0) / 1048576;
// A column whose third field is 'none' gets no ratio (counts, set-up sizes).
const cols = {
  idle: [['user B/conn', (r) => r.user_bytes_per_conn, 'low'],
         ['kernel B/conn', (r) => r.kernel_bytes_per_conn, 'low'],
         ['handshake p99 ms', (r) => r.handshake_p99_ms, 'low']],
  fanout: [['delivered/s', (r) => r.delivered_per_s, 'high'],
           ['fan-out p50 ms', (r) => r.fanout_p50_ms, 'low'],
           ['fan-out p99 ms', (r) => r.fanout_p99_ms, 'low'],
           ['latency p50 ms', (r) => r.lat_p50_ms, 'low'],
           ['latency p99 ms', (r) => r.lat_p99_ms, 'low'],
           ['server CPU s', cpu, 'low']],
  latency: [['latency p50 ms', (r) => r.lat_p50_ms, 'low'],
            ['p90 ms', (r) => r.lat_p90_ms, 'low'],
            ['p99 ms', (r) => r.lat_p99_ms, 'low'],
            ['p99.9 ms', (r) => r.lat_p999_ms, 'low'],
            ['max ms', (r) => r.lat_max_ms, 'low'],
            ['fan-out p50 ms', (r) => r.fanout_p50_ms, 'low']],
  'many-channels': [['delivered/s', (r) => r.delivered_per_s, 'high'],
                    ['latency p50 ms', (r) => r.lat_p50_ms, 'low'],
                    ['latency p99 ms', (r) => r.lat_p99_ms, 'low'],
                    ['server CPU s', cpu, 'low']],
  'scale-latency': [['server procs', (r) => r.srv_procs, 'none'],
                    ['lossy conns', (r) => r.lossy_conns, 'none'],
                    ['user B/conn', (r) => r.user_bytes_per_conn, 'low'],
                    ['kernel B/conn', (r) => r.kernel_bytes_per_conn, 'low'],
                    ['latency p50 ms', (r) => r.lat_p50_ms, 'low'],
                    ['p99 ms', (r) => r.lat_p99_ms, 'low'],
                    ['one broadcast p50 ms', (r) => r.fanout_p50_ms, 'low'],
                    ['connect s', (r) => r.connect_s, 'low']],
  'scale-fanout': [['server procs', (r) => r.srv_procs, 'none'],
                   ['lossy conns', (r) => r.lossy_conns, 'none'],
                   ['delivered/s', (r) => r.delivered_per_s, 'high'],
                   ['fan-out p50 ms', (r) => r.fanout_p50_ms, 'low'],
                   ['latency p99 ms', (r) => r.lat_p99_ms, 'low'],
                   ['server CPU s', cpu, 'low'],
                   ['server RSS end MB', rssEnd, 'low']],
  // issue18.sh: one run per set-up, phases 1/s, 10/s, burst, max on the
  // same connections. A fourth field 'lat' marks the latency columns that
  // are also given as a ratio to the floor.
  issue18: [['server procs', (r) => r.srv_procs, 'none'],
            ['lossy conns', (r) => r.lossy_conns, 'none'],
            ['user B per idle client', (r) => r.user_bytes_per_conn, 'low'],
            ['1/s p50 ms', (r) => r['ph_1/s_lat_p50_ms'], 'low', 'lat'],
            ['1/s p90 ms', (r) => r['ph_1/s_lat_p90_ms'], 'low', 'lat'],
            ['1/s p99 ms', (r) => r['ph_1/s_lat_p99_ms'], 'low', 'lat'],
            ['one broadcast first→last p50 ms (1/s)', (r) => r['ph_1/s_fanout_p50_ms'], 'low', 'lat'],
            ['10/s p50 ms', (r) => r['ph_10/s_lat_p50_ms'], 'low', 'lat'],
            ['10/s p90 ms', (r) => r['ph_10/s_lat_p90_ms'], 'low', 'lat'],
            ['10/s p99 ms', (r) => r['ph_10/s_lat_p99_ms'], 'low', 'lat'],
            // CPU per delivery at 10/s: the servers', and the reading
            // clients' (herald-bench's workers, 'readers' in issue18.sh)
            ['readers', (r) => r.workers, 'none'],
            ['10/s server CPU µs per delivery', (r) => perDelivery(r, 'server'), 'low'],
            ['10/s reader CPU µs per delivery', (r) => perDelivery(r, 'client'), 'none']],
  'issue18 burst and max rate': [['server procs', (r) => r.srv_procs, 'none'],
            ['burst: last delivery ms', (r) => r.ph_burst_deliver_s * 1000, 'low', 'lat'],
            ['burst: first→last p50 ms', (r) => r.ph_burst_fanout_p50_ms, 'low', 'lat'],
            ['burst: first→last max ms', (r) => r.ph_burst_fanout_max_ms, 'low', 'lat'],
            ['burst p99 ms', (r) => r.ph_burst_lat_p99_ms, 'low', 'lat'],
            ['delivered/s (max rate)', (r) => r.ph_max_delivered_per_s, 'high']],
  churn: [['cycles/s', (r) => r.churn_per_s, 'high'],
          ['handshake p50 ms', (r) => r.handshake_p50_ms, 'low'],
          ['handshake p99 ms', (r) => r.handshake_p99_ms, 'low']],
};
const fmtv = (v) => (v === undefined || (typeof v === 'number' && !Number.isFinite(v)) ? '–' : fmt(v));
const fmt = (v) => (typeof v === 'string' ? v : Number.isInteger(v) && v < 100 ? String(v) : v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(v >= 10 ? 1 : 3));

const scenarios = [...new Set([...runs.values()].map((r) => r.scenario))];
// A scenario with many columns prints as several tables (views).
const views = { issue18: ['issue18', 'issue18 burst and max rate'] };
for (const [s, view] of (args.includes('--targets') ? [] : scenarios).flatMap((x) => (views[x] || [x]).map((v) => [x, v]))) {
  const c = cols[view] || [];
  const head = ['N', 'set-up', 'runs', 'ready (sum)', 'delivered / expected (sum)', ...c.map((x) => x[0])];
  const rows = [];
  const ns = [...new Set([...runs.values()].filter((r) => r.scenario === s).map((r) => r.n))].sort((a, b) => a - b);
  for (const n of ns) {
    const nchan = runs.get(`${s}:${n}:nchan`);
    // herald-floor (issue 18): the kernel's cost; every other row also as a
    // ratio to each floor run (one writer, one writer per core).
    // floor-mt-uring: the same sends submitted through io_uring, 64 at a time.
    const floors = ['floor', 'floor-mt', 'floor-mt-uring'].filter((f) => runs.get(`${s}:${n}:${f}`));
    // Ratios to a floor only for the latency columns where the columns say
    // which those are (issue18); every column otherwise.
    const latOnly = c.some((x) => x[3] === 'lat');
    const ratio = (r, base, name, toFloor) => ['', name, '', '', '', ...c.map((x) => {
      const b = x[1](base), v = x[1](r);
      const skip = x[2] === 'none' || (toFloor && latOnly && x[3] !== 'lat');
      return b && !skip && Number.isFinite(v) && Number.isFinite(b) ? `${(v / b).toFixed(2)}x` : '';
    })];
    // NAME-libuv: the same servers writing with libuv instead of io_uring.
    for (const t of ['floor', 'floor-mt', 'floor-uring', 'floor-mt-uring', 'gateway', 'plain', 'plain-redis', 'notifier',
      'notifier-libuv', 'link', 'link-libuv', 'link-id', 'link-4v', 'nchan']) {
      const r = runs.get(`${s}:${n}:${t}`);
      if (!r) continue;
      rows.push([n, t, r.runs, r.ready, `${r.delivered} / ${r.expected}`, ...c.map((x) => fmtv(x[1](r)))]);
      if (t !== 'nchan' && !t.startsWith('floor') && nchan) rows.push(ratio(r, nchan, `${t} / nchan`, false));
      for (const f of t.startsWith('floor') ? [] : floors) rows.push(ratio(r, runs.get(`${s}:${n}:${f}`), `${t} / ${f}`, true));
      const plainOf = t.startsWith('link-') ? 'link' : t === 'notifier-libuv' ? 'notifier' : null;
      if (plainOf && runs.get(`${s}:${n}:${plainOf}`)) rows.push(ratio(r, runs.get(`${s}:${n}:${plainOf}`), `${t} / ${plainOf}`, false));
    }
  }
  if (md) {
    console.log(`\n**${view}**\n`);
    console.log(`| ${head.join(' | ')} |`);
    console.log(`|${head.map(() => '---').join('|')}|`);
    for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  } else {
    console.log(`\n== ${view} ==`);
    const w = head.map((h, i) => Math.max(String(h).length, ...rows.map((r) => String(r[i]).length)));
    const line = (r) => r.map((x, i) => String(x).padStart(w[i])).join('  ');
    console.log(line(head));
    for (const r of rows) console.log(line(r));
  }
}

// The issue-7 targets from the scale-* runs (scale.sh): one row per target
// and N, each Herald set-up against nchan of the same N, with met / not met.
const TARGETS = [
  ['user-space B per idle client (servers summed)', 'scale-latency', (r) => r.user_bytes_per_conn, 'le', 0.25],
  ['kernel B per client (host TCP buffers + slab)', 'scale-latency', (r) => r.kernel_bytes_per_conn, 'le', 0.6],
  ['delivered events/s, 20 broadcasts at max rate', 'scale-fanout', (r) => r.delivered_per_s, 'ge', 2],
  ['one 100-byte broadcast, first to last delivery (p50 of 20 at 1/s), ms', 'scale-latency', (r) => r.fanout_p50_ms, 'le', 0.5],
  ['publish-to-receive p99 at 1 event/s, ms', 'scale-latency', (r) => r.lat_p99_ms, 'le', 0.5],
];
if (args.includes('--targets')) {
  const ns = [...new Set([...runs.values()].filter((r) => r.scenario.startsWith('scale-')).map((r) => r.n))].sort((a, b) => a - b);
  console.log('\n| target | goal | N | set-up | Herald | nchan | ratio | every client got every event (Herald, nchan) |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const [name, s, f, dir, goal] of TARGETS) {
    for (const n of ns) {
      const b = runs.get(`${s}:${n}:nchan`);
      for (const t of ['plain', 'plain-redis', 'link']) {
        const r = runs.get(`${s}:${n}:${t}`);
        if (!r || !b) continue;
        const x = f(r) / f(b);
        const met = dir === 'le' ? x <= goal : x >= goal;
        const all = (q) => (q.delivered === q.expected && q.lossy_conns === 0 ? 'yes' : `no (${q.delivered} / ${q.expected})`);
        console.log(`| ${name} | ${dir === 'le' ? '≤' : '≥'} ${goal}x | ${n.toLocaleString('en-US')} | ${t} | ${fmt(f(r))} | ${fmt(f(b))} | **${x.toFixed(2)}x** ${met ? 'met' : 'not met'} | ${all(r)}, ${all(b)} |`);
      }
    }
  }
}

// The issue-18 targets from issue18.sh runs: each Herald set-up against
// nchan (and the floor with a writer per core) of the same N, met or not.
const T18 = [
  ['publish→receive p99 at 1 event/s', (r) => r['ph_1/s_lat_p99_ms'], 'nchan', 'le', 0.8],
  ['publish→receive p99 at 1 event/s, to the floor (a writer per core)', (r) => r['ph_1/s_lat_p99_ms'], 'floor', 'le', 1.3],
  ['publish→receive p99 at a sustained 10 events/s', (r) => r['ph_10/s_lat_p99_ms'], 'nchan', 'le', 0.8],
  ['burst of 100: last delivery', (r) => r.ph_burst_deliver_s * 1000, 'nchan', 'le', 1],
  ['delivered events/s (max rate)', (r) => r.ph_max_delivered_per_s, 'nchan', 'ge', 2],
  ['user-space bytes per idle client', (r) => r.user_bytes_per_conn, 'nchan', 'le', 0.25],
  ['rewrite in 4 views: delivered/s to no script (issue 12)', (r) => r.ph_max_delivered_per_s, 'link', 'ge', 0.8],
];
if ([...runs.values()].some((r) => r.scenario === 'issue18')) {
  const ns = [...new Set([...runs.values()].filter((r) => r.scenario === 'issue18').map((r) => r.n))].sort((a, b) => a - b);
  console.log('\n**issue 18 targets** (medians; every client got every event: Herald, base)\n');
  console.log('| target | goal | N | set-up | Herald | base | ratio | no loss |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const [name, f, base, dir, goal] of T18) {
    for (const n of ns) {
      // The floor with a writer per core: floor-mt in one process, or the
      // multi-process floor (one writer each) where floor-mt was not run.
      const bname = base === 'floor' ? (runs.get(`issue18:${n}:floor-mt`) ? 'floor-mt' : 'floor') : base;
      const b = runs.get(`issue18:${n}:${bname}`);
      const sets = base === 'link' ? ['link-4v'] : ['notifier', 'link', 'link-4v'];
      for (const t of sets) {
        const r = runs.get(`issue18:${n}:${t}`);
        if (!r || !b || !Number.isFinite(f(r)) || !Number.isFinite(f(b)) || !f(b)) continue;
        const x = f(r) / f(b);
        const met = dir === 'le' ? x <= goal : x >= goal;
        const all = (q) => (q.delivered === q.expected && q.lossy_conns === 0 ? 'yes' : `no (${q.delivered} / ${q.expected})`);
        console.log(`| ${name} | ${dir === 'le' ? '≤' : '≥'} ${goal}x ${bname} | ${n.toLocaleString('en-US')} | ${t} | ${fmt(f(r))} | ${fmt(f(b))} | **${x.toFixed(2)}x** ${met ? 'met' : 'not met'} | ${all(r)}, ${all(b)} |`);
      }
    }
  }
}
