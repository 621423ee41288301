// The page of `python -m fer_app.web`: frames go to the server, answers are drawn here.
// One request in flight at a time; the frame rate shown is answered frames per second.

const $ = (id) => document.getElementById(id);
const view = $("view"), ctx = view.getContext("2d"), video = $("video");
const grab = document.createElement("canvas"), grabCtx = grab.getContext("2d");
const COLOURS = { angry: "#dc2828", disgust: "#288c28", fear: "#a03ca0", happy: "#f0c828", sad: "#2878c8",
  surprise: "#ff8c00", neutral: "#b4b4b4" };
let state = { running: false, frozen: false, result: null, fps: 0, last: 0, picked: null, failed: false };

function say(text) { $("message").textContent = text || ""; }

async function api(path, options) {
  const response = await fetch(path, options);
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || `the server answered ${response.status}`);
  return answer;
}

function grabFrame(source) {
  // into the off-screen canvas only: the view shows a frame together with its answer, never without (no flicker)
  const w = source.videoWidth || source.width, h = source.videoHeight || source.height;
  const scale = Math.min(1, 640 / w), width = Math.round(w * scale), height = Math.round(h * scale);
  if (grab.width !== width || grab.height !== height) { grab.width = width; grab.height = height; }
  grabCtx.drawImage(source, 0, 0, width, height);
}

function drawFaces(result) {
  if (view.width !== grab.width || view.height !== grab.height) { view.width = grab.width; view.height = grab.height; }
  ctx.drawImage(grab, 0, 0);
  if (!result) return;
  ctx.font = "14px system-ui";
  result.faces.forEach((face, i) => {
    const [x, y, w, h] = face.box, colour = COLOURS[face.label] || "#fff";
    ctx.strokeStyle = colour; ctx.lineWidth = 3; ctx.strokeRect(x, y, w, h);
    const p = Math.max(...face.probabilities), text = `${face.label} ${(100 * p).toFixed(0)}%`;
    ctx.fillStyle = colour; ctx.fillRect(x, y - 20, ctx.measureText(text).width + 10, 20);
    ctx.fillStyle = "#000"; ctx.fillText(text, x + 5, y - 5);
    result.classes.forEach((name, k) => {             // the probability bars, right of the box
      const bx = Math.min(x + w + 6, view.width - 110), by = y + 13 * k;
      ctx.fillStyle = "rgba(0,0,0,0.55)"; ctx.fillRect(bx, by, 108, 12);
      ctx.fillStyle = COLOURS[name]; ctx.fillRect(bx + 52, by + 2, 54 * face.probabilities[k], 8);
      ctx.fillStyle = "#fff"; ctx.font = "10px system-ui"; ctx.fillText(name, bx + 2, by + 10);
      ctx.font = "14px system-ui";
    });
  });
  view.dataset.faces = result.faces.length;
  view.dataset.boxes = JSON.stringify(result.faces.map((f) => f.box));
  view.dataset.labels = result.faces.map((f) => f.label).join(",");
}

async function analyse() {
  const blob = await new Promise((resolve) => grab.toBlob(resolve, "image/jpeg", 0.85));
  const result = await api("/api/frame", { method: "POST", body: blob });
  const now = performance.now();
  if (state.last) state.fps = 0.8 * state.fps + 0.2 * (1000 / (now - state.last));
  state.last = now;
  $("fps").textContent = `${state.fps.toFixed(1)} updates/s`;
  $("fps").dataset.fps = state.fps.toFixed(2);
  return result;
}

async function loop() {
  while (state.running) {
    if (!state.frozen && video.readyState >= 2) {
      grabFrame(video);
      try {
        state.result = await analyse();
        drawFaces(state.result);
        if (state.failed) { say(""); state.failed = false; }   // clear its own error only, not another's message
      } catch (error) { say(error.message); state.failed = true; await new Promise((r) => setTimeout(r, 500)); }
    } else {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function start() {
  $("freeze").disabled = false;
  if (!state.running) { state.running = true; loop(); }
}

$("webcam").onclick = async () => {
  try {
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
    video.removeAttribute("src");
    await video.play();
    start();
  } catch (error) { say(`no webcam: ${error.message}`); }
};

async function openFile(file) {
  if (!file) return;
  if (file.type.startsWith("video/")) {
    video.srcObject = null;
    video.src = URL.createObjectURL(file);
    video.onerror = () => say(`${file.name}: the browser cannot play this video`);
    try { await video.play(); start(); } catch (error) { say(`${file.name}: the browser cannot play this video`); }
    return;
  }
  if (!file.type.startsWith("image/")) { say(`${file.name}: not a photo or a video`); return; }
  let bitmap;
  try { bitmap = await createImageBitmap(file); } catch (error) { say(`${file.name}: not a picture the browser can read`); return; }
  state.running = false;
  grabFrame(bitmap);
  drawFaces(null);
  try { state.result = await analyse(); drawFaces(state.result); say(state.result.faces.length ? "" : "no face found"); }
  catch (error) { say(`${file.name}: ${error.message}`); }
}

$("file").onchange = (event) => openFile(event.target.files[0]);
const drop = $("drop");
drop.ondragover = (event) => { event.preventDefault(); drop.classList.add("over"); };
drop.ondragleave = () => drop.classList.remove("over");
drop.ondrop = (event) => { event.preventDefault(); drop.classList.remove("over"); openFile(event.dataTransfer.files[0]); };

$("freeze").onclick = () => {
  state.frozen = !state.frozen;
  $("freeze").textContent = state.frozen ? "Unfreeze" : "Freeze";
};

view.onclick = (event) => {
  if (!state.result) return;
  const rect = view.getBoundingClientRect();
  const x = (event.clientX - rect.left) * view.width / rect.width, y = (event.clientY - rect.top) * view.height / rect.height;
  const index = state.result.faces.findIndex(({ box: [bx, by, bw, bh] }) => x >= bx && x <= bx + bw && y >= by && y <= by + bh);
  if (index >= 0) showNetwork(state.result.frame, index);
};

async function showNetwork(frame, face) {
  const started = performance.now();
  let net;
  try { net = await api(`/api/network?frame=${frame}&face=${face}`); } catch (error) { say(error.message); return; }
  state.picked = { frame, face };
  $("network").hidden = false;
  $("input").src = net.input; $("saliency").src = net.saliency; $("gradcam").src = net.gradcam;
  $("probabilities").innerHTML = net.classes.map((name, k) =>
    `<div><span class="name">${name}</span><span class="bar" style="width:${Math.round(120 * net.probabilities[k])}px"></span>${(100 * net.probabilities[k]).toFixed(1)}%</div>`).join("");
  const layers = $("layers");
  layers.innerHTML = "";
  for (const layer of net.layers) {
    const box = document.createElement("div");
    box.className = "layer"; box.dataset.index = layer.index; box.dataset.count = layer.count;
    box.innerHTML = `<h3>${layer.index}. ${layer.name}</h3><p>${layer.sentence} <a href="/${layer.doc}" target="_blank">more</a></p>`;
    if (layer.maps) {
      const img = new Image(); img.src = layer.maps;
      img.title = `${layer.count} maps of ${layer.shape[1]}×${layer.shape[2]}` + (layer.drawn < layer.count ? ` (the first ${layer.drawn} drawn)` : "");
      img.onclick = (event) => pickPixel(layer, event);
      box.appendChild(img);
      box.insertAdjacentHTML("beforeend", `<p>${layer.count} maps, ${layer.shape[1]}×${layer.shape[2]}</p>`);
    } else {
      box.insertAdjacentHTML("beforeend", `<div class="values">${layer.values.map((v) => v.toFixed(2)).join(" ")}</div>`);
    }
    layers.appendChild(box);
  }
  $("timing").textContent = `(maps in ${Math.round(performance.now() - started)} ms)`;
  $("network").dataset.ms = Math.round(performance.now() - started);
  $("detail").hidden = true;
}

async function pickPixel(layer, event) {
  const step = layer.tile + layer.gap;
  const column = Math.floor(event.offsetX / step), row = Math.floor(event.offsetY / step);
  const map = row * layer.columns + column;
  if (map >= layer.drawn) return;
  const y = Math.floor((event.offsetY - row * step) / layer.tile * layer.shape[1]);
  const x = Math.floor((event.offsetX - column * step) / layer.tile * layer.shape[2]);
  if (layer.kind !== "Conv2D") {
    $("detail").hidden = false;
    $("detail").innerHTML = `<p>Layer ${layer.index}, map ${map}, pixel (${y}, ${x}). The arithmetic is shown for
      convolutions: click a map of a Conv2D layer.</p>`;
    return;
  }
  const { frame, face } = state.picked;
  try {
    const [filters, sum] = await Promise.all([
      api(`/api/filters?layer=${layer.index}&map=${map}`),
      api(`/api/arithmetic?frame=${frame}&face=${face}&layer=${layer.index}&map=${map}&y=${y}&x=${x}`)]);
    showArithmetic(filters, sum);
  } catch (error) { say(error.message); }
}

function table(rows) {
  return `<table>${rows.map((r) => `<tr>${r.map((v) => `<td>${v.toFixed(3)}</td>`).join("")}</tr>`).join("")}</table>`;
}

function showArithmetic(filters, a) {
  const shown = Math.min(a.channels, 4);
  let html = `<p>Layer ${a.layer}, map ${a.map}, pixel (${a.y}, ${a.x}): the ${a.kernel}×${a.kernel} patch of each of the
    ${a.channels} input maps, times that map's kernel of the filter, all summed, plus the bias.</p>
    <p><img src="${filters.picture}" alt="the filter's kernels" style="image-rendering:pixelated;width:160px"> the
    filter's ${filters.channels} kernels (bright: positive weights)</p>`;
  for (let c = 0; c < shown; c++) {
    html += `<div>input map ${c}: ${table(a.inputs[c])} × weights ${table(a.weights[c])}</div>`;
  }
  if (a.channels > shown) {
    html += `<details><summary>… and ${a.channels - shown} more input maps, in the sum below (show them)</summary>`;
    for (let c = shown; c < a.channels; c++) {
      html += `<div>input map ${c}: ${table(a.inputs[c])} × weights ${table(a.weights[c])}</div>`;
    }
    html += "</details>";
  }
  html += `<p class="sum" id="sum" data-sum="${a.sum}" data-activation="${a.activation}">Σ inputs × weights + bias
    (${a.bias.toFixed(4)}) = ${a.sum.toFixed(4)}; minicnn's own value of this pixel: ${a.activation.toFixed(4)}.</p>
    <p>After the BatchNorm and ReLU of its block (layer ${a.block_end}): ${a.after_block.toFixed(4)}.</p>`;
  $("detail").innerHTML = html;
  $("detail").hidden = false;
}
