// idemsim timeline: draws the run embedded in #data. Self-contained: no network, no libraries.
(function () {
  'use strict';
  var NS = 'http://www.w3.org/2000/svg';
  var LABEL_W = 120, NODE_H = 30, RUN_H = 20, ROW_H = 12, BAR_H = 9, MAX_ROWS = 10;
  var MSG_CAP = 1500;

  var D = {};
  try { D = JSON.parse(document.getElementById('data').textContent) || {}; } catch (e) { D = {}; }
  var H = D.header || {}, M = D.model || {};
  function arr(x) { return Array.isArray(x) ? x : []; }
  var ops = arr(M.ops), intervals = arr(M.intervals), msgs = arr(M.messages);
  var marks = arr(M.marks), viols = arr(M.violations);
  var verdict = M.verdict || null;
  var END = Math.max(1, Number(M.end_us) || 0);
  var ok = verdict ? !!verdict.ok : !!H.ok;

  function el(tag, attrs, parent, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text != null) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function sv(tag, attrs, parent) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function ms(us) { return (Number(us) / 1000).toFixed(3) + ' ms'; }
  function opEnd(o) { return o.end_us == null ? END : o.end_us; }
  function ivEnd(iv) { return iv.end_us == null ? END : iv.end_us; }
  function opText(o) {
    return [o.op, o.key, o.value].filter(function (x) { return x != null; }).join(' ');
  }

  // ---- header, verdict box, toolbar, legend ----
  var body = document.body;
  var header = el('header', { id: 'header' }, body);
  el('h1', {}, header, 'idemsim timeline — ' + (H.scenario || 'run'));
  var meta = el('div', { 'class': 'meta' }, header);
  el('span', { 'class': 'badge ' + (ok ? 'pass' : 'fail'), id: 'verdict-badge' }, meta, ok ? 'PASS' : 'FAIL');
  el('span', {}, meta, 'seed ' + (H.seed == null ? '?' : H.seed));
  el('span', {}, meta, 'dedup ' + (H.dedup || '?'));
  el('span', {}, meta, (M.events || 0) + ' events · ' + ops.length + ' ops · ' +
    arr(M.nodes).length + ' nodes · ' + arr(M.clients).length + ' clients · ' + ms(END));
  var replay = (verdict && verdict.replay) || H.replay;
  if (replay) {
    var rp = el('div', {}, header, 'replay ');
    el('code', { id: 'replay' }, rp, replay);
  }
  if (H.summary) {
    var det = el('details', {}, header);
    el('summary', {}, det, 'summary');
    el('pre', {}, det, H.summary);
  }

  var vbox = el('div', { id: 'verdict', 'class': ok ? 'pass' : 'fail' }, body);
  if (ok) {
    el('div', {}, vbox, 'Every rule held.');
  } else {
    el('div', {}, vbox, viols.length + (viols.length === 1 ? ' violation' : ' violations') +
      ' (click one to zoom to it):');
    var ol = el('ol', {}, vbox);
    viols.forEach(function (v, i) {
      var li = el('li', {}, ol);
      var a = el('a', { 'class': 'violation-link', 'data-v': i, href: '#',
        title: (v.rule || '') + ': ' + (v.message || '') }, li);
      el('span', { 'class': 'rule' }, a, (v.rule || 'violation') + ': ');
      el('span', {}, a, v.message || '');
      a.addEventListener('click', function (ev) { ev.preventDefault(); goToViolation(i); });
    });
  }

  var toolbar = el('div', { id: 'toolbar' }, body);
  var bIn = el('button', { id: 'zoom-in', title: 'zoom in (wheel up)' }, toolbar, '+');
  var bOut = el('button', { id: 'zoom-out', title: 'zoom out (wheel down)' }, toolbar, '−');
  var bAll = el('button', { id: 'zoom-reset', title: 'whole run' }, toolbar, 'whole run');
  var msgLabel = el('label', {}, toolbar);
  var msgBox = el('input', { type: 'checkbox', id: 'show-messages' }, msgLabel);
  msgBox.checked = true;
  msgLabel.appendChild(document.createTextNode(' messages'));
  if (!msgs.length) msgLabel.style.display = 'none';
  var info = el('span', { 'class': 'info', id: 'view-info' }, toolbar);
  var msgInfo = el('span', { 'class': 'info', id: 'msg-info' }, toolbar);
  el('span', { 'class': 'info' }, toolbar, 'wheel: zoom · drag: pan · hover: details');

  var legend = el('div', { id: 'legend' }, body);
  [['applied', 'applied'], ['cached', 'cached duplicate'], ['indefinite', 'indefinite (no answer)'],
   ['expired', 'session expired'], ['refused', 'refused'], ['violation', 'violation'],
   ['down', 'node/client down'], ['leader', 'leader term'], ['partition', 'partitioned'],
   ['clock', 'clock fault'], ['network', 'network fault'], ['msg', 'message']].forEach(function (p) {
    var s = el('span', { 'class': 'legend-item', 'data-kind': p[0] }, legend);
    el('span', { 'class': 'sw', style: 'background: var(--' + p[0] + ')' }, s);
    s.appendChild(document.createTextNode(p[1]));
  });

  // ---- lanes ----
  var lanes = [], laneById = {};
  function addLane(id, kind, label, h) {
    if (laneById[id]) return laneById[id];
    var l = { id: id, kind: kind, label: label, h: h, rows: 1, y: 0 };
    lanes.push(l); laneById[id] = l;
    return l;
  }
  addLane('run', 'run', 'run', RUN_H);
  arr(M.nodes).forEach(function (n) { addLane('n' + n, 'node', 'n' + n, NODE_H); });
  arr(M.clients).forEach(function (c) { addLane('c' + c, 'client', 'c' + c, NODE_H); });
  function laneFor(id) {
    if (laneById[id]) return laneById[id];
    var kind = /^n\d+$/.test(id) ? 'node' : /^c\d+$/.test(id) ? 'client' : 'other';
    return addLane(id, kind, id, kind === 'client' ? NODE_H : RUN_H);
  }
  // Ops on their client's lane, packed in rows so overlapping (pipelined) ops do not hide.
  var byClient = {};
  ops.forEach(function (o, i) {
    var id = 'c' + o.client_no;
    laneFor(id);
    (byClient[id] = byClient[id] || []).push(i);
  });
  var opRow = new Array(ops.length);
  Object.keys(byClient).forEach(function (id) {
    var list = byClient[id].sort(function (a, b) { return ops[a].start_us - ops[b].start_us; });
    var ends = [];
    list.forEach(function (i) {
      var o = ops[i], r = -1;
      for (var k = 0; k < ends.length; k++) if (ends[k] < o.start_us) { r = k; break; }
      if (r < 0) {
        if (ends.length < MAX_ROWS) { r = ends.length; ends.push(0); } else {
          r = 0;
          for (k = 1; k < ends.length; k++) if (ends[k] < ends[r]) r = k;
        }
      }
      ends[r] = Math.max(ends[r], opEnd(o));
      opRow[i] = r;
    });
    var l = laneById[id];
    l.rows = Math.max(1, ends.length);
    l.h = Math.max(NODE_H, 10 + l.rows * ROW_H);
  });
  intervals.forEach(function (iv) { laneFor(String(iv.lane)); });
  marks.forEach(function (m) { laneFor(String(m.lane)); });
  var totalH = 0;
  lanes.forEach(function (l) { l.y = totalH; totalH += l.h; });
  function laneMid(id) { var l = laneById[id]; return l ? l.y + l.h / 2 : 0; }
  function opY(i) {
    var l = laneById['c' + ops[i].client_no];
    return l.y + 5 + opRow[i] * ROW_H;
  }

  // ---- the chart ----
  var timeline = el('div', { id: 'timeline' }, body);
  var axis = sv('svg', { id: 'axis', height: 28 }, timeline);
  var scroller = el('div', { id: 'scroller' }, timeline);
  var chart = sv('svg', { id: 'chart', height: totalH }, scroller);
  var defs = sv('defs', {}, chart);
  var clip = sv('clipPath', { id: 'plot-clip' }, defs);
  var clipRect = sv('rect', { x: LABEL_W, y: 0, height: totalH, width: 100 }, clip);
  var gLanes = sv('g', { id: 'lanes' }, chart);
  var gClip = sv('g', { 'clip-path': 'url(#plot-clip)' }, chart);
  var gContent = sv('g', { id: 'content' }, gClip);
  var gGrid = sv('g', { id: 'grid' }, gContent);
  var gIv = sv('g', { id: 'intervals' }, gContent);
  var gOps = sv('g', { id: 'ops' }, gContent);
  var gMarks = sv('g', { id: 'marks' }, gContent);
  var gMsgs = sv('g', { id: 'messages' }, gContent);
  var gViol = sv('g', { id: 'violations' }, gContent);
  var gLabels = sv('g', { id: 'labels' }, chart);

  lanes.forEach(function (l, k) {
    var attrs = { 'class': 'lane lane-' + l.kind + (k % 2 ? ' alt' : ''), id: 'lane-' + l.id,
      'data-lane': l.id, transform: 'translate(0,' + l.y + ')' };
    if (l.kind === 'node') attrs['data-node'] = l.id.slice(1);
    if (l.kind === 'client') attrs['data-client'] = l.id.slice(1);
    var g = sv('g', attrs, gLanes);
    l.bg = sv('rect', { 'class': 'lane-bg', x: 0, y: 0, height: l.h, width: 100 }, g);
    sv('line', { 'class': 'grid', x1: 0, x2: 100000, y1: l.h - 0.5, y2: l.h - 0.5 }, g);
    var lab = sv('g', { transform: 'translate(0,' + l.y + ')' }, gLabels);
    sv('rect', { x: 0, y: 0, width: LABEL_W, height: l.h, fill: k % 2 ? '#eef0f3' : '#f8f8f8' }, lab);
    var t = sv('text', { 'class': 'lane-label', x: 8, y: Math.min(l.h / 2 + 4, 16) }, lab);
    t.textContent = l.label;
    if (l.kind === 'client' && l.rows > 1) {
      var s = sv('text', { 'class': 'lane-sub', x: 40, y: Math.min(l.h / 2 + 4, 16) }, lab);
      s.textContent = l.rows + ' rows';
    }
  });

  var IV_BAND = { leader: [1, 6], partition: [0.72, 0.28], clock: [0.4, 0.22], network: [0.2, 0.6] };
  var ivEls = intervals.map(function (iv, i) {
    var l = laneFor(String(iv.lane)), y = l.y, h = l.h;
    var band = IV_BAND[iv.kind];
    if (iv.kind === 'leader') { y = l.y + 1; h = 6; } else if (band) { y = l.y + l.h * band[0]; h = l.h * band[1]; }
    return sv('rect', { 'class': 'iv ' + iv.kind, 'data-i': i, 'data-kind': iv.kind,
      'data-lane': iv.lane, y: y, height: Math.max(1, h), x: 0, width: 0 }, gIv);
  });
  var opEls = ops.map(function (o, i) {
    var cls = 'op-bar ' + o.outcome + (arr(o.violations).length ? ' violated' : '');
    return sv('rect', { 'class': cls, id: 'op-' + i, 'data-i': i, 'data-client': o.client,
      'data-client-no': o.client_no, 'data-seq': o.seq, 'data-outcome': o.outcome,
      y: opY(i), height: BAR_H, x: 0, width: 0, rx: 1.5 }, gOps);
  });
  var KNOWN = { snapshot: 1, install: 1, expire: 1, register: 1, session_expired: 1, replay: 1,
    fault_skipped: 1, liveness: 1, swarm: 1, dedup: 1 };
  var markEls = marks.map(function (m, i) {
    var l = laneFor(String(m.lane));
    return sv('rect', { 'class': 'mark' + (KNOWN[m.event] ? '' : ' unknown'), 'data-i': i,
      'data-event': m.event, y: l.y + 2, height: Math.max(4, Math.min(l.h - 4, 14)), x: 0,
      width: 2 }, gMarks);
  });
  var livenessLine = M.liveness_us == null ? null :
    sv('line', { 'class': 'liveness-line', y1: 0, y2: totalH, x1: 0, x2: 0 }, gGrid);

  // Violation markers: a dot on each op and apply it names, joined by a line; the first is
  // #violation, the next #violation-2, …
  var violEls = viols.map(function (v, i) {
    var g = sv('g', { 'class': 'violation-marker', id: i === 0 ? 'violation' : 'violation-' + (i + 1),
      'data-v': i, 'data-rule': v.rule || '' }, gViol);
    var pts = [];
    arr(v.ops).forEach(function (oi) {
      if (ops[oi]) pts.push({ t: ops[oi].start_us, y: opY(oi) + BAR_H / 2, t2: opEnd(ops[oi]) });
    });
    arr(v.points).forEach(function (p) { pts.push({ t: p[2], y: laneMid('n' + p[0]) }); });
    if (!pts.length) pts.push({ t: END, y: laneMid('run') });
    var parts = pts.map(function (p) {
      return { p: p, c: sv('circle', { r: 4.5, cy: p.y, cx: 0, 'data-v': i }, g) };
    });
    var lines = [];
    for (var k = 1; k < pts.length; k++) {
      lines.push({ a: pts[0], b: pts[k], e: sv('line', { y1: pts[0].y, y2: pts[k].y, 'data-v': i }, g) });
    }
    var label = sv('text', { 'class': 'violation-label', y: pts[0].y - 6, 'data-v': i }, g);
    label.textContent = '⚠ ' + (v.rule || 'violation');
    return { g: g, parts: parts, lines: lines, label: label, p0: pts[0], ys: pts.map(function (p) { return p.y; }) };
  });

  var tip = el('div', { id: 'tooltip' }, body);

  // ---- view and layout ----
  var view = { t0: -END * 0.01, t1: END * 1.01 };
  var laid = { t0: view.t0, t1: view.t1 };
  var plotW = 100;
  function X(t) { return LABEL_W + (t - laid.t0) / (laid.t1 - laid.t0) * plotW; }
  function T(x) { return view.t0 + (x - LABEL_W) / plotW * (view.t1 - view.t0); }

  function drawAxis() {
    while (axis.firstChild) axis.removeChild(axis.firstChild);
    var W = LABEL_W + plotW + 10;
    axis.setAttribute('width', W);
    var t = sv('text', { 'class': 'axis-label', x: 8, y: 18 }, axis);
    t.textContent = 'time (ms)';
    var span = view.t1 - view.t0, raw = span / Math.max(2, plotW / 90);
    var p = Math.pow(10, Math.floor(Math.log10(raw))), r = raw / p;
    var step = p * (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10);
    var dec = Math.max(0, Math.min(3, -Math.floor(Math.log10(step / 1000))));
    for (var v = Math.ceil(view.t0 / step) * step; v <= view.t1; v += step) {
      var x = LABEL_W + (v - view.t0) / span * plotW;
      sv('line', { 'class': 'axis-tick', x1: x, x2: x, y1: 20, y2: 28 }, axis);
      var lab = sv('text', { 'class': 'axis-label', x: x + 2, y: 16 }, axis);
      lab.textContent = (v / 1000).toFixed(dec);
    }
    info.textContent = 'view ' + ms(Math.max(0, view.t0)) + ' – ' + ms(Math.min(END, view.t1));
  }

  function drawMessages() {
    while (gMsgs.firstChild) gMsgs.removeChild(gMsgs.firstChild);
    if (!msgs.length) { msgInfo.textContent = ''; return; }
    if (!msgBox.checked) { msgInfo.textContent = msgs.length + ' messages hidden'; return; }
    var inView = [];
    for (var i = 0; i < msgs.length; i++) {
      var m = msgs[i];
      if (m[0] > view.t1) break;
      if (m[1] >= view.t0) inView.push(i);
    }
    if (inView.length > MSG_CAP) {
      msgInfo.textContent = inView.length + ' messages in view: zoom in to draw them (at most ' + MSG_CAP + ')';
      return;
    }
    msgInfo.textContent = inView.length + ' messages drawn';
    inView.forEach(function (i) {
      var m = msgs[i];
      sv('line', { 'class': 'msg ' + m[5], 'data-m': i, x1: X(m[0]), y1: laneMid(m[2]),
        x2: X(m[1]), y2: laneMid(m[3]) }, gMsgs);
    });
  }

  function layout() {
    laid.t0 = view.t0; laid.t1 = view.t1;
    var W = Math.max(400, timeline.clientWidth || 1200);
    plotW = W - LABEL_W - 10;
    chart.setAttribute('width', W);
    clipRect.setAttribute('width', plotW);
    lanes.forEach(function (l) { l.bg.setAttribute('width', W); });
    gContent.removeAttribute('transform');
    ivEls.forEach(function (e, i) {
      var iv = intervals[i], x = X(iv.start_us);
      e.setAttribute('x', x);
      e.setAttribute('width', Math.max(2, X(ivEnd(iv)) - x));
    });
    opEls.forEach(function (e, i) {
      var o = ops[i], x = X(o.start_us);
      e.setAttribute('x', x);
      e.setAttribute('width', Math.max(2, X(opEnd(o)) - x));
    });
    markEls.forEach(function (e, i) { e.setAttribute('x', X(marks[i].t_us) - 1); });
    if (livenessLine) { var lx = X(M.liveness_us); livenessLine.setAttribute('x1', lx); livenessLine.setAttribute('x2', lx); }
    violEls.forEach(function (v) {
      v.parts.forEach(function (p) { p.c.setAttribute('cx', X(p.p.t)); });
      v.lines.forEach(function (l) { l.e.setAttribute('x1', X(l.a.t)); l.e.setAttribute('x2', X(l.b.t)); });
      v.label.setAttribute('x', X(v.p0.t) + 6);
    });
    drawMessages();
    drawAxis();
  }

  // While zooming or panning, transform what was laid out; lay out again once it settles.
  var settle = null;
  function moved() {
    var k = (laid.t1 - laid.t0) / (view.t1 - view.t0);
    var tx = LABEL_W + (laid.t0 - view.t0) / (view.t1 - view.t0) * plotW;
    gContent.setAttribute('transform', 'translate(' + tx + ',0) scale(' + k + ',1) translate(' + (-LABEL_W) + ',0)');
    drawAxis();
    if (settle) clearTimeout(settle);
    settle = setTimeout(function () { settle = null; layout(); }, 150);
  }
  function clampView() {
    var span = Math.max(10, Math.min(END * 1.5, view.t1 - view.t0));
    var mid = (view.t0 + view.t1) / 2;
    mid = Math.max(-END * 0.2, Math.min(END * 1.2, mid));
    view.t0 = mid - span / 2; view.t1 = mid + span / 2;
  }
  function zoom(factor, at) {
    if (at == null) at = (view.t0 + view.t1) / 2;
    view.t0 = at - (at - view.t0) * factor;
    view.t1 = at + (view.t1 - at) * factor;
    clampView(); moved();
  }
  function zoomTo(a, b) {
    var pad = Math.max(200, (b - a) * 0.3);
    view.t0 = a - pad; view.t1 = b + pad;
    clampView(); layout();
  }

  bIn.addEventListener('click', function () { zoom(0.5); });
  bOut.addEventListener('click', function () { zoom(2); });
  bAll.addEventListener('click', function () { view.t0 = -END * 0.01; view.t1 = END * 1.01; layout(); });
  msgBox.addEventListener('change', drawMessages);
  chart.addEventListener('wheel', function (e) {
    e.preventDefault();
    var rect = chart.getBoundingClientRect();
    var dy = e.deltaMode === 1 ? e.deltaY * 30 : e.deltaY;
    var dx = e.deltaMode === 1 ? e.deltaX * 30 : e.deltaX;
    if (e.shiftKey || Math.abs(dx) > Math.abs(dy)) {
      var shift = (e.shiftKey ? dy : dx) / plotW * (view.t1 - view.t0);
      view.t0 += shift; view.t1 += shift; clampView(); moved();
    } else {
      zoom(Math.exp(dy * 0.002), T(e.clientX - rect.left));
    }
  }, { passive: false });
  var drag = null;
  chart.addEventListener('mousedown', function (e) {
    if (e.button !== 0) return;
    drag = { x: e.clientX, t0: view.t0, t1: view.t1 };
    chart.classList.add('dragging');
    tip.style.display = 'none';
  });
  window.addEventListener('mousemove', function (e) {
    if (!drag) return;
    var dt = (e.clientX - drag.x) / plotW * (drag.t1 - drag.t0);
    view.t0 = drag.t0 - dt; view.t1 = drag.t1 - dt; clampView(); moved();
  });
  window.addEventListener('mouseup', function () { drag = null; chart.classList.remove('dragging'); });
  chart.addEventListener('dblclick', function (e) {
    zoom(0.4, T(e.clientX - chart.getBoundingClientRect().left));
  });
  window.addEventListener('resize', function () { layout(); });

  // ---- tooltips ----
  function opTip(i) {
    var o = ops[i], s = [];
    s.push('<b>c' + esc(o.client_no) + ' seq ' + esc(o.seq) + '</b>  ' + esc(opText(o)));
    s.push('client ' + esc(o.client) + ' · seq ' + esc(o.seq));
    var res = o.result == null ? '' : ' · result "' + esc(o.result) + '"';
    var why = o.error ? ' (' + esc(o.error) + ')' : '';
    s.push('outcome <b>' + esc(o.outcome) + '</b>' + why + (o.node != null ? ' · answer from n' + esc(o.node) : '') + res);
    s.push('submitted ' + ms(o.start_us) + ' → ' + (o.end_us == null ? 'no answer by the end (' + ms(END) + ')' :
      'returned ' + ms(o.end_us) + ' (' + ms(o.end_us - o.start_us) + ')'));
    s.push('attempts ' + esc(o.attempts));
    var applies = arr(o.applies);
    if (applies.length) {
      var counts = {};
      applies.forEach(function (a) { counts[a.decision] = (counts[a.decision] || 0) + 1; });
      s.push('dedup decision ' + Object.keys(counts).map(function (k) { return '<b>' + esc(k) + '</b> ×' + counts[k]; }).join(', '));
      applies.slice(0, 12).forEach(function (a) {
        s.push('  n' + esc(a.node) + ' index ' + esc(a.index) + ' at ' + ms(a.t_us) + ': ' + esc(a.decision) +
          (a.result == null ? '' : ' → "' + esc(a.result) + '"'));
      });
      if (applies.length > 12) s.push('  … ' + (applies.length - 12) + ' more applies');
    } else {
      s.push('applied nowhere');
    }
    arr(o.violations).forEach(function (vi) {
      var v = viols[vi] || {};
      s.push('<b>⚠ ' + esc(v.rule) + '</b>: ' + esc(v.message));
    });
    return s.join('\n');
  }
  function tipFor(t) {
    if (!t || !t.getAttribute) return null;
    var cls = t.getAttribute('class') || '', i = Number(t.getAttribute('data-i'));
    if (cls.indexOf('op-bar') >= 0) return opTip(i);
    if (cls.indexOf('iv') === 0) {
      var iv = intervals[i];
      return '<b>' + esc(iv.kind) + '</b> ' + esc(iv.lane) + ': ' + esc(iv.label) + '\n' + ms(iv.start_us) + ' → ' +
        (iv.end_us == null ? 'end of run' : ms(iv.end_us));
    }
    if (cls.indexOf('mark') === 0) {
      var m = marks[i];
      return '<b>' + esc(m.event) + '</b> at ' + ms(m.t_us) + '\n' + esc(m.line);
    }
    if (cls.indexOf('msg') === 0) {
      var g = msgs[Number(t.getAttribute('data-m'))];
      return '<b>' + esc(g[4]) + '</b> ' + esc(g[2]) + ' → ' + esc(g[3]) + ' (' + esc(g[5]) + ')\n' + ms(g[0]) + ' → ' + ms(g[1]);
    }
    var v = t.getAttribute('data-v');
    if (v != null && viols[Number(v)]) {
      var w = viols[Number(v)];
      return '<b>⚠ ' + esc(w.rule) + '</b>: ' + esc(w.message);
    }
    return null;
  }
  chart.addEventListener('mousemove', function (e) {
    if (drag) return;
    var html = tipFor(e.target);
    if (!html) { tip.style.display = 'none'; return; }
    tip.innerHTML = html;
    tip.style.display = 'block';
    var x = e.clientX + 14, y = e.clientY + 14;
    if (x + tip.offsetWidth > window.innerWidth) x = Math.max(0, e.clientX - tip.offsetWidth - 10);
    if (y + tip.offsetHeight > window.innerHeight) y = Math.max(0, e.clientY - tip.offsetHeight - 10);
    tip.style.left = x + 'px'; tip.style.top = y + 'px';
  });
  chart.addEventListener('mouseleave', function () { tip.style.display = 'none'; });

  // ---- the verdict box's links ----
  function goToViolation(i) {
    var v = viols[i], ve = violEls[i];
    if (!v || !ve) return;
    var a = v.start_us == null ? END : v.start_us, b = v.end_us == null ? a : v.end_us;
    zoomTo(a, b);
    var ys = ve.ys, top = Math.min.apply(null, ys), bottom = Math.max.apply(null, ys);
    scroller.scrollTop = Math.max(0, (top + bottom) / 2 - scroller.clientHeight / 2);
    timeline.scrollIntoView({ block: 'start' });
    violEls.forEach(function (o) { o.g.classList.remove('selected'); });
    ve.g.classList.add('selected');
    gViol.appendChild(ve.g);
    var flashing = [ve.g].concat(arr(v.ops).map(function (oi) { return opEls[oi]; }).filter(Boolean));
    flashing.forEach(function (e) { e.classList.remove('flash'); void e.getBoundingClientRect(); e.classList.add('flash'); });
  }

  layout();
  // `page.html#violation` (or `#violation-2`…) opens zoomed to that violation.
  var hash = /^#violation(?:-(\d+))?$/.exec(location.hash || '');
  if (hash) goToViolation(hash[1] ? Number(hash[1]) - 1 : 0);
  document.body.setAttribute('data-rendered', 'true');
})();
