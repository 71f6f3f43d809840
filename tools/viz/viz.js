/*
 * genet-viz: animate a genet-rt growth trace (docs/TRACE.md) on a canvas.
 *
 * The trace's records are deltas; build() replays them into frames (one per
 * record: the start graph, then every step record) plus, per group slot, the
 * frame it appeared in, and per edge slot the history of its (src, dst).
 *
 * Layout, computed once so that a group never moves: columns are
 * longest-path depths from the input in the final graph (input in column 0
 * at the left, output in the last column at the right). Growth only inserts
 * groups on existing paths or beside existing groups, so every edge of every
 * earlier frame also goes left to right. Rows: R = the most groups any
 * column ends with; the start graph sits centred, and each new group, in
 * order of birth, takes the free row of its column nearest its parent's row
 * (a depthwise copy continues its parent's row, a widthwise one lands just
 * beside it).
 *
 * Drawing (Canvas 2D): old edges in one path, new or moved edges on top in
 * the accent colour, groups coloured by log10 of their gradient std
 * (viridis, range from the whole run), a red ring for marked groups, a halo
 * that fades over a few frames for new ones.
 *
 * URL fragment (for screenshots and tests): #frame=K (K, "last" or -1),
 * #step=S (the last frame at or before step S), view=net (the network
 * only), strip=N (N frames side by side), play. The page writes the frame,
 * step and number of groups drawn into <output id="status"> and the title.
 * window.genetViz = {frames, groups, seek(i), play(), pause(), drawnGroups()}.
 */
(function () {
    'use strict';

    var VIRIDIS = [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
                   [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]];
    var ACCENT = '#ff7a1a', MARK = '#d62839', EDGE = 'rgba(40, 50, 70, 0.22)';
    var FADE = 4; /* frames a new group or edge stays highlighted */

    /* ---- the trace, replayed ------------------------------------------ */

    /*
     * Groups and edges get the page's own ids: a group's slot in the trace
     * until pruning renames slots (docs/TRACE.md), so without pruning an id
     * is the slot. A record that pruned ends the removed groups (`gone`),
     * moves the survivors' slots to their new names, ends every edge and
     * reads the whole graph again (edges under fresh ids, not highlighted).
     */
    function build(recs) {
        var start = recs[0];
        var groups = [], edges = [], frames = [], epochs = [], end = null, order = [];
        var slotG = [], edgeBase = 0, edgeTop = 0, pruned = 0;
        function gid(s) { return s >= 0 && slotG[s] !== undefined ? slotG[s] : -1; }
        function addFrame(r) {
            var f = frames.length, fresh = [], moved = [], prunedNow = !!r.pruned_groups;
            if (prunedNow) {
                var gone = {}, to = {}, next = [];
                r.pruned_groups.forEach(function (sl) {
                    gone[sl] = 1;
                    if (gid(sl) >= 0) groups[gid(sl)].gone = f;
                });
                (r.renamed || []).forEach(function (m) { to[m[0]] = m[1]; });
                slotG.forEach(function (id, sl) {
                    if (id === undefined || gone[sl]) return;
                    next[sl in to ? to[sl] : sl] = id;
                });
                slotG = next;
                edges.forEach(function (h) {
                    if (h.length && h[h.length - 1][1] >= 0) h.push([f, -1, -1]);
                });
                edgeBase = edgeTop;
                pruned += r.pruned_groups.length;
            }
            (r.new_groups || []).forEach(function (g) {
                if (prunedNow && gid(g.id) >= 0) return; /* a survivor, listed again */
                var id = prunedNow || pruned ? groups.length : g.id;
                groups[id] = {id: id, kind: g.kind, width: g.width, parent: gid(g.parent),
                              dup: g.dup, born: g.born, frame: f, layer: 0, x: 0, y: 0};
                slotG[g.id] = id;
                fresh.push(id);
            });
            (r.new_edges || []).concat(r.moved_edges || []).forEach(function (e) {
                var id = edgeBase + e[0];
                edgeTop = Math.max(edgeTop, id + 1);
                /* a pruning record's edges are the old ones renamed: not fresh */
                (edges[id] = edges[id] || []).push([f, gid(e[1]), gid(e[2]), prunedNow]);
                if (!prunedNow) moved.push(id);
            });
            if (r.order) order = r.order.map(gid);
            var grad = [];
            (r.grad || []).forEach(function (v, sl) { if (gid(sl) >= 0) grad[gid(sl)] = v; });
            frames.push({
                index: f, step: r.step, epoch: r.epoch || 0,
                loss: r.type === 'step' ? r.loss : null, acc: r.type === 'step' ? r.acc : null,
                hidden: r.hidden, edges: r.edges, duplications: r.duplications,
                refused: r.refused, pruned: r.pruned || 0, prunedNow: prunedNow ? r.pruned_groups.length : 0,
                grad: grad, marked: (r.marked || []).map(gid),
                events: (r.events || []).map(function (e) {
                    return {parent: gid(e.parent), child: gid(e.child), kind: e.kind, grad_std: e.grad_std};
                }),
                newGroups: fresh, changedEdges: moved, slots: groups.length
            });
        }
        recs.forEach(function (r) {
            if (r.type === 'start' || r.type === 'step') addFrame(r);
            else if (r.type === 'epoch') epochs.push(r);
            else if (r.type === 'end') end = r;
        });
        return {start: start, groups: groups, edges: edges, frames: frames, epochs: epochs,
                end: end, order: order, startOrder: (start.order || []).map(function (sl) { return sl; })};
    }

    /* A group drawn at frame f: born by then and not pruned yet. */
    function alive(gr, f) {
        return gr && gr.frame <= f && !(gr.gone <= f);
    }

    /* The (src, dst) of edge slot e at frame f, or null. */
    function edgeAt(hist, f) {
        if (!hist || hist[0][0] > f) return null;
        var i = hist.length - 1;
        while (hist[i][0] > f) i--;
        return hist[i];
    }

    function layout(T) {
        var G = T.groups, n = G.length, last = T.frames.length - 1;
        var succ = [], indeg = [], i;
        for (i = 0; i < n; i++) { succ.push([]); indeg.push(0); }
        T.edges.forEach(function (hist) {
            var e = edgeAt(hist, last);
            if (!e || !G[e[1]] || !G[e[2]]) return;
            succ[e[1]].push(e[2]);
            indeg[e[2]]++;
        });
        /* longest path from the input, in topological (Kahn) order */
        var depth = new Array(n).fill(0), queue = [];
        for (i = 0; i < n; i++) if (G[i] && indeg[i] === 0) queue.push(i);
        for (var q = 0; q < queue.length; q++) {
            var g = queue[q];
            succ[g].forEach(function (s) {
                depth[s] = Math.max(depth[s], depth[g] + 1);
                if (--indeg[s] === 0) queue.push(s);
            });
        }
        var L = 1;
        for (i = 0; i < n; i++) if (G[i] && G[i].kind === 'hidden') L = Math.max(L, depth[i] + 1);
        var size = [];
        for (i = 0; i <= L; i++) size.push(0);
        for (i = 0; i < n; i++) {
            if (!G[i]) continue;
            G[i].layer = G[i].kind === 'input' ? 0 : G[i].kind === 'output' ? L : Math.max(1, depth[i]);
            size[G[i].layer]++;
        }
        var R = 1;
        for (i = 1; i < L; i++) R = Math.max(R, size[i]);
        /* rows: the start graph centred in each layer, then every new group
         * on the free row nearest its parent's (a layer never holds more
         * than R groups, so one is always free) */
        var used = [];
        for (i = 0; i <= L; i++) used.push(new Uint8Array(R));
        function take(layer, want) {
            for (var d = 0; d < R; d++) {
                var c = [want + d, want - d];
                for (var k = 0; k < 2; k++) {
                    if (c[k] >= 0 && c[k] < R && !used[layer][c[k]]) {
                        used[layer][c[k]] = 1;
                        return c[k];
                    }
                }
            }
            return 0;
        }
        var start = {}, placed = {};
        T.startOrder.forEach(function (g) {
            if (G[g] && G[g].kind === 'hidden' && G[g].frame === 0)
                (start[G[g].layer] = start[G[g].layer] || []).push(g);
        });
        Object.keys(start).forEach(function (ly) {
            var row0 = Math.floor((R - start[ly].length) / 2);
            start[ly].forEach(function (g, k) { G[g].row = take(+ly, row0 + k); placed[g] = 1; });
        });
        var born = [];
        for (i = 0; i < n; i++) if (G[i] && G[i].kind === 'hidden' && !placed[i]) born.push(i);
        born.sort(function (a, b) { return G[a].frame - G[b].frame || a - b; });
        born.forEach(function (g) {
            var p = G[G[g].parent];
            var want = p && p.kind === 'hidden' && p.row !== undefined ? p.row : Math.floor(R / 2);
            G[g].row = take(G[g].layer, want);
        });
        for (i = 0; i < n; i++) {
            if (!G[i]) continue;
            G[i].x = G[i].layer / L;
            G[i].y = G[i].kind === 'hidden' ? (G[i].row + 0.5) / R : 0.5;
        }
        return {layers: L, maxRows: R};
    }

    /* ---- colours ------------------------------------------------------- */

    /* The statistic that marks a group, where it is one number: the std
     * criterion's threshold (traces without a criterion grew by std); the
     * relative criterion's moves with the median every check. */
    function absThreshold() {
        return T.start.grow_criterion === 'relative' ? 0 : T.start.grow_threshold;
    }

    function gradRange(T) {
        var v = [];
        T.frames.forEach(function (fr) {
            fr.grad.forEach(function (x, g) {
                if (x > 0 && T.groups[g] && T.groups[g].kind === 'hidden') v.push(Math.log10(x));
            });
        });
        var thr = absThreshold() > 0 ? Math.log10(absThreshold()) : null;
        if (!v.length) return {lo: thr === null ? -4 : thr - 1, hi: thr === null ? 0 : thr + 1};
        v.sort(function (a, b) { return a - b; });
        var lo = v[Math.floor(v.length * 0.02)], hi = v[Math.floor(v.length * 0.98)];
        if (thr !== null) { lo = Math.min(lo, thr); hi = Math.max(hi, thr); }
        if (hi - lo < 0.5) { lo -= 0.25; hi += 0.25; }
        return {lo: lo, hi: hi};
    }

    function viridis(t) {
        t = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1);
        var i = Math.min(VIRIDIS.length - 2, Math.floor(t)), u = t - i;
        var a = VIRIDIS[i], b = VIRIDIS[i + 1];
        return 'rgb(' + Math.round(a[0] + (b[0] - a[0]) * u) + ',' +
               Math.round(a[1] + (b[1] - a[1]) * u) + ',' + Math.round(a[2] + (b[2] - a[2]) * u) + ')';
    }

    var LUT = [];
    for (var k = 0; k < 256; k++) LUT.push(viridis(k / 255));

    /* ---- formatting ---------------------------------------------------- */

    function fmtInt(n) { return n === null || n === undefined ? '-' : Number(n).toLocaleString('en-US'); }
    function fmtNum(x, d) {
        if (x === null || x === undefined || !isFinite(x)) return '-';
        if (x !== 0 && Math.abs(x) < 1e-3) return x.toExponential(2);
        return x.toFixed(d);
    }
    function esc(s) {
        return String(s).replace(/[&<>"]/g, function (c) {
            return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c];
        });
    }

    /* ---- the page ------------------------------------------------------ */

    var recs = JSON.parse(document.getElementById('genet-trace').textContent);
    var T = build(recs);
    var shape = layout(T);
    var range = gradRange(T);
    var S = T.start;
    var lastFrame = T.frames.length - 1;
    var maxStep = Math.max(1, T.frames[lastFrame].step, S.steps_total || 0);

    var $ = function (id) { return document.getElementById(id); };
    var net = $('net'), charts = $('charts'), scrub = $('scrub'), status = $('status');
    var state = {frame: 0, playing: false, timer: null, mode: 'full', strip: 0, drawn: 0,
                 drawnEdges: 0, hits: [], dpr: 1};

    $('meta').textContent = S.backend + ' backend \u00b7 ' + S.inputs + ' inputs \u2192 ' +
        S.classes + ' classes \u00b7 groups of ' + S.group_size + ' \u00b7 growth ' + S.grow +
        (S.grow_criterion === 'relative' ? ', above ' + S.grow_ratio + '\u00d7 the median'
                                         : ', threshold ' + S.grow_threshold) +
        ', every ' + S.grow_every + ' steps \u00b7 ' +
        fmtInt(T.frames[lastFrame].step) + ' steps, ' + T.frames.length + ' frames';
    scrub.max = String(lastFrame);

    function sizeCanvas(c) {
        var r = c.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
        var w = Math.max(1, Math.round(r.width * dpr)), h = Math.max(1, Math.round(r.height * dpr));
        if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
        var ctx = c.getContext('2d');
        ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
        return {ctx: ctx, w: r.width, h: r.height};
    }

    /* Draw frame f of the network into the box (x0, y0, w, h); returns the
     * number of groups drawn. hits (optional) collects [x, y, r, slot]. */
    function drawNet(ctx, f, x0, y0, w, h, hits) {
        var fr = T.frames[f], G = T.groups;
        var padL = Math.max(26, Math.min(56, w * 0.06)), padR = padL;
        var padT = Math.max(22, h * 0.06), padB = Math.max(16, h * 0.05);
        var pw = w - padL - padR, ph = h - padT - padB;
        var colW = pw / Math.max(1, shape.layers);
        var r = Math.max(1.6, Math.min(9, 0.36 * ph / shape.maxRows, 0.22 * colW));
        var barW = Math.max(5, Math.min(12, r * 1.4)), barH = ph * 0.86;
        function X(g) { return x0 + padL + G[g].x * pw; }
        function Y(g) { return y0 + padT + G[g].y * ph; }
        var barTop = y0 + padT + (ph - barH) / 2;
        function endY(g, other) {
            if (G[g].kind === 'hidden') return Y(g);
            return Math.max(barTop + 3, Math.min(barTop + barH - 3, Y(other)));
        }
        function endX(g, out) {
            if (G[g].kind === 'input') return X(g) + barW / 2;
            if (G[g].kind === 'output') return X(g) - barW / 2;
            return X(g) + (out ? r : -r);
        }
        function curve(s, d) {
            var xs = endX(s, true), ys = endY(s, d), xd = endX(d, false), yd = endY(d, s);
            var m = (xd - xs) * 0.45;
            ctx.moveTo(xs, ys);
            ctx.bezierCurveTo(xs + m, ys, xd - m, yd, xd, yd);
        }
        /* edges: old ones in one path, fresh ones on top */
        var fresh = [], nEdges = 0;
        ctx.lineWidth = Math.max(0.6, Math.min(1.4, r / 4));
        ctx.strokeStyle = EDGE;
        ctx.beginPath();
        T.edges.forEach(function (hist) {
            var e = edgeAt(hist, f);
            if (!e || !G[e[1]] || !G[e[2]]) return;
            nEdges++;
            if (f - e[0] < FADE && f > 0 && !e[3]) fresh.push(e);
            else curve(e[1], e[2]);
        });
        ctx.stroke();
        fresh.forEach(function (e) {
            ctx.globalAlpha = 1 - (f - e[0]) / FADE;
            ctx.strokeStyle = ACCENT;
            ctx.lineWidth = Math.max(1.2, Math.min(2.5, r / 2.5));
            ctx.beginPath();
            curve(e[1], e[2]);
            ctx.stroke();
        });
        ctx.globalAlpha = 1;
        state.drawnEdges = nEdges;

        var marked = {};
        fr.marked.forEach(function (g) { marked[g] = 1; });
        var drawn = 0;
        /* halos of new groups */
        for (var g = 0; g < G.length; g++) {
            var gr = G[g];
            if (!alive(gr, f) || gr.kind !== 'hidden' || f === 0 || f - gr.frame >= FADE) continue;
            ctx.globalAlpha = 0.55 * (1 - (f - gr.frame) / FADE);
            ctx.fillStyle = ACCENT;
            ctx.beginPath();
            ctx.arc(X(g), Y(g), r * 2.1 + 2, 0, 2 * Math.PI);
            ctx.fill();
        }
        ctx.globalAlpha = 1;
        /* groups */
        ctx.font = '600 ' + Math.max(10, Math.min(13, h / 40)) + 'px system-ui, sans-serif';
        for (g = 0; g < G.length; g++) {
            gr = G[g];
            if (!alive(gr, f)) continue;
            drawn++;
            var x = X(g), y = Y(g);
            if (gr.kind !== 'hidden') {
                ctx.fillStyle = '#39414f';
                ctx.beginPath();
                if (ctx.roundRect) ctx.roundRect(x - barW / 2, barTop, barW, barH, barW / 2);
                else ctx.rect(x - barW / 2, barTop, barW, barH);
                ctx.fill();
                ctx.save();
                ctx.translate(gr.kind === 'input' ? x - barW / 2 - 4 : x + barW / 2 + 4, barTop + barH / 2);
                ctx.rotate(gr.kind === 'input' ? -Math.PI / 2 : Math.PI / 2);
                ctx.textAlign = 'center';
                ctx.textBaseline = 'bottom';
                ctx.fillText((gr.kind === 'input' ? 'input \u00b7 ' : 'output \u00b7 ') + gr.width +
                             (gr.kind === 'input' ? ' features' : ' classes'), 0, 0);
                ctx.restore();
                if (hits) hits.push([x, barTop + barH / 2, barW / 2 + 3, g, barH / 2]);
                continue;
            }
            var v = fr.grad[g];
            var t = v > 0 ? (Math.log10(v) - range.lo) / (range.hi - range.lo) : -1;
            ctx.fillStyle = t < 0 && !(v > 0) ? '#b9bec8' : LUT[Math.max(0, Math.min(255, Math.round(t * 255)))];
            ctx.beginPath();
            ctx.arc(x, y, r, 0, 2 * Math.PI);
            ctx.fill();
            if (marked[g]) {
                ctx.strokeStyle = MARK;
                ctx.lineWidth = Math.max(1.2, r / 3);
                ctx.beginPath();
                ctx.arc(x, y, r + ctx.lineWidth * 0.9, 0, 2 * Math.PI);
                ctx.stroke();
            }
            if (hits) hits.push([x, y, r, g]);
        }
        return drawn;
    }

    function caption(ctx, f, x, y, size) {
        var fr = T.frames[f];
        ctx.fillStyle = '#1d2330';
        ctx.textAlign = 'left';
        ctx.textBaseline = 'top';
        ctx.font = '650 ' + size + 'px system-ui, sans-serif';
        var s = 'step ' + fmtInt(fr.step) + ' \u00b7 ' + fmtInt(fr.hidden) + ' hidden group' +
                (fr.hidden === 1 ? '' : 's');
        ctx.fillText(s, x, y);
        return ctx.measureText(s).width;
    }

    /* "marked" and "new" keys for the still picture (the page has its own) */
    function legendKeys(ctx, x, y) {
        ctx.font = '12px system-ui, sans-serif';
        ctx.textAlign = 'left';
        ctx.textBaseline = 'middle';
        ctx.strokeStyle = MARK;
        ctx.lineWidth = 2;
        ctx.beginPath();
        ctx.arc(x + 6, y, 5.5, 0, 2 * Math.PI);
        ctx.stroke();
        ctx.fillStyle = '#6a7282';
        ctx.fillText('marked', x + 16, y);
        x += 16 + ctx.measureText('marked').width + 18;
        ctx.fillStyle = 'rgba(255, 122, 26, 0.55)';
        ctx.beginPath();
        ctx.arc(x + 6, y, 6, 0, 2 * Math.PI);
        ctx.fill();
        ctx.fillStyle = '#6a7282';
        ctx.fillText('new', x + 16, y);
    }

    function drawColorbar(ctx, x, y, w, h, labels) {
        for (var i = 0; i < w; i++) {
            ctx.fillStyle = viridis(i / Math.max(1, w - 1));
            ctx.fillRect(x + i, y, 1.5, h);
        }
        var thr = absThreshold();
        ctx.font = '11px system-ui, sans-serif';
        ctx.fillStyle = '#6a7282';
        ctx.textBaseline = 'top';
        if (labels) {
            ctx.textAlign = 'left';
            ctx.fillText(Math.pow(10, range.lo).toExponential(0), x, y + h + 2);
            ctx.textAlign = 'right';
            ctx.fillText(Math.pow(10, range.hi).toExponential(0), x + w, y + h + 2);
        }
        if (thr > 0) {
            var tx = x + w * (Math.log10(thr) - range.lo) / (range.hi - range.lo);
            ctx.fillStyle = MARK;
            ctx.fillRect(tx - 1, y - 3, 2, h + 6);
            if (labels) {
                ctx.textAlign = 'center';
                ctx.fillText('threshold ' + thr, Math.max(x + 40, Math.min(x + w - 40, tx)), y + h + 2);
            }
        }
    }

    /* Loss, accuracy (train and test) and hidden groups against the step,
     * with the cursor at the current frame. */
    function drawCharts(f) {
        var c = sizeCanvas(charts), ctx = c.ctx, W = c.w, H = c.h;
        ctx.clearRect(0, 0, W, H);
        var step = T.frames[f].step;
        var pts = T.frames.filter(function (fr) { return fr.loss !== null; });
        var panels = [
            {name: 'training loss', get: function (fr) { return fr.loss; }, log: true},
            {name: 'training accuracy', get: function (fr) { return fr.acc; }, lo: 0, hi: 1,
             test: T.epochs.filter(function (e) { return e.test_acc !== null && e.test_acc !== undefined; })},
            {name: 'hidden groups', get: function (fr) { return fr.hidden; }, lo: 0, all: true}
        ];
        var ph = H / panels.length, padL = 40, padR = 10;
        panels.forEach(function (p, k) {
            var top = k * ph + 18, bot = (k + 1) * ph - 14, pw = W - padL - padR;
            var data = (p.all ? T.frames : pts).map(function (fr) { return [fr.step, p.get(fr)]; })
                .filter(function (d) { return d[1] !== null && isFinite(d[1]); });
            var lo = p.lo, hi = p.hi;
            var vals = data.map(function (d) { return d[1]; });
            var useLog = p.log && vals.length && Math.min.apply(null, vals) > 0 &&
                         Math.max.apply(null, vals) / Math.min.apply(null, vals) > 30;
            var tf = useLog ? function (v) { return Math.log10(v); } : function (v) { return v; };
            if (lo === undefined) lo = vals.length ? Math.min.apply(null, vals.map(tf)) : 0;
            else lo = tf(lo);
            if (hi === undefined) hi = vals.length ? Math.max.apply(null, vals.map(tf)) : 1;
            else hi = tf(hi);
            if (hi - lo < 1e-9) { hi = lo + 1; }
            var X = function (s) { return padL + pw * s / maxStep; };
            var Y = function (v) { return bot - (bot - top) * (tf(v) - lo) / (hi - lo); };
            ctx.fillStyle = '#1d2330';
            ctx.font = '600 12px system-ui, sans-serif';
            ctx.textAlign = 'left';
            ctx.textBaseline = 'bottom';
            ctx.fillText(p.name + (useLog ? ' (log)' : ''), padL, top - 3);
            var cur = null;
            data.forEach(function (d) { if (d[0] <= step) cur = d[1]; });
            ctx.textAlign = 'right';
            ctx.fillStyle = '#6a7282';
            ctx.font = '12px system-ui, sans-serif';
            if (cur !== null) ctx.fillText(p.all ? fmtInt(cur) : fmtNum(cur, 4), W - padR, top - 3);
            ctx.strokeStyle = '#e3e5ea';
            ctx.lineWidth = 1;
            ctx.strokeRect(padL, top, pw, bot - top);
            ctx.fillStyle = '#6a7282';
            ctx.font = '10px system-ui, sans-serif';
            ctx.textBaseline = 'middle';
            var tick = function (v) {
                if (useLog) { v = Math.pow(10, v); return v < 0.01 ? v.toExponential(0) : v.toPrecision(2); }
                return p.all ? String(Math.round(v)) : v.toFixed(2);
            };
            ctx.fillText(tick(hi), padL - 4, top);
            ctx.fillText(tick(lo), padL - 4, bot);
            /* the whole curve faint, the part up to the cursor strong */
            [[false, 'rgba(90, 100, 120, 0.25)'], [true, '#2c6fbb']].forEach(function (pass) {
                ctx.strokeStyle = pass[1];
                ctx.lineWidth = pass[0] ? 1.6 : 1;
                ctx.beginPath();
                var started = false;
                data.forEach(function (d) {
                    if (pass[0] && d[0] > step) return;
                    var yy = Y(Math.max(d[1], useLog ? Math.pow(10, lo) : -Infinity));
                    if (!started) { ctx.moveTo(X(d[0]), yy); started = true; }
                    else ctx.lineTo(X(d[0]), yy);
                });
                ctx.stroke();
            });
            (p.test || []).forEach(function (e) {
                ctx.fillStyle = e.step <= step ? ACCENT : 'rgba(255, 122, 26, 0.3)';
                ctx.beginPath();
                ctx.arc(X(e.step), Y(e.test_acc), 3, 0, 2 * Math.PI);
                ctx.fill();
            });
            if (p.test && p.test.length) {
                ctx.fillStyle = ACCENT;
                ctx.textAlign = 'left';
                ctx.fillText('\u25cf test', padL + 4, bot - 8);
            }
            ctx.strokeStyle = ACCENT;
            ctx.lineWidth = 1;
            ctx.beginPath();
            ctx.moveTo(X(step), top);
            ctx.lineTo(X(step), bot);
            ctx.stroke();
        });
        ctx.fillStyle = '#6a7282';
        ctx.textAlign = 'center';
        ctx.textBaseline = 'bottom';
        ctx.fillText('step', padL + (W - padL - padR) / 2, H - 1);
    }

    function describeGroup(g) {
        var gr = T.groups[g], fr = T.frames[state.frame];
        if (gr.kind !== 'hidden') return gr.kind + ' \u00b7 ' + gr.width + ' units';
        var s = 'group #' + g + ' \u00b7 ' + gr.width + ' units';
        s += gr.parent >= 0 ? ' \u00b7 ' + gr.dup + ' copy of #' + gr.parent + ' at step ' + fmtInt(gr.born)
                            : ' \u00b7 start graph';
        s += ' \u00b7 grad std ' + fmtNum(fr.grad[g], 5);
        if (fr.marked.indexOf(g) >= 0) s += ' (marked)';
        return s;
    }

    function updateInfo(f) {
        var fr = T.frames[f];
        var test = null;
        T.epochs.forEach(function (e) { if (e.step <= fr.step && e.test_acc !== null) test = e.test_acc; });
        $('info').innerHTML =
            '<div class="big">step ' + fmtInt(fr.step) + ' <span style="font-weight:400;color:var(--muted);font-size:13px">/ ' +
            fmtInt(maxStep) + '</span></div>' +
            '<div class="row"><span>epoch</span><span>' + (fr.epoch + 1) + '</span></div>' +
            '<div class="row"><span>hidden groups</span><span>' + fmtInt(fr.hidden) + '</span></div>' +
            '<div class="row"><span>edges</span><span>' + fmtInt(fr.edges) + '</span></div>' +
            '<div class="row"><span>duplications (refused)</span><span>' + fmtInt(fr.duplications) +
            ' (' + fmtInt(fr.refused) + ')</span></div>' +
            (fr.pruned ? '<div class="row"><span>pruned</span><span>' + fmtInt(fr.pruned) + '</span></div>' : '') +
            '<div class="row"><span>marked now</span><span>' + fmtInt(fr.marked.length) + '</span></div>' +
            '<div class="row"><span>loss \u00b7 accuracy</span><span>' + fmtNum(fr.loss, 4) + ' \u00b7 ' +
            fmtNum(fr.acc, 4) + '</span></div>' +
            '<div class="row"><span>test accuracy</span><span>' + fmtNum(test, 4) + '</span></div>';
        var ev = [], prev = f > 0 ? T.frames[f - 1] : null;
        if (f > 0) {
            var measured = {};
            fr.events.forEach(function (e) { measured[e.child] = e.grad_std; });
            fr.newGroups.forEach(function (g) {
                var gr = T.groups[g];
                var gs = g in measured ? measured[g] : fr.grad[gr.parent];
                ev.push('<b>+#' + g + '</b> ' + esc(gr.dup || 'new') + ' copy of #' + gr.parent +
                        ' (grad std ' + fmtNum(gs, 4) + ')');
            });
        }
        if (ev.length > 12) ev.splice(12, ev.length - 12, '\u2026 and ' + (ev.length - 12) + ' more');
        var refused = prev ? fr.refused - prev.refused : 0;
        if (refused > 0) ev.push(fmtInt(refused) + ' duplication' + (refused === 1 ? '' : 's') +
                                 ' refused: a pool is full');
        var lastGrowth = null;
        for (var k = f - 1; k > 0 && lastGrowth === null; k--)
            if (T.frames[k].newGroups.length) lastGrowth = T.frames[k];
        $('events').innerHTML = ev.length ? '<div>growth at step ' + fmtInt(fr.step) + ':</div>' + ev.join('<br>')
            : 'no growth at this step' + (lastGrowth ? ' (last: step ' + fmtInt(lastGrowth.step) + ', +' +
              lastGrowth.newGroups.length + ' group' + (lastGrowth.newGroups.length === 1 ? ')' : 's)') : '');
    }

    function publish(f) {
        var fr = T.frames[f];
        status.value = state.drawn + ' groups drawn';
        status.setAttribute('data-frame', f);
        status.setAttribute('data-frames', T.frames.length);
        status.setAttribute('data-step', fr.step);
        status.setAttribute('data-hidden', fr.hidden);
        status.setAttribute('data-drawn', state.drawn);
        status.setAttribute('data-drawn-edges', state.drawnEdges);
        document.title = 'genet-viz \u00b7 frame ' + f + '/' + lastFrame + ' \u00b7 step ' + fr.step +
                         ' \u00b7 ' + state.drawn + ' groups drawn';
    }

    function render() {
        var f = state.frame;
        var c = sizeCanvas(net), ctx = c.ctx;
        ctx.clearRect(0, 0, c.w, c.h);
        ctx.fillStyle = '#ffffff';
        ctx.fillRect(0, 0, c.w, c.h);
        state.hits = [];
        if (state.mode === 'strip') {
            var n = Math.max(1, Math.min(state.strip, T.frames.length)), pw = c.w / n;
            for (var i = 0; i < n; i++) {
                var fi = n === 1 ? lastFrame : Math.round(i * lastFrame / (n - 1));
                state.drawn = drawNet(ctx, fi, i * pw, 16, pw, c.h - 16, null);
                caption(ctx, fi, i * pw + 10, 6, Math.max(11, Math.min(15, pw / 22)));
                if (i > 0) {
                    ctx.fillStyle = '#e3e5ea';
                    ctx.fillRect(i * pw, 8, 1, c.h - 16);
                }
            }
            state.frame = lastFrame;
            publish(lastFrame);
            return;
        }
        state.drawn = drawNet(ctx, f, 0, 8, c.w, c.h - 8, state.hits);
        if (state.mode === 'net') {
            var cw = caption(ctx, f, 14, 10, 15), bx = Math.max(cw + 300, c.w - 250);
            legendKeys(ctx, cw + 40, 18);
            ctx.font = '12px system-ui, sans-serif';
            ctx.fillStyle = '#6a7282';
            ctx.textAlign = 'right';
            ctx.textBaseline = 'top';
            ctx.fillText('gradient std', bx - 10, 11);
            drawColorbar(ctx, bx, 14, 200, 9, true);
        }
        if (state.mode === 'full') {
            drawCharts(f);
            updateInfo(f);
            scrub.value = String(f);
            $('frame-label').textContent = 'frame ' + f + ' / ' + lastFrame;
            $('play').textContent = state.playing ? 'pause' : 'play';
            var cb = sizeCanvas($('colorbar'));
            cb.ctx.clearRect(0, 0, cb.w, cb.h);
            drawColorbar(cb.ctx, 2, 4, cb.w - 4, 8, true);
        }
        publish(f);
    }

    function seek(i) {
        var f = Math.max(0, Math.min(lastFrame, Math.round(Number(i) || 0)));
        state.frame = f;
        render();
        return state.drawn;
    }

    function tick() {
        if (!state.playing) return;
        if (state.frame >= lastFrame) { pause(); return; }
        seek(state.frame + 1);
        state.timer = setTimeout(tick, 1000 / Number($('speed').value));
    }
    function play() {
        if (state.playing) return;
        if (state.frame >= lastFrame) state.frame = 0;
        state.playing = true;
        render();
        state.timer = setTimeout(tick, 1000 / Number($('speed').value));
    }
    function pause() {
        var was = state.playing;
        state.playing = false;
        clearTimeout(state.timer);
        if (was) render();
    }

    $('play').onclick = function () { if (state.playing) pause(); else play(); };
    $('first').onclick = function () { pause(); seek(0); };
    $('last').onclick = function () { pause(); seek(lastFrame); };
    $('prev').onclick = function () { pause(); seek(state.frame - 1); };
    $('next').onclick = function () { pause(); seek(state.frame + 1); };
    scrub.oninput = function () { var f = scrub.value; pause(); seek(f); };
    document.addEventListener('keydown', function (e) {
        if (e.target.tagName === 'SELECT') return;
        if (e.key === ' ') { e.preventDefault(); $('play').onclick(); }
        else if (e.key === 'ArrowLeft') $('prev').onclick();
        else if (e.key === 'ArrowRight') $('next').onclick();
        else if (e.key === 'Home') $('first').onclick();
        else if (e.key === 'End') $('last').onclick();
    });
    net.addEventListener('mousemove', function (e) {
        var r = net.getBoundingClientRect(), x = e.clientX - r.left, y = e.clientY - r.top;
        var best = null, bd = Infinity;
        state.hits.forEach(function (h) {
            /* groups: a circle of radius h[2]; the input and output: a bar
             * h[2] wide and h[4] high (half sizes) */
            var d = h.length > 4 ? (Math.abs(h[0] - x) <= h[2] && Math.abs(h[1] - y) <= h[4] ? Math.abs(h[0] - x) : Infinity)
                                 : Math.hypot(h[0] - x, h[1] - y);
            if (d < Math.max(h[2] + 4, 6) && d < bd) { bd = d; best = h; }
        });
        var tip = $('tip');
        if (!best) { tip.style.display = 'none'; return; }
        tip.textContent = describeGroup(best[3]);
        tip.style.display = 'block';
        tip.style.left = Math.min(x + 14, r.width - tip.offsetWidth - 4) + 'px';
        tip.style.top = (y + 14) + 'px';
    });
    net.addEventListener('mouseleave', function () { $('tip').style.display = 'none'; });
    window.addEventListener('resize', render);

    /* #frame=K | #step=S, view=net, strip=N, play */
    function applyHash() {
        var h = {}, autoplay = !location.hash;
        location.hash.replace(/^#/, '').split('&').forEach(function (kv) {
            if (!kv) return;
            var p = kv.split('=');
            h[decodeURIComponent(p[0])] = p.length > 1 ? decodeURIComponent(p[1]) : '';
        });
        state.mode = h.strip ? 'strip' : h.view === 'net' ? 'net' : 'full';
        state.strip = Number(h.strip) || 0;
        document.body.classList.toggle('still', state.mode !== 'full');
        var f = 0;
        if (h.frame !== undefined) f = h.frame === 'last' || Number(h.frame) < 0 ? lastFrame : Number(h.frame);
        else if (h.step !== undefined) {
            T.frames.forEach(function (fr, i) { if (fr.step <= Number(h.step)) f = i; });
        }
        state.playing = false;
        clearTimeout(state.timer);
        seek(f);
        if (autoplay || h.play !== undefined) play();
    }
    window.addEventListener('hashchange', applyHash);

    window.genetViz = {
        frames: T.frames, groups: T.groups, epochs: T.epochs, start: S, end: T.end,
        seek: seek, play: play, pause: pause,
        frame: function () { return state.frame; },
        drawnGroups: function () { return state.drawn; },
        drawnEdges: function () { return state.drawnEdges; }
    };
    applyHash();
})();
