// The calculator page of `whisper-vram serve` (embedded into the binary at build time).
// Every number shown comes from the server's API: /api/v1/estimate (the CLI's `calc --json`),
// /api/v1/gpus (`gpus --json`), /api/v1/gpu-catalog, /api/v1/models. The page only lays them out,
// compares bytes with bytes for the verdicts, and keeps its state in the query string.
// Strings from the API reach the DOM through textContent only (never innerHTML).
'use strict';

(function () {
  const GIB = 1024 * 1024 * 1024;

  // The engines and their precisions, as `whisper-vram calc --help` lists them (the API has no
  // endpoint for the engine registry; the server validates whatever is sent and says what it allows).
  const ENGINES = [
    { name: 'guide', label: 'guide (formula)', precisions: ['float32', 'float16', 'bfloat16', 'int8', 'int4'] },
    { name: 'openai-whisper', label: 'openai-whisper', precisions: ['float32', 'float16'] },
    { name: 'transformers', label: 'transformers', precisions: ['float32', 'float16', 'bfloat16'] },
    { name: 'faster-whisper', label: 'faster-whisper', precisions: ['float32', 'float16', 'bfloat16', 'int8', 'int8_float16', 'int8_float32', 'int8_bfloat16', 'int16'] },
    { name: 'whisper.cpp', label: 'whisper.cpp', precisions: ['f32', 'f16', 'q8_0', 'q5_0', 'q5_1', 'q4_0', 'q4_1'] },
    { name: 'whisperx', label: 'whisperx', precisions: ['float32', 'float16', 'bfloat16', 'int8', 'int8_float16', 'int8_float32', 'int8_bfloat16', 'int16'] },
  ];
  // GPUs shown when a link names none (the view with an empty query string).
  const DEFAULT_CATALOG = ['T4', 'L4', 'RTX 4090', 'A100 80GB'];
  const DEFAULT_MODEL = 'large-v3';
  const COLORS = ['#1f5fbf', '#d9771e', '#2a9d55', '#b8322a', '#7b4fb5', '#8c5a3c', '#c2529b', '#5f6b78',
    '#9aa11a', '#1aa3b5', '#3d4db8', '#b88a1a', '#4a7d2c', '#a1456b'];

  const $ = (id) => document.getElementById(id);
  const el = (tag, props, children) => {
    const node = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (k === 'text') node.textContent = v;
        else if (k === 'className') node.className = v;
        else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'title' || k === 'scope' || k === 'type') node.setAttribute(k, v);
        else node[k] = v;
      }
    }
    for (const c of children || []) node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    return node;
  };
  // Two decimals as the CLI prints them (the guide's Python f"{x:.2f}"): the exact binary value rounded,
  // an exact tie to even (29.625 -> 29.62). toFixed rounds a tie up, so ties are handled here; a tie
  // at the third decimal is exact only for a multiple of 1/8.
  const fixed2 = (x) => {
    const a = Math.abs(x);
    let text = a.toFixed(2);
    if (Number.isInteger(a * 8) && (a * 100) % 1 === 0.5) {
      const n = Math.floor(a * 100);
      text = ((n % 2 === 0 ? n : n + 1) / 100).toFixed(2);
    }
    return (x < 0 && Number(text) !== 0 ? '-' : '') + text;
  };
  const gib = (bytes) => fixed2(bytes / GIB);
  const signedGib = (bytes) => (bytes >= 0 ? '+' : '−') + fixed2(Math.abs(bytes) / GIB);

  const state = {
    models: [],        // names from /api/v1/models
    catalog: [],       // rows of /api/v1/gpu-catalog
    local: [],         // gpus of /api/v1/gpus (may stay empty: no GPU information)
    localReason: '',
    chosenCatalog: [], // catalog names, in the order added
    chosenLocal: [],   // cuda indices (numbers)
    seq: 0,
    cache: new Map(),  // estimate query string -> Promise of {ok, status, body}
  };

  // ---- API ----------------------------------------------------------------------------------------
  async function getJson(path) {
    const response = await fetch(path, { headers: { Accept: 'application/json' } });
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = { error: 'bad_response', detail: `${path}: the response is not JSON (HTTP ${response.status})` };
    }
    return { ok: response.ok, status: response.status, body };
  }
  function apiDetail(result, what) {
    const b = result.body || {};
    return `${what}: HTTP ${result.status}${b.error ? ` ${b.error}` : ''}${b.detail ? `: ${b.detail}` : ''}`;
  }
  function estimate(fields) {
    const query = new URLSearchParams(fields).toString();
    if (!state.cache.has(query)) state.cache.set(query, getJson(`/api/v1/estimate?${query}`));
    return state.cache.get(query);
  }

  // ---- the job's fields -----------------------------------------------------------------------------
  function engineInfo(name) {
    return ENGINES.find((e) => e.name === name);
  }
  function isGuide() {
    return $('engine').value === 'guide';
  }
  // The request's fields, named as the CLI's options (the API's field names); empty = not sent.
  function jobFields() {
    const f = { model: $('model').value, engine: $('engine').value };
    const put = (name, id) => {
      const v = $(id).value.trim();
      if (v !== '' && !$(id).disabled) f[name] = v;
    };
    put('precision', 'precision');
    put('batch', 'batch');
    put('beam', 'beam');
    put('segment', 'segment');
    put('language', 'language');
    return f;
  }

  function fillSelect(select, items, wanted) {
    select.replaceChildren();
    for (const item of items) {
      const opt = el('option', { value: item.value, text: item.label });
      select.appendChild(opt);
    }
    // A value from a link that the lists do not know (an alias, a typo) stays selectable: the server
    // says whether it is valid.
    if (wanted && !items.some((i) => i.value === wanted)) select.appendChild(el('option', { value: wanted, text: wanted }));
    if (wanted) select.value = wanted;
  }
  function fillPrecisions(wanted) {
    const info = engineInfo($('engine').value);
    const items = [{ value: '', label: "engine's default" }];
    for (const p of info ? info.precisions : []) items.push({ value: p, label: p });
    fillSelect($('precision'), items, wanted || '');
  }
  function applyEngineRules() {
    const engine = $('engine').value;
    $('beam').disabled = engine === 'guide';
    $('language').disabled = engine !== 'whisperx';
    const hints = [];
    if (engine === 'guide') hints.push('beam: not an input of the guide formula (choose an engine)');
    if (engine !== 'whisperx') hints.push('language: the WhisperX alignment model only');
    if (engine !== 'guide') hints.push('engine-aware estimates are per GPU in the table (the GPU sets kernels and int8 support)');
    $('field-hint').textContent = hints.join('; ');
  }

  // ---- URL state ----------------------------------------------------------------------------------
  function readUrl() {
    const q = new URLSearchParams(window.location.search);
    const given = [...q.keys()].length > 0;
    const s = {
      model: q.get('model') || DEFAULT_MODEL,
      engine: q.get('engine') || 'guide',
      precision: q.get('precision') || '',
      batch: q.get('batch') || '',
      beam: q.get('beam') || '',
      segment: q.get('segment') || '',
      language: q.get('language') || '',
      custom: q.get('custom') || '',
      gpus: q.getAll('gpu'),
      local: null,
    };
    if (q.has('local')) {
      s.local = q.get('local').split(',').filter((x) => x !== '').map(Number).filter((n) => Number.isInteger(n) && n >= 0);
    }
    if (!given) {
      s.gpus = null; // defaults, once the catalog is known
    }
    return s;
  }
  function writeUrl() {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(jobFields())) q.append(k, v);
    for (const name of state.chosenCatalog) q.append('gpu', name);
    q.set('local', state.chosenLocal.join(','));
    const custom = $('custom').value.trim();
    if (custom !== '') q.set('custom', custom);
    const url = `${window.location.pathname}?${q.toString()}`;
    window.history.replaceState(null, '', url);
    $('link').value = window.location.href;
  }

  // ---- command lines --------------------------------------------------------------------------------
  function shellQuote(v) {
    return /^[A-Za-z0-9._:/=+@%-]+$/.test(v) ? v : `'${v.replace(/'/g, "'\\''")}'`;
  }
  function optionText(fields) {
    const parts = [];
    for (const [k, v] of Object.entries(fields)) {
      if (k === 'model') continue;
      parts.push(`--${k}`, shellQuote(v));
    }
    return parts.join(' ');
  }
  function updateCommands() {
    const f = jobFields();
    const model = shellQuote(f.model);
    const opts = optionText(f);
    const lines = [`whisper-vram calc ${model} ${opts}`];
    if (state.chosenLocal.length > 0) lines.push(`whisper-vram check ${model} ${opts} --gpus ${state.chosenLocal.join(',')}`);
    $('cli').value = lines.join('\n');
    $('cluster').value = [
      `whisper-vram slurm request ${model} ${opts}`,
      `whisper-vram k8s resources ${model} ${opts} --flavor hami`,
    ].join('\n');
  }

  // ---- rendering ------------------------------------------------------------------------------------
  function setStatus(kind, text) {
    $('status').dataset.state = kind;
    $('status').textContent = text;
  }
  function showError(text) {
    $('error').hidden = !text;
    $('error').textContent = text || '';
  }

  function renderEstimate(e) {
    const bytes = e.breakdown_bytes || {};
    const gibs = e.breakdown || {};
    const names = Object.keys(bytes);
    const total = e.total_required_bytes;
    const summary = $('summary');
    summary.hidden = false;
    summary.dataset.totalBytes = String(total);
    summary.dataset.recommendedBytes = String(e.recommended_bytes);
    $('total-gib').textContent = fixed2(Number(e.total_required));
    $('total-bytes').textContent = String(total);
    $('recommended-gib').textContent = fixed2(Number(e.recommended));
    $('margin-pct').textContent = String(Math.round(Number(e.margin) * 1000) / 10);
    const what = [e.model, e.engine, e.precision, `batch ${e.batch_size}`];
    if (e.beam_size !== undefined) what.push(`beam ${e.beam_size}`);
    if (e.segment_duration !== undefined) what.push(`segment ${e.segment_duration} s`);
    $('what').textContent = what.join(' · ');

    const bar = $('bar');
    const legend = $('legend');
    bar.replaceChildren();
    legend.replaceChildren();
    bar.setAttribute('aria-label', `breakdown of the total, ${fixed2(Number(e.total_required))} GiB`);
    names.forEach((name, i) => {
      const b = bytes[name];
      const color = COLORS[i % COLORS.length];
      const pct = total > 0 ? (100 * b) / total : 0;
      const label = `${name}: ${fixed2(Number(gibs[name]))} GiB (${pct.toFixed(1)}%)`;
      if (b > 0) {
        const seg = el('div', { className: pct >= 8 ? 'seg labelled' : 'seg', title: label, 'data-component': name, 'data-bytes': String(b), 'aria-label': label },
          [pct >= 8 ? name : '']);
        seg.style.width = `${pct}%`;
        seg.style.background = color;
        bar.appendChild(seg);
      }
      const sw = el('span', { className: 'swatch' });
      sw.style.background = color;
      legend.appendChild(el('li', { 'data-component': name }, [sw, el('span', { className: 'name', text: name }),
        el('span', { className: 'val', text: `${fixed2(Number(gibs[name]))} GiB · ${pct.toFixed(1)}%` })]));
    });
    const notes = $('notes');
    notes.replaceChildren();
    for (const n of e.notes || []) notes.appendChild(el('li', { text: n }));
    $('notes-box').hidden = (e.notes || []).length === 0;
  }

  // The GPUs of the table: {key, label, kind, available (bytes or null), gpuName (for engine estimates)}.
  function chosenRows() {
    const rows = [];
    for (const name of state.chosenCatalog) {
      const g = state.catalog.find((c) => c.name === name);
      if (!g) {
        rows.push({ key: `c:${name}`, label: name, kind: 'not in the catalog', available: null, gpuName: null, remove: () => removeCatalog(name) });
        continue;
      }
      const unified = g.unified_memory || g.memory_bytes === 0;
      rows.push({
        key: `c:${name}`, label: name,
        kind: unified ? 'catalog · unified memory: no fixed size' : `catalog · ${g.marketed || ''}`.trim(),
        available: unified ? null : g.memory_bytes, gpuName: name, remove: () => removeCatalog(name),
      });
    }
    for (const idx of state.chosenLocal) {
      const g = state.local.find((x) => x.cuda_index === idx);
      if (!g) continue;
      rows.push({
        key: `l:${idx}`, label: `GPU ${idx}: ${g.name}`,
        kind: `this machine · admittable now, of ${gib(g.total_bytes)} GiB`,
        available: typeof g.admittable_bytes === 'number' ? g.admittable_bytes : null,
        gpuName: g.catalog_name || null, remove: () => toggleLocal(idx, false),
      });
    }
    const custom = $('custom').value.trim();
    if (custom !== '') {
      const v = Number(custom);
      rows.push({
        key: 'custom', label: `custom ${custom} GiB`, kind: 'a size you typed',
        available: Number.isFinite(v) && v > 0 ? Math.floor(v * GIB) : null,
        gpuName: null, remove: () => { $('custom').value = ''; refresh(); },
      });
    }
    return rows;
  }

  function verdict(available, e) {
    if (available === null || available === undefined) return { cls: 'na', text: 'n/a' };
    if (available >= e.recommended_bytes) return { cls: 'fits', text: 'fits' };
    if (available >= e.total_required_bytes) return { cls: 'tight', text: 'tight' };
    return { cls: 'no', text: 'does not fit' };
  }

  async function renderTable(seq, fields, main) {
    const rows = chosenRows();
    // Engine-aware estimates depend on the GPU (kernels, int8 support): one estimate per GPU model.
    const results = await Promise.all(rows.map((r) => {
      if (isGuide() || !r.gpuName) return Promise.resolve({ ok: true, body: main });
      return estimate({ ...fields, gpu: r.gpuName });
    }));
    if (seq !== state.seq) return false;
    const tbody = $('fit-rows');
    tbody.replaceChildren();
    rows.forEach((r, i) => {
      const res = results[i];
      const tr = el('tr', { 'data-gpu': r.key });
      tr.appendChild(el('td', { className: 'c-gpu' }, [r.label, el('span', { className: 'gpu-kind', text: r.kind })]));
      tr.appendChild(el('td', { className: 'num c-has', 'data-label': 'has', text: r.available === null ? '—' : gib(r.available) }));
      if (!res.ok) {
        tr.dataset.verdict = 'error';
        tr.appendChild(el('td', { className: 'num c-needs', 'data-label': 'needs', text: '—' }));
        tr.appendChild(el('td', { className: 'c-err', colSpan: 2, text: apiDetail(res, 'estimate') }));
      } else {
        const e = res.body;
        const v = verdict(r.available, e);
        tr.dataset.verdict = v.cls;
        tr.dataset.requiredBytes = String(e.recommended_bytes);
        tr.dataset.totalBytes = String(e.total_required_bytes);
        if (r.available !== null) tr.dataset.availableBytes = String(r.available);
        tr.appendChild(el('td', { className: 'num c-needs', 'data-label': 'needs', text: fixed2(Number(e.recommended)), title: `total required ${fixed2(Number(e.total_required))} GiB` }));
        tr.appendChild(el('td', { className: 'c-verdict' }, [el('span', { className: `verdict ${v.cls}`, text: v.text })]));
        tr.appendChild(el('td', { className: 'num c-margin', 'data-label': 'margin', text: r.available === null ? '—' : signedGib(r.available - e.recommended_bytes) }));
      }
      const rm = el('button', { type: 'button', className: 'remove', text: '×', title: `remove ${r.label}`, 'aria-label': `remove ${r.label}` });
      rm.addEventListener('click', r.remove);
      tr.appendChild(el('td', { className: 'c-rm' }, [rm]));
      tbody.appendChild(tr);
    });
    if (rows.length === 0) {
      tbody.appendChild(el('tr', {}, [el('td', { colSpan: 6, className: 'hint', text: 'Pick a GPU from the catalog, this machine, or type a size.' })]));
    }
    return true;
  }

  async function refresh() {
    const seq = ++state.seq;
    const fields = jobFields();
    writeUrl();
    updateCommands();
    setStatus('loading', 'Asking the server…');
    const result = await estimate(fields);
    if (seq !== state.seq) return;
    if (!result.ok || Array.isArray(result.body)) {
      showError(result.ok ? 'estimate: expected one estimate' : apiDetail(result, 'estimate'));
      $('summary').hidden = true;
      $('bar').replaceChildren();
      $('legend').replaceChildren();
      $('fit-rows').replaceChildren();
      setStatus('error', 'The server refused this job; see why above.');
      return;
    }
    showError('');
    renderEstimate(result.body);
    if (await renderTable(seq, fields, result.body)) setStatus('ready', 'Up to date.');
  }

  // ---- GPU pickers ------------------------------------------------------------------------------------
  function fillCatalog() {
    const select = $('catalog');
    select.replaceChildren();
    const families = new Map();
    for (const g of state.catalog) {
      const fam = g.family || 'other';
      if (!families.has(fam)) families.set(fam, []);
      families.get(fam).push(g);
    }
    for (const [fam, gpus] of families) {
      const group = el('optgroup', { label: fam });
      for (const g of gpus) {
        const size = g.unified_memory || g.memory_bytes === 0 ? 'unified' : `${gib(g.memory_bytes)} GiB`;
        group.appendChild(el('option', { value: g.name, text: `${g.name} (${size})` }));
      }
      select.appendChild(group);
    }
  }
  function removeCatalog(name) {
    state.chosenCatalog = state.chosenCatalog.filter((n) => n !== name);
    refresh();
  }
  function toggleLocal(idx, on) {
    state.chosenLocal = state.chosenLocal.filter((i) => i !== idx);
    if (on) state.chosenLocal.push(idx);
    state.chosenLocal.sort((a, b) => a - b);
    const box = document.querySelector(`#local-list input[data-index="${idx}"]`);
    if (box) box.checked = on;
    refresh();
  }
  function fillLocal() {
    const list = $('local-list');
    list.replaceChildren();
    for (const g of state.local) {
      if (typeof g.cuda_index !== 'number') continue;
      const box = el('input', { type: 'checkbox', 'data-index': String(g.cuda_index) });
      box.checked = state.chosenLocal.includes(g.cuda_index);
      box.addEventListener('change', () => toggleLocal(g.cuda_index, box.checked));
      const free = typeof g.admittable_bytes === 'number' ? `, ${gib(g.admittable_bytes)} admittable` : '';
      list.appendChild(el('label', {}, [box, ` GPU ${g.cuda_index}: ${g.name} (${gib(g.total_bytes)} GiB${free})`]));
    }
    $('local-note').textContent = state.localReason
      || (state.local.length === 0 ? 'no GPU visible to the server' : '');
  }

  // ---- copy buttons ------------------------------------------------------------------------------------
  async function copyFrom(id) {
    const field = $(id);
    const text = field.value;
    let done = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        done = true;
      }
    } catch (e) {
      done = false; // no clipboard permission (e.g. headless): fall back to selecting the text
    }
    if (!done) {
      field.focus();
      field.select();
      try {
        done = document.execCommand('copy');
      } catch (e) {
        done = false;
      }
    }
    $('copy-status').textContent = done ? 'Copied.' : 'Selected: press Ctrl+C (or ⌘C) to copy.';
  }

  // This machine's GPUs. /api/v1/gpus answers 503 without GPU information, which Chromium would log as
  // a console error: /metrics (always 200) says first whether there is any (whisper_vram_nvml_up).
  async function localGpus() {
    try {
      const response = await fetch('/metrics');
      if (response.ok && /^whisper_vram_nvml_up 0$/m.test(await response.text())) {
        return { ok: false, status: 503, body: { error: 'gpu_unavailable', detail: 'whisper_vram_nvml_up is 0 (whisper-vram debug on the server says why)' } };
      }
    } catch (e) {
      // no metrics: ask /api/v1/gpus itself
    }
    return getJson('/api/v1/gpus');
  }

  // ---- start ------------------------------------------------------------------------------------------
  async function start() {
    const wanted = readUrl();
    const [models, catalog, gpus] = await Promise.all([
      getJson('/api/v1/models'), getJson('/api/v1/gpu-catalog'), localGpus()]);
    const problems = [];
    if (models.ok) state.models = (models.body.models || []).map((m) => m.name);
    else problems.push(apiDetail(models, 'models'));
    if (catalog.ok) state.catalog = catalog.body.gpus || [];
    else problems.push(apiDetail(catalog, 'GPU catalog'));
    if (gpus.ok) {
      state.local = gpus.body.gpus || [];
      if (gpus.body.reason) state.localReason = String(gpus.body.reason);
    } else {
      state.localReason = `no GPU information: ${apiDetail(gpus, 'gpus')}`;
    }

    fillSelect($('model'), state.models.map((m) => ({ value: m, label: m })), wanted.model);
    fillSelect($('engine'), ENGINES.map((e) => ({ value: e.name, label: e.label })), wanted.engine);
    fillPrecisions(wanted.precision);
    $('batch').value = wanted.batch;
    $('beam').value = wanted.beam;
    $('segment').value = wanted.segment;
    $('language').value = wanted.language;
    $('custom').value = wanted.custom;
    applyEngineRules();
    fillCatalog();
    const localIndices = state.local.map((g) => g.cuda_index).filter((i) => typeof i === 'number');
    if (wanted.gpus === null) {
      state.chosenCatalog = DEFAULT_CATALOG.filter((n) => state.catalog.some((g) => g.name === n));
      state.chosenLocal = localIndices;
    } else {
      state.chosenCatalog = [...new Set(wanted.gpus)];
      state.chosenLocal = (wanted.local || []).filter((i) => localIndices.includes(i));
    }
    fillLocal();
    if (problems.length > 0) showError(problems.join('; '));

    const onChange = () => refresh();
    $('engine').addEventListener('change', () => {
      fillPrecisions('');
      applyEngineRules();
      refresh();
    });
    for (const id of ['model', 'precision']) $(id).addEventListener('change', onChange);
    for (const id of ['batch', 'beam', 'segment', 'language', 'custom']) {
      $(id).addEventListener('change', onChange);
    }
    $('controls').addEventListener('submit', (ev) => {
      ev.preventDefault();
      refresh();
    });
    $('add-gpu').addEventListener('click', () => {
      const name = $('catalog').value;
      if (name && !state.chosenCatalog.includes(name)) state.chosenCatalog.push(name);
      refresh();
    });
    for (const button of document.querySelectorAll('button[data-copy]')) {
      button.addEventListener('click', () => copyFrom(button.dataset.copy));
    }
    await refresh();
  }

  start().catch((e) => {
    showError(`the page could not start: ${e && e.message ? e.message : String(e)}`);
    setStatus('error', 'Failed.');
  });
})();
