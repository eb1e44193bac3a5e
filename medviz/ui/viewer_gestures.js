// The pair viewer's gestures (see viewer_gestures.py): window/level by right-drag (or Ctrl+drag), frames by
// Shift+wheel / arrows / PageUp-PageDown over a multi-frame image, Tab to the rationale, a W/L label per image,
// and back to the top of the page when a new pair opens.
// Listeners are installed once per tab; each mount hands over the latest slot data and the send function.
export default function (component) {
  const { data, setTriggerValue } = component;
  const w = window;
  const doc = document;
  // new slot data = a rerun has drawn the images again: live values end, previews go once the image changed
  w.__mvG = { data: data || { images: {} }, send: setTriggerValue, live: {}, fresh: true,
              clearAt: Date.now() + 1500 };
  // a new pair opened (a save, J/K/N): back to the top, at the next frame (not in the middle of the rerun)
  const unit = (data && data.unit) || null;
  if (unit !== null && w.__mvTop !== unit) {
    const first = w.__mvTop === undefined;
    w.__mvTop = unit;
    if (!first) {
      requestAnimationFrame(() => {
        const main = doc.querySelector("[data-testid='stMain']") || doc.scrollingElement;
        main.scrollTo({ top: 0 }); (doc.scrollingElement || doc.documentElement).scrollTo({ top: 0 });
      });
    }
  }
  const NS = 'http://www.w3.org/2000/svg';
  const FRAME_WAIT_MS = 150;                  // frame steps closer than this make one burst = one rerun

  // the viewer's plotly graph: the one whose traces are named slot1, slot2 ...
  const ours = (gd) => (gd.data || []).some((t) => t.type === 'image' && /^slot\d+$/.test(t.name || ''));
  const graph = () => {
    const hit = w.__mvGd;
    if (hit && hit.isConnected && ours(hit)) return hit;
    w.__mvGd = null;
    for (const gd of doc.querySelectorAll('.js-plotly-plot')) {
      if (ours(gd)) { w.__mvGd = gd; return gd; }
    }
    return null;
  };
  // [{slot, id ('xy', 'x2y2'), rect (drag surface), img (<image>)}] for the images drawn
  const panels = (gd) => {
    const out = [];
    for (const t of gd.data || []) {
      if (t.type !== 'image' || !/^slot\d+$/.test(t.name || '')) continue;
      const id = (t.xaxis || 'x') + (t.yaxis || 'y');
      const rect = gd.querySelector('.draglayer .' + id + ' .nsewdrag');
      const img = gd.querySelector('.subplot.' + id + ' .imagelayer image');
      if (rect) out.push({ slot: t.name.slice(4), id, rect, img });
    }
    return out;
  };
  const panelAt = (gd, x, y) => {
    for (const p of panels(gd)) {
      const r = p.rect.getBoundingClientRect();
      if (x >= r.left && x <= r.right && y >= r.top && y <= r.bottom) return p;
    }
    return null;
  };
  const info = (slot) => (w.__mvG.data.images || {})[slot];
  const fmt = (v) => (Math.abs(v) >= 100 ? Math.round(v).toString() : (+v.toFixed(1)).toString());

  // the overlay label of each image (W/L, frame), kept in the graph's corner of each panel
  const label = (gd, p, text) => {
    let el = gd.querySelector('[data-mv-wl="' + p.slot + '"]');
    if (!el) {
      el = doc.createElement('div');
      el.setAttribute('data-mv-wl', p.slot);
      el.setAttribute('data-testid', 'mv-wl-label');
      el.style.cssText = 'position:absolute;pointer-events:none;z-index:5;font:12px/1.3 monospace;color:#fff;' +
                         'background:rgba(0,0,0,.55);padding:1px 6px;border-radius:3px;white-space:nowrap';
      if (getComputedStyle(gd).position === 'static') gd.style.position = 'relative';
      gd.appendChild(el);
    }
    const g = gd.getBoundingClientRect();
    const r = p.rect.getBoundingClientRect();
    el.style.left = (r.left - g.left + 6) + 'px';
    el.style.top = (r.bottom - g.top - 24) + 'px';
    el.textContent = text;
  };
  const text = (x, ww, wl, frame) => {
    const win = x.voi && ww === undefined ? 'VOI LUT' : 'W ' + fmt(ww ?? x.ww) + ' · L ' + fmt(wl ?? x.wl);
    return win + (x.frames > 1 ? ' · frame ' + (frame ?? x.frame) + '/' + x.frames : '');
  };
  const refresh = () => {
    const gd = graph();
    if (!gd) return;
    const live = w.__mvG.live || {};
    for (const p of panels(gd)) {
      const x = info(p.slot);
      if (!x) continue;
      const l = live[p.slot] || {};
      label(gd, p, text(x, l.ww, l.wl, l.frame));
    }
  };
  w.__mvG.refresh = refresh;
  // on a mount: once, at the next frame, when the rerun's other elements are in the DOM (measuring now would
  // force a layout in the middle of the rerun's updates)
  const refreshSoon = () => {
    if (w.__mvRaf) return;
    w.__mvRaf = requestAnimationFrame(() => { w.__mvRaf = 0; w.__mvG.refresh(); });
  };

  // live feedback: the new window as a linear map of the drawn 8-bit values (exact on release, from Python)
  const filterFor = (slot, slope, icpt) => {
    let svg = doc.getElementById('mv-wl-filters');
    if (!svg) {
      svg = doc.createElementNS(NS, 'svg');
      svg.id = 'mv-wl-filters';
      svg.setAttribute('width', '0'); svg.setAttribute('height', '0');
      svg.style.cssText = 'position:absolute;width:0;height:0';
      doc.body.appendChild(svg);
    }
    let f = doc.getElementById('mv-wl-f' + slot);
    if (!f) {
      f = doc.createElementNS(NS, 'filter');
      f.id = 'mv-wl-f' + slot;
      f.setAttribute('color-interpolation-filters', 'sRGB');
      const ct = doc.createElementNS(NS, 'feComponentTransfer');
      for (const c of ['R', 'G', 'B']) {
        const fn = doc.createElementNS(NS, 'feFunc' + c);
        fn.setAttribute('type', 'linear');
        ct.appendChild(fn);
      }
      f.appendChild(ct);
      svg.appendChild(f);
    }
    for (const fn of f.querySelectorAll('feFuncR, feFuncG, feFuncB')) {
      fn.setAttribute('slope', String(slope));
      fn.setAttribute('intercept', String(icpt));
    }
    return 'url(#mv-wl-f' + slot + ')';
  };
  const preview = (p, x, ww, wl) => {
    if (!p.img) return;
    const k = x.ww / ww, b = (x.wl - wl) / ww + 0.5 - 0.5 * k;   // new window value = k * old + b
    const g = (d) => {                                          // drawn value -> value under the new window
      let z = (d - 0.5 - x.b) / x.c + 0.5;
      let y = x.inv ? 1 - z : z;
      y = k * y + b;
      z = x.inv ? 1 - y : y;
      return (z - 0.5) * x.c + 0.5 + x.b;
    };
    const i0 = g(0);
    p.img.style.filter = filterFor(p.slot, g(1) - i0, i0);
  };
  // linked: the other image's window for a drag on one (same modality: same window; else relative)
  const follow = (x, ww, wl, y) => {
    if ((x.mod || '') === (y.mod || '')) return [ww, wl];
    return [y.ww * ww / Math.max(x.ww, 1), y.wl + (wl - x.wl) / Math.max(x.ww, 1) * y.ww];
  };

  if (w.__mvGInstalled) { refreshSoon(); return; }
  w.__mvGInstalled = true;
  let drag = null, hover = null, frameTimer = null;

  const inViewer = (e) => { const gd = graph(); return gd && gd.contains(e.target) ? gd : null; };
  const stop = (e) => { e.preventDefault(); e.stopPropagation(); e.stopImmediatePropagation(); };

  w.addEventListener('contextmenu', (e) => { if (inViewer(e) || drag) e.preventDefault(); }, true);
  const down = (e) => {
    const gd = inViewer(e);
    if (!gd || !(e.button === 2 || (e.button === 0 && e.ctrlKey))) return;
    const p = panelAt(gd, e.clientX, e.clientY);
    const x = p && info(p.slot);
    if (!x) return;
    stop(e);                                 // plotly never sees it (and no compatibility mousedown follows)
    if (e.type !== 'pointerdown') return;
    const r = p.rect.getBoundingClientRect();
    drag = { gd, p, x, x0: e.clientX, y0: e.clientY, s: Math.max(x.hi - x.lo, x.ww, 1) / Math.max(r.width, 1),
             ww: x.ww, wl: x.wl, moved: false };
  };
  w.addEventListener('pointerdown', down, true);
  w.addEventListener('mousedown', (e) => { if (drag) stop(e); else down(e); }, true);
  w.addEventListener('pointermove', (e) => {
    const gd = graph();
    hover = gd && gd.contains(e.target) ? panelAt(gd, e.clientX, e.clientY) : null;
    if (!drag) return;
    stop(e);
    const dx = e.clientX - drag.x0, dy = e.clientY - drag.y0;
    if (Math.abs(dx) + Math.abs(dy) < 2 && !drag.moved) return;
    drag.moved = true;
    drag.ww = Math.max(1, drag.x.ww + dx * drag.s);
    drag.wl = drag.x.wl + dy * drag.s;
    const live = {};
    live[drag.p.slot] = { ww: drag.ww, wl: drag.wl };
    preview(drag.p, drag.x, drag.ww, drag.wl);
    if (w.__mvG.data.linked) {
      for (const q of panels(drag.gd)) {
        const y = info(q.slot);
        if (q.slot === drag.p.slot || !y) continue;
        const [a, b] = follow(drag.x, drag.ww, drag.wl, y);
        live[q.slot] = { ww: Math.max(1, a), wl: b };
        preview(q, y, Math.max(1, a), b);
      }
    }
    w.__mvG.live = live;
    refresh();
  }, true);
  w.addEventListener('mousemove', (e) => { if (drag) stop(e); }, true);
  w.addEventListener('pointerup', (e) => {
    if (!drag) return;
    stop(e);
    const d = drag;
    drag = null;
    if (!d.moved) { w.__mvG.live = {}; refresh(); return; }
    w.__mvG.fresh = false;
    w.__mvG.send('gesture', { kind: 'wl', unit: w.__mvG.data.unit, slot: parseInt(d.p.slot, 10),
                              ww: d.ww, wl: d.wl });
  }, true);
  w.addEventListener('mouseup', (e) => { if (e.button === 2 && inViewer(e)) stop(e); }, true);

  const step = (p, delta) => {
    const x = info(p.slot);
    if (!x || x.frames <= 1) return false;
    const live = w.__mvG.live || (w.__mvG.live = {});
    const cur = (live[p.slot] && live[p.slot].frame) || x.frame;
    const f = Math.min(Math.max(cur + delta, 1), x.frames);
    live[p.slot] = { ...(live[p.slot] || {}), frame: f };
    refresh();
    clearTimeout(frameTimer);
    frameTimer = setTimeout(() => {                             // a burst of steps -> one rerun
      if (f !== x.frame) {
        w.__mvG.send('gesture', { kind: 'frame', unit: w.__mvG.data.unit, slot: parseInt(p.slot, 10), frame: f });
      }
    }, FRAME_WAIT_MS);
    return true;
  };
  w.addEventListener('wheel', (e) => {
    if (!e.shiftKey) return;                                   // plain wheel: plotly's zoom
    const gd = inViewer(e);
    const p = gd && panelAt(gd, e.clientX, e.clientY);
    if (!p) return;
    const d = e.deltaY || e.deltaX;
    if (d && step(p, d > 0 ? 1 : -1)) stop(e);
  }, { capture: true, passive: false });

  const typing = (el) => el && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.isContentEditable);
  const quickTag = (el) => el && el.tagName === 'BUTTON' && /^[\u2610\u2611]/.test((el.innerText || '').trim());
  doc.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(doc.activeElement)) return;
    const a = doc.activeElement;
    if (e.key === 'Tab' && !e.shiftKey && (!a || a === doc.body || quickTag(a))) {
      const ta = doc.querySelector("textarea[aria-label='Rationale']");
      if (ta) { stop(e); ta.focus(); ta.scrollIntoView({ block: 'center' }); }
      return;
    }
    const keys = { ArrowDown: 1, ArrowUp: -1, PageDown: 10, PageUp: -10 };
    if (!(e.key in keys) || !hover) return;
    const x = info(hover.slot);
    if (!x || x.frames <= 1) return;
    const n = Math.abs(keys[e.key]) === 10 ? Math.max(1, Math.round(x.frames / 10)) : 1;
    if (step(hover, Math.sign(keys[e.key]) * n)) stop(e);
  }, true);
  w.addEventListener('resize', () => w.__mvG.refresh && w.__mvG.refresh());
  // plotly redraws (a new figure after a rerun) drop the label nodes and swap the image: follow it cheaply
  setInterval(() => {
    if (drag) return;
    const gd = graph();
    if (!gd) return;
    for (const p of panels(gd)) {
      const src = p.img && (p.img.getAttribute('href') || '');
      const stale = p.img && p.img.__mvSrc && p.img.__mvSrc !== src;
      if (p.img && p.img.style.filter && (stale || (w.__mvG.fresh && Date.now() > w.__mvG.clearAt))) {
        p.img.style.filter = '';
      }
      if (p.img) p.img.__mvSrc = src;
    }
    w.__mvG.refresh && w.__mvG.refresh();
  }, 300);
  refreshSoon();
}
