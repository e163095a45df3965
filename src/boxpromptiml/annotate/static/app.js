// boxprompt annotate: draw manipulation boxes on a canvas; every change is saved at once.
// Boxes are kept in original image pixels, XYXY, as in the COCO file.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token");
const HANDLE = 7; // corner grab radius in screen pixels
const MIN_BOX = 2; // boxes smaller than this (image pixels) are discarded

const canvas = document.getElementById("view");
const ctx = canvas.getContext("2d");
const S = {
  count: 0, index: 0, info: null, img: null, boxes: [], selected: -1,
  scale: 1, ox: 0, oy: 0, overlay: null, showOverlay: true, overlaySeq: 0,
  drag: null, space: false, shown: false, shownAt: performance.now(), lastInput: performance.now(),
  saveChain: Promise.resolve(),
  undo: [], redo: [], saved: [],  // per image: earlier and undone box lists, the last saved
};

const copyBoxes = (boxes) => boxes.map((b) => b.slice());
const sameBoxes = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function url(path, params) {
  const u = new URL(path, location.href);
  if (TOKEN) u.searchParams.set("token", TOKEN);
  for (const [k, v] of Object.entries(params || {})) u.searchParams.set(k, v);
  return u.toString();
}

async function api(method, path, body) {
  const r = await fetch(url(path), {
    method, headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!r.ok) throw new Error(method + " " + path + ": " + r.status + " " + (await r.text()));
  return r;
}

// Seconds since the image was shown or last reported; idle gaps over a minute do not count.
function takeSeconds() {
  const now = performance.now();
  const idle = Math.max(0, now - S.lastInput - 60000);
  const s = Math.max(0, (now - S.shownAt - idle) / 1000);
  S.shownAt = now;
  return s;
}

function setStatus(text, error) {
  const el = document.getElementById("saved");
  el.textContent = text;
  el.className = error ? "error" : "";
}

function showInfo(info) {
  S.info = info;
  document.getElementById("name").textContent = (info.index + 1) + "/" + S.count + "  " + info.name;
  document.getElementById("info").textContent =
    info.width + "x" + info.height + "  " + info.status + (info.seconds ? "  " + info.seconds + " s" : "");
  const p = info.progress;
  document.getElementById("progress").textContent = p.done + " of " + p.count + " done";
}

// Save the current boxes; ``fromHistory`` (undo/redo) leaves the undo stacks as they are.
function save(fromHistory) {
  const index = S.index, boxes = copyBoxes(S.boxes);
  if (!fromHistory && !sameBoxes(boxes, S.saved)) { S.undo.push(S.saved); S.redo = []; }
  S.saved = copyBoxes(boxes);
  const seconds = takeSeconds();
  setStatus("saving…");
  S.saveChain = S.saveChain.then(async () => {
    try {
      const r = await api("PUT", "api/images/" + index + "/boxes", { boxes, seconds });
      const info = await r.json();
      if (index === S.index) showInfo(info);
      setStatus("saved");
    } catch (e) { setStatus("NOT SAVED: " + e.message, true); }
  });
  refreshOverlay();
}

async function markAuthentic() {
  if (S.boxes.length) { S.undo.push(copyBoxes(S.boxes)); S.redo = []; }
  S.boxes = []; S.saved = []; S.selected = -1;
  const index = S.index, seconds = takeSeconds();
  S.saveChain = S.saveChain.then(async () => {
    try {
      const info = await (await api("POST", "api/images/" + index + "/authentic", { seconds })).json();
      if (index === S.index) showInfo(info);
      setStatus("marked authentic");
    } catch (e) { setStatus("NOT SAVED: " + e.message, true); }
  });
  refreshOverlay();
  draw();
}

async function refreshOverlay() {
  const seq = ++S.overlaySeq, index = S.index;
  if (!S.boxes.length) { S.overlay = null; draw(); return; }
  try {
    const r = await api("POST", "api/images/" + index + "/overlay", { boxes: S.boxes });
    const bmp = await createImageBitmap(await r.blob());
    if (seq === S.overlaySeq && index === S.index) { S.overlay = bmp; draw(); }
  } catch (e) { setStatus("overlay failed: " + e.message, true); }
}

async function reportTime() {
  const index = S.index, seconds = takeSeconds();
  if (seconds < 0.5) return;
  S.saveChain = S.saveChain.then(() => api("POST", "api/images/" + index + "/time", { seconds })
    .catch((e) => setStatus("time not saved: " + e.message, true)));
}

async function go(index) {
  if (index < 0 || index >= S.count) return;
  if (S.info) await reportTime();
  await S.saveChain;
  S.index = index; S.selected = -1; S.overlay = null; S.drag = null;
  const info = await (await api("GET", "api/images/" + index)).json();
  showInfo(info);
  S.boxes = info.boxes;
  S.saved = copyBoxes(info.boxes); S.undo = []; S.redo = [];
  if (!document.getElementById("list").hidden) showList();
  history.replaceState(null, "", url(location.pathname, { i: index }));
  S.shown = false;  // until the image is drawn, its scale is unknown: ignore the mouse
  const img = new Image();
  const loaded = new Promise((resolve) => {
    img.onload = () => {
      if (index === S.index) {
        S.img = img; S.shownAt = performance.now(); fit(); S.shown = true; refreshOverlay();
      }
      resolve();
    };
    img.onerror = () => { setStatus("could not load image " + index, true); resolve(); };
  });
  img.src = url("api/images/" + index + "/file");
  await loaded;
}

async function nextTodo() {
  const r = await (await api("GET", "api/next-todo?after=" + S.index)).json();
  if (r.index === null) setStatus("all images are done");
  else go(r.index);
}

// Ctrl+Z / Ctrl+Shift+Z (or Ctrl+Y): step through this image's box edits; each step is saved.
function undo() {
  if (!S.undo.length) { setStatus("nothing to undo"); return; }
  S.redo.push(copyBoxes(S.boxes));
  S.boxes = S.undo.pop(); S.selected = -1; draw(); save(true);
}
function redo() {
  if (!S.redo.length) { setStatus("nothing to redo"); return; }
  S.undo.push(copyBoxes(S.boxes));
  S.boxes = S.redo.pop(); S.selected = -1; draw(); save(true);
}

// The image list ('l'): every image with its status; a click jumps to it.
async function showList() {
  const el = document.getElementById("list");
  const st = await (await api("GET", "api/state")).json();
  const todo = st.images.filter((im) => im.status === "todo").length;
  el.replaceChildren();
  const head = document.createElement("div");
  head.className = "head";
  head.textContent = st.progress.done + " of " + st.progress.count + " done" +
    (todo ? "; " + todo + " not done (no box, not marked authentic)" : "");
  el.appendChild(head);
  for (const im of st.images) {
    const row = document.createElement("div");
    row.className = "row " + im.status + (im.index === S.index ? " current" : "");
    row.dataset.index = im.index;
    row.textContent = (im.index + 1) + "  " + im.name + "  " + im.status +
      (im.boxes.length ? " (" + im.boxes.length + ")" : "");
    row.addEventListener("click", () => go(im.index));
    el.appendChild(row);
  }
  el.hidden = false;
}

function fit() {
  canvas.width = window.innerWidth; canvas.height = window.innerHeight - 28;
  if (!S.info) return;
  S.scale = Math.min(canvas.width / S.info.width, canvas.height / S.info.height);
  S.ox = (canvas.width - S.info.width * S.scale) / 2;
  S.oy = (canvas.height - S.info.height * S.scale) / 2;
  draw();
}

const toScreen = (x, y) => [x * S.scale + S.ox, y * S.scale + S.oy];
const toImage = (x, y) => [(x - S.ox) / S.scale, (y - S.oy) / S.scale];
const clampX = (x) => Math.min(Math.max(x, 0), S.info.width);
const clampY = (y) => Math.min(Math.max(y, 0), S.info.height);

function draw() {
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = "#222"; ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (!S.img || !S.info) return;
  ctx.setTransform(S.scale, 0, 0, S.scale, S.ox, S.oy);
  ctx.imageSmoothingEnabled = S.scale < 2;
  ctx.drawImage(S.img, 0, 0, S.info.width, S.info.height);
  if (S.overlay && S.showOverlay) ctx.drawImage(S.overlay, 0, 0, S.info.width, S.info.height);
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  const boxes = S.boxes.slice();
  if (S.drag && S.drag.kind === "new") boxes.push(S.drag.box);
  boxes.forEach((b, i) => {
    const [x1, y1] = toScreen(b[0], b[1]), [x2, y2] = toScreen(b[2], b[3]);
    const sel = i === S.selected;
    ctx.lineWidth = sel ? 3 : 2;
    ctx.strokeStyle = sel ? "#ffd400" : "#00e5ff";
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    if (sel) {
      ctx.fillStyle = "#ffd400";
      for (const [cx, cy] of [[x1, y1], [x2, y1], [x1, y2], [x2, y2]]) ctx.fillRect(cx - 4, cy - 4, 8, 8);
    }
  });
  if (!S.boxes.length && S.info.status === "authentic") {
    ctx.fillStyle = "#8c8"; ctx.font = "bold 20px system-ui"; ctx.fillText("AUTHENTIC", 12, 28);
  } else if (!S.boxes.length && S.info.status === "todo") {
    ctx.fillStyle = "#fc6"; ctx.font = "bold 16px system-ui";
    ctx.fillText("no boxes: draw one, or press 'a' if the image is authentic", 12, 28);
  }
}

function norm(b) {
  return [Math.min(b[0], b[2]), Math.min(b[1], b[3]), Math.max(b[0], b[2]), Math.max(b[1], b[3])];
}

// Which box (and corner) is under the screen point: selected box first, then the topmost.
function hit(sx, sy) {
  const order = S.boxes.map((_, i) => i).reverse();
  if (S.selected >= 0) order.unshift(S.selected);
  for (const i of order) {
    const b = S.boxes[i];
    const [x1, y1] = toScreen(b[0], b[1]), [x2, y2] = toScreen(b[2], b[3]);
    const corners = [[x1, y1, 0, 1], [x2, y1, 2, 1], [x1, y2, 0, 3], [x2, y2, 2, 3]];
    for (const [cx, cy, ix, iy] of corners) {
      if (Math.abs(sx - cx) <= HANDLE && Math.abs(sy - cy) <= HANDLE) return { i, corner: [ix, iy] };
    }
    if (sx >= x1 && sx <= x2 && sy >= y1 && sy <= y2) return { i, corner: null };
  }
  return null;
}

function pos(e) {
  const r = canvas.getBoundingClientRect();
  return [e.clientX - r.left, e.clientY - r.top];
}

canvas.addEventListener("contextmenu", (e) => {
  e.preventDefault();
  if (!S.shown) return;
  const h = hit(...pos(e));
  if (h) { S.boxes.splice(h.i, 1); S.selected = -1; draw(); save(); }
});

canvas.addEventListener("mousedown", (e) => {
  S.lastInput = performance.now();
  if (!S.info || !S.shown) return;
  const [sx, sy] = pos(e);
  if (e.button === 1 || (e.button === 0 && S.space)) {
    e.preventDefault();
    S.drag = { kind: "pan", sx, sy, ox: S.ox, oy: S.oy };
    return;
  }
  if (e.button !== 0) return;
  const [ix, iy] = toImage(sx, sy);
  const h = hit(sx, sy);
  if (h && (h.corner || h.i === S.selected)) {
    S.selected = h.i;
    S.drag = { kind: h.corner ? "resize" : "move", i: h.i, corner: h.corner, start: [ix, iy],
      orig: S.boxes[h.i].slice(), moved: false };
  } else if (h) {
    S.selected = h.i;
    S.drag = { kind: "select", i: h.i, start: [ix, iy], sx, sy };
  } else {
    S.selected = -1;
    const x = clampX(ix), y = clampY(iy);
    S.drag = { kind: "new", box: [x, y, x, y], start: [x, y] };
  }
  draw();
});

window.addEventListener("mousemove", (e) => {
  S.lastInput = performance.now();
  const d = S.drag;
  if (!d) return;
  const [sx, sy] = pos(e);
  const [ix, iy] = toImage(sx, sy);
  if (d.kind === "pan") {
    S.ox = d.ox + sx - d.sx; S.oy = d.oy + sy - d.sy;
  } else if (d.kind === "new") {
    d.box = norm([d.start[0], d.start[1], clampX(ix), clampY(iy)]);
  } else if (d.kind === "select") {
    // A drag that starts on an unselected box draws a new box inside it.
    if (Math.hypot(sx - d.sx, sy - d.sy) > 4) {
      S.selected = -1;
      const x = clampX(d.start[0]), y = clampY(d.start[1]);
      S.drag = { kind: "new", box: norm([x, y, clampX(ix), clampY(iy)]), start: [x, y] };
    }
  } else if (d.kind === "move") {
    const o = d.orig, w = o[2] - o[0], h = o[3] - o[1];
    const x = Math.min(Math.max(o[0] + ix - d.start[0], 0), S.info.width - w);
    const y = Math.min(Math.max(o[1] + iy - d.start[1], 0), S.info.height - h);
    S.boxes[d.i] = [x, y, x + w, y + h]; d.moved = true;
  } else if (d.kind === "resize") {
    const b = d.orig.slice();
    b[d.corner[0]] = clampX(ix); b[d.corner[1]] = clampY(iy);
    S.boxes[d.i] = norm(b); d.moved = true;
  }
  draw();
});

window.addEventListener("mouseup", () => {
  const d = S.drag;
  S.drag = null;
  if (!d) return;
  if (d.kind === "new") {
    const b = d.box.map((v) => Math.round(v * 100) / 100);
    if (b[2] - b[0] >= MIN_BOX && b[3] - b[1] >= MIN_BOX) {
      S.boxes.push(b); S.selected = S.boxes.length - 1; save();
    }
  } else if ((d.kind === "move" || d.kind === "resize") && d.moved) {
    const b = S.boxes[d.i];
    if (b[2] - b[0] < MIN_BOX || b[3] - b[1] < MIN_BOX) { S.boxes.splice(d.i, 1); S.selected = -1; }
    save();
  }
  draw();
});

canvas.addEventListener("wheel", (e) => {
  e.preventDefault();
  const [sx, sy] = pos(e);
  const f = Math.exp(-e.deltaY * 0.0015);
  const [ix, iy] = toImage(sx, sy);
  S.scale = Math.min(Math.max(S.scale * f, 0.02), 50);
  S.ox = sx - ix * S.scale; S.oy = sy - iy * S.scale;
  draw();
}, { passive: false });

window.addEventListener("keydown", (e) => {
  S.lastInput = performance.now();
  if ((e.ctrlKey || e.metaKey) && !e.altKey) {
    const z = e.key.toLowerCase();
    if (z === "z" && !e.shiftKey) undo();
    else if ((z === "z" && e.shiftKey) || z === "y") redo();
    else return;
    e.preventDefault();
    return;
  }
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const k = e.key;
  if (k === " ") { S.space = true; canvas.style.cursor = "grab"; e.preventDefault(); return; }
  if (k === "n" || k === "ArrowRight") go(S.index + 1);
  else if (k === "p" || k === "ArrowLeft") go(S.index - 1);
  else if (k === "u") nextTodo();
  else if (k === "a") markAuthentic();
  else if (k === "f") fit();
  else if (k === "o") { S.showOverlay = !S.showOverlay; draw(); }
  else if (k === "l") {
    const el = document.getElementById("list");
    if (el.hidden) showList(); else el.hidden = true;
  }
  else if (k === "h" || k === "?") { const h = document.getElementById("help"); h.hidden = !h.hidden; }
  else if (k === "Escape") {
    document.getElementById("help").hidden = true; document.getElementById("list").hidden = true;
    S.selected = -1; draw();
  }
  else if ((k === "Delete" || k === "Backspace") && S.selected >= 0) {
    S.boxes.splice(S.selected, 1); S.selected = -1; draw(); save();
  } else return;
  e.preventDefault();
});
window.addEventListener("keyup", (e) => {
  if (e.key === " ") { S.space = false; canvas.style.cursor = "crosshair"; }
});
window.addEventListener("resize", fit);
window.addEventListener("pagehide", () => {
  const seconds = takeSeconds();
  if (S.info && seconds >= 0.5) {
    navigator.sendBeacon(url("api/images/" + S.index + "/time"),
      new Blob([JSON.stringify({ seconds })], { type: "application/json" }));
  }
});

(async function start() {
  const st = await (await api("GET", "api/state")).json();
  S.count = st.progress.count;
  const asked = parseInt(new URLSearchParams(location.search).get("i"), 10);
  const first = Number.isInteger(asked) ? asked : (st.progress.first_todo ?? 0);
  await go(Math.min(Math.max(first, 0), S.count - 1));
  canvas.dataset.ready = "1";
})();
