// slidebatch's page: compose a batch, follow it live, fix slides, download the results.
// Entry module; the batch panel lives in batch-view.js, the SSE stream in live.js.

import { Api, ApiError } from "./api.js";
import { BatchView, imageSrc } from "./batch-view.js";
import { EXAMPLE_EN, EXAMPLE_ZH } from "./examples.js";
import { CandidatePicker } from "./candidates.js";
import { derivedStyle, referenceFields } from "./references.js";
import {
  ACTIVE_SLIDE_STATES,
  FINAL_BATCH_STATES,
  detectFormat,
  formatCost,
  formatSeconds,
  formatTimestamp,
  isRatio,
  randomKey,
  slideCostText,
  spendText,
  statusLabel,
} from "./format.js";

const api = new Api();
const $ = (id) => document.getElementById(id);

const ui = {
  serverInfo: $("server-info"),
  keyForm: $("key-form"),
  keyInput: $("api-key"),
  notice: $("notice"),
  form: $("batch-form"),
  deckText: $("deck-text"),
  deckFile: $("deck-file"),
  deckFormat: $("deck-format"),
  deckSummary: $("deck-summary"),
  title: $("deck-title"),
  style: $("style-prompt"),
  aspect: $("aspect-ratio"),
  customField: $("custom-ratio-field"),
  customRatio: $("custom-ratio"),
  workersAuto: $("workers-auto"),
  workersFixed: $("workers-fixed"),
  workersCount: $("workers-count"),
  estimate: $("estimate"),
  generate: $("generate"),
  formStatus: $("form-status"),
  historyList: $("history-list"),
  historyMore: $("history-more"),
  dialog: $("slide-dialog"),
  dialogTitle: $("dialog-title"),
  dialogImage: $("dialog-image"),
  dialogCaption: $("dialog-caption"),
  dialogState: $("dialog-state"),
  dialogError: $("dialog-error"),
  dialogVisual: $("dialog-visual"),
  dialogRegenerate: $("dialog-regenerate"),
  dialogCandidates: $("dialog-candidates"),
  dialogPicks: $("dialog-picks"),
  dialogPickList: $("dialog-pick-list"),
  dialogContent: $("dialog-content"),
  dialogPrompt: $("dialog-prompt"),
};

const HISTORY_PAGE = 20;

// Everything the page changes after it loads, in one object (no other module-level state).
const state = {
  // Which compose fields the user typed into: a parsed deck fills only the untouched ones.
  touched: { title: false, style: false, aspect: false, workers: false },
  // Which untouched fields hold a parsed deck's value: the next deck replaces or clears them
  // (a JSON deck without a title pasted after `title: Four` must not run as "Four").
  fromDeck: { title: false, style: false, aspect: false, workers: false },
  deckCache: { key: null, parsed: null },
  parseSeq: 0,
  parseTimer: null,
  // A file's extension (or an example's known format) applies to that text only: once the
  // text changes, the format is detected again, so JSON pasted after a .md upload is JSON.
  formatHint: null,
  historyOffset: 0,
  dialogSlideId: null,
  dialogOpener: null,
};

const view = new BatchView(api, {
  onOpenSlide: openSlide,
  onChange: (batch) => {
    // A deleted batch leaves the URL too, so a reload does not ask for it again.
    if (!batch) window.history.replaceState(null, "", window.location.pathname);
    loadHistory();
    // A finished batch measured the latency and the price: redraw the deck's estimate.
    if (batch && FINAL_BATCH_STATES.has(batch.status) && state.deckCache.parsed) {
      loadEstimate(state.deckCache.parsed.slides.length);
    }
  },
  onError: (message) => showNotice(message),
  onSlideChange: (slide) => {
    if (ui.dialog.open && slide.slide_id === state.dialogSlideId) fillDialog(slide, false);
  },
});

// ---- notices and errors -------------------------------------------------------------

function showNotice(message, kind = "error") {
  ui.notice.textContent = message;
  ui.notice.dataset.kind = kind;
  ui.notice.setAttribute("role", kind === "error" ? "alert" : "status");
  ui.notice.hidden = false;
}

function clearNotice() {
  ui.notice.hidden = true;
  ui.notice.textContent = "";
}

/** Report a failed call; a 401 reveals the API-key field. */
function reportError(what, err) {
  if (err instanceof ApiError && err.status === 401) {
    ui.keyForm.hidden = false;
    showNotice(`${what}: this server needs a valid API key. Enter it at the top of the page.`);
    ui.keyInput.focus();
    return;
  }
  showNotice(`${what}: ${err.message}`);
}

// ---- server info and API key -------------------------------------------------------

async function loadInfo() {
  let info;
  try {
    info = await api.get("/api/info");
  } catch (err) {
    ui.serverInfo.textContent = "Server unreachable";
    reportError("Could not reach the server", err);
    return;
  }
  const bits = [`slidebatch ${info.version ?? ""}`.trim()];
  if (info.provider) bits.push(`${info.provider} provider`);
  ui.serverInfo.textContent = bits.join(" · ");
  if (info.auth_required) {
    ui.keyForm.hidden = false;
    ui.keyInput.value = api.key;
  }
  const maxWorkers = info.limits && info.limits.max_workers;
  if (Number.isInteger(maxWorkers) && maxWorkers > 0) {
    ui.workersCount.max = String(maxWorkers);
    if (Number(ui.workersCount.value) > maxWorkers) ui.workersCount.value = String(maxWorkers);
  }
}

ui.keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  api.key = ui.keyInput.value.trim();
  showNotice(api.key ? "API key saved in this browser." : "API key removed.", "info");
  loadHistory();
  // The event stream URL carries the key: reconnect with the new one.
  if (view.batchId) view.show(view.batchId);
});

// ---- deck input ---------------------------------------------------------------------

const FORMAT_LABELS = { json: "JSON", markdown: "Markdown" };

function currentFormat(text) {
  if (ui.deckFormat.value !== "auto") return ui.deckFormat.value;
  if (state.formatHint && state.formatHint.text === text) return state.formatHint.format;
  return detectFormat(text);
}

/** The server's complaint, plus what to change when the chosen format does not fit the text. */
function deckProblem(text, format, message) {
  const parts = [`Deck problem (read as ${FORMAT_LABELS[format]}): ${message}`];
  const looks = detectFormat(text);
  if (ui.deckFormat.value !== "auto" && looks !== format) {
    parts.push(
      `This text looks like ${FORMAT_LABELS[looks]}: set Format to Auto-detect ` +
        `or ${FORMAT_LABELS[looks]}.`,
    );
  }
  return parts.join(" ");
}

/** Parse the deck through the server (same parser as the CLI); cached per text+format. */
async function parseDeck() {
  const text = ui.deckText.value;
  if (!text.trim()) {
    ui.deckSummary.replaceChildren();
    ui.estimate.hidden = true;
    state.deckCache.key = null;
    return null;
  }
  const format = currentFormat(text);
  const key = `${format}\u0000${text}`;
  if (state.deckCache.key === key) return state.deckCache.parsed;
  const seq = ++state.parseSeq;
  ui.deckSummary.textContent = "Checking deck…";
  let parsed;
  try {
    parsed = await api.post("/api/deck/parse", { text, format });
  } catch (err) {
    if (seq === state.parseSeq) {
      // The summary now shows this error: the next parse must redraw, even of cached text.
      state.deckCache.key = null;
      ui.deckSummary.replaceChildren(textEl("p", deckProblem(text, format, err.message), "error-text"));
      ui.estimate.hidden = true;
      if (err instanceof ApiError && err.status === 401) reportError("Checking the deck", err);
    }
    throw err;
  }
  if (seq !== state.parseSeq) return parsed;
  state.deckCache.key = key;
  state.deckCache.parsed = parsed;
  renderDeckSummary(parsed, format);
  applyDeckDefaults(parsed);
  loadEstimate(parsed.slides.length);
  return parsed;
}

function scheduleParse() {
  window.clearTimeout(state.parseTimer);
  state.parseTimer = window.setTimeout(() => parseDeck().catch(() => {}), 600);
}

function renderDeckSummary(parsed, format) {
  const slides = parsed.slides || [];
  const head = textEl(
    "p",
    `${slides.length} slide${slides.length === 1 ? "" : "s"} (${FORMAT_LABELS[format]}` +
      `${ui.deckFormat.value === "auto" ? ", detected" : ""})`,
    "deck-count",
  );
  const list = document.createElement("ol");
  list.className = "deck-titles";
  for (const slide of slides) {
    const item = textEl("li", slide.title || "(untitled)");
    if (slide.type && slide.type !== "content") item.append(textEl("span", ` ${slide.type}`, "tag"));
    list.append(item);
  }
  ui.deckSummary.replaceChildren(head, list);
}

/** Fill the fields the user did not type into from the deck; a field an earlier deck filled
 * and this one says nothing about goes back to its default. */
function applyDeckDefaults(parsed) {
  const workers = parsed.max_workers === "auto" || Number.isInteger(parsed.max_workers);
  fillFromDeck("title", parsed.title, (value) => (ui.title.value = value ?? ""));
  fillFromDeck("style", parsed.style_prompt, (value) => (ui.style.value = value ?? ""));
  fillFromDeck("aspect", parsed.aspect_ratio, (value) => setAspect(String(value ?? defaultAspect())));
  fillFromDeck("workers", workers ? parsed.max_workers : null, (value) => {
    const fixed = Number.isInteger(value);
    ui.workersFixed.checked = fixed;
    ui.workersAuto.checked = !fixed;
    if (fixed) ui.workersCount.value = String(value);
  });
  syncWorkers();
}

function fillFromDeck(field, value, set) {
  if (state.touched[field]) return;
  const given = value !== null && value !== undefined && value !== "";
  if (given) set(value);
  else if (state.fromDeck[field]) set(null);
  state.fromDeck[field] = given;
}

function defaultAspect() {
  const option = [...ui.aspect.options].find((o) => o.defaultSelected);
  return option ? option.value : "16:9";
}

function setAspect(ratio) {
  const option = [...ui.aspect.options].find((o) => o.value === ratio);
  if (option) {
    ui.aspect.value = ratio;
  } else {
    ui.aspect.value = "custom";
    ui.customRatio.value = ratio;
  }
  syncAspect();
}

function syncAspect() {
  ui.customField.hidden = ui.aspect.value !== "custom";
}

function syncWorkers() {
  ui.workersCount.disabled = !ui.workersFixed.checked;
}

async function loadEstimate(count) {
  if (!count) {
    ui.estimate.hidden = true;
    return;
  }
  let data;
  try {
    data = await api.get(`/api/slide/batch/config/optimal?slides_count=${count}`);
  } catch (err) {
    ui.estimate.hidden = false;
    ui.estimate.replaceChildren(textEl("p", `No estimate: ${err.message}`, "hint"));
    return;
  }
  const time = data.estimated_time_formatted || formatSeconds(data.estimated_time_seconds);
  const line = textEl("p", "");
  line.append(
    textEl("strong", `Estimate: ${time}`),
    document.createTextNode(
      ` for ${data.slides_count} slides at the recommended ${data.recommended_workers} workers` +
        (data.max_possible_workers ? ` (at most ${data.max_possible_workers} possible)` : ""),
    ),
  );
  const nodes = [line, textEl("p", costEstimateText(data), "cost-estimate")];
  const notes = data.performance_notes || [];
  if (notes.length) {
    const list = document.createElement("ul");
    for (const note of notes) list.append(textEl("li", note));
    nodes.push(list);
  }
  ui.estimate.replaceChildren(...nodes);
  ui.estimate.hidden = false;
}

function costEstimateText(data) {
  // The CLI's estimate line (cli/summary.estimate_line), as a sentence.
  if (data.cost_basis === "free") return "Cost: free (offline renderer).";
  if (data.estimated_cost === null || data.estimated_cost === undefined) {
    return "Cost: unknown (no price yet; set UPSTREAM_PRICE_PER_IMAGE for an estimate).";
  }
  return (
    `Cost estimate: ${formatCost(data.estimated_cost)} ` +
    `(${data.slides_count} x ${formatCost(data.cost_per_image)}, ${data.cost_basis}).`
  );
}

function loadDeckText(text, format) {
  ui.deckText.value = text;
  // The selector stays on Auto-detect: the hint is for this text, not for what comes next.
  ui.deckFormat.value = "auto";
  state.formatHint = format === "auto" ? null : { text, format };
  // A whole new deck: its own title, style and ratio fill the form; what it does not say
  // keeps what the user typed, and a value from the deck before is cleared.
  state.touched.title = state.touched.style = state.touched.aspect = state.touched.workers = false;
  parseDeck().catch(() => {});
}

ui.deckText.addEventListener("input", scheduleParse);
ui.deckFormat.addEventListener("change", () => parseDeck().catch(() => {}));
$("check-deck").addEventListener("click", () => {
  state.deckCache.key = null;
  parseDeck().catch(() => {});
});
$("load-example-en").addEventListener("click", () => loadDeckText(EXAMPLE_EN, "markdown"));
$("load-example-zh").addEventListener("click", () => loadDeckText(EXAMPLE_ZH, "json"));
ui.deckFile.addEventListener("change", async () => {
  const file = ui.deckFile.files && ui.deckFile.files[0];
  if (!file) return;
  const name = file.name.toLowerCase();
  const format = name.endsWith(".json") ? "json" : /\.(md|markdown)$/.test(name) ? "markdown" : "auto";
  loadDeckText(await file.text(), format);
  ui.deckFile.value = "";
});

/** The user set ``field``: no deck changes it until a new deck is loaded whole. */
function typedByHand(field) {
  state.touched[field] = true;
  state.fromDeck[field] = false;
}

ui.title.addEventListener("input", () => typedByHand("title"));
ui.style.addEventListener("input", () => typedByHand("style"));
ui.aspect.addEventListener("change", () => {
  typedByHand("aspect");
  syncAspect();
  if (ui.aspect.value === "custom") ui.customRatio.focus();
});
ui.customRatio.addEventListener("input", () => typedByHand("aspect"));
ui.workersAuto.addEventListener("change", () => {
  typedByHand("workers");
  syncWorkers();
});
ui.workersFixed.addEventListener("change", () => {
  typedByHand("workers");
  syncWorkers();
  ui.workersCount.focus();
});
ui.workersCount.addEventListener("input", () => typedByHand("workers"));

// ---- submit ---------------------------------------------------------------------------

function invalid(field, message) {
  showNotice(message);
  field.setAttribute("aria-invalid", "true");
  field.focus();
  return null;
}

function collectOptions() {
  for (const field of [ui.deckText, ui.style, ui.customRatio, ui.workersCount]) {
    field.removeAttribute("aria-invalid");
  }
  if (!ui.deckText.value.trim()) return invalid(ui.deckText, "Paste, upload or load a deck first.");
  const style = ui.style.value.trim();
  if (!style) return invalid(ui.style, "Describe the style of the deck in the style prompt.");
  let aspect = ui.aspect.value;
  if (aspect === "custom") {
    aspect = ui.customRatio.value.trim();
    if (!isRatio(aspect)) return invalid(ui.customRatio, "Write the custom ratio as W:H, e.g. 1.91:1.");
  }
  let workers = "auto";
  if (ui.workersFixed.checked) {
    workers = Number.parseInt(ui.workersCount.value, 10);
    if (!Number.isInteger(workers) || workers < 1) {
      return invalid(ui.workersCount, "Workers must be a whole number of at least 1.");
    }
  }
  return { style, aspect, workers, title: ui.title.value.trim() };
}

ui.form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearNotice();
  const options = collectOptions();
  if (!options) return;
  ui.generate.disabled = true;
  ui.formStatus.textContent = "Starting…";
  try {
    let parsed;
    try {
      window.clearTimeout(state.parseTimer);
      parsed = await parseDeck();
    } catch (err) {
      ui.deckText.setAttribute("aria-invalid", "true");
      reportError("The deck could not be read", err);
      return;
    }
    const body = {
      slides: parsed.slides,
      style_prompt: options.style,
      aspect_ratio: options.aspect,
      max_workers: options.workers,
    };
    if (options.title) body.title = options.title;
    Object.assign(body, await referenceFields($("reference-images"), $("anchor-cover")));
    const started = await api.post("/api/slide/batch/generate?wait=false", body, {
      "Idempotency-Key": randomKey(),
    });
    ui.formStatus.textContent = "";
    openBatch(started.batch_id, true);
    loadHistory();
  } catch (err) {
    ui.formStatus.textContent = "";
    reportError("The batch could not start", err);
  } finally {
    ui.generate.disabled = false;
    if (ui.formStatus.textContent === "Starting…") ui.formStatus.textContent = "";
  }
});

// ---- batches --------------------------------------------------------------------------

function openBatch(batchId, focus = false) {
  if (!batchId) return;
  const hash = `#batch=${encodeURIComponent(batchId)}`;
  if (window.location.hash !== hash) window.history.replaceState(null, "", hash);
  if (view.batchId !== batchId) view.show(batchId);
  markCurrentHistory();
  if (focus) {
    const heading = $("batch-heading");
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
    $("batch-view").scrollIntoView({ behavior: "smooth", block: "start" });
  }
}

function batchFromHash() {
  const match = /^#batch=(.+)$/.exec(window.location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

window.addEventListener("hashchange", () => {
  const id = batchFromHash();
  if (id) openBatch(id);
});

async function loadHistory(append = false) {
  if (!append) state.historyOffset = 0;
  let page;
  try {
    page = await api.get(`/api/slide/batch?limit=${HISTORY_PAGE}&offset=${state.historyOffset}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      ui.keyForm.hidden = false;
      ui.historyList.replaceChildren(textEl("li", "Enter the API key to see past batches.", "hint"));
    } else {
      ui.historyList.replaceChildren(textEl("li", `Could not load batches: ${err.message}`, "hint"));
    }
    ui.historyMore.hidden = true;
    return;
  }
  const items = page.items || [];
  const nodes = items.map(historyItem);
  if (append) ui.historyList.append(...nodes);
  else if (nodes.length) ui.historyList.replaceChildren(...nodes);
  else ui.historyList.replaceChildren(textEl("li", "No batches yet.", "hint"));
  state.historyOffset += items.length;
  ui.historyMore.hidden = !(page.total > state.historyOffset);
  markCurrentHistory();
}

function historyItem(batch) {
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "history-item";
  button.dataset.batchId = batch.batch_id;
  const title = textEl("span", batch.title || `Batch ${String(batch.batch_id).slice(0, 8)}`, "history-title");
  title.dir = "auto";
  const status = textEl("span", statusLabel(batch.status), "badge");
  status.dataset.status = batch.status;
  const done = batch.successful ?? batch.completed_slides ?? 0;
  const meta = textEl(
    "span",
    [
      `${done}/${batch.total_slides ?? "?"} slides`,
      historyCost(batch),
      formatTimestamp(batch.created_at),
    ]
      .filter(Boolean)
      .join(" · "),
    "history-meta",
  );
  button.append(title, status, meta);
  button.addEventListener("click", () => openBatch(batch.batch_id, true));
  li.append(button);
  return li;
}

/** A listed batch's cost: the list says only whether it holds an estimate, not how much. */
function historyCost(batch) {
  const unknown = batch.costs_unknown ?? 0;
  if ((batch.cost === null || batch.cost === undefined) && !unknown) return ""; // nothing drawn
  return spendText(batch.cost, batch.cost_estimated === true, unknown);
}

function markCurrentHistory() {
  for (const button of ui.historyList.querySelectorAll(".history-item")) {
    if (button.dataset.batchId === view.batchId) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
}

$("refresh-history").addEventListener("click", () => loadHistory());
ui.historyMore.addEventListener("click", () => loadHistory(true));

// ---- style from the reference images ----------------------------------------------------

$("derive-style").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  const status = $("derive-status");
  button.disabled = true;
  status.textContent = "Analysing…";
  try {
    const prompt = await derivedStyle(api, $("reference-images"));
    if (prompt === null) {
      status.textContent = "Pick one or more reference images first.";
      return;
    }
    ui.style.value = prompt;
    ui.style.dispatchEvent(new Event("input", { bubbles: true }));
    status.textContent = "Style prompt derived from the reference images.";
  } catch (err) {
    status.textContent = "";
    reportError("The style could not be derived", err);
  } finally {
    button.disabled = false;
  }
});

// ---- slide dialog ----------------------------------------------------------------------

const picker = new CandidatePicker(
  api,
  ui.dialogPicks,
  ui.dialogPickList,
  (answer) => {
    if (answer.slide_id) view.putSlide(answer);
  },
  reportError,
);

function openSlide(slideId) {
  const slide = view.slide(slideId);
  if (!slide) return;
  if (state.dialogSlideId !== slideId) picker.clear();
  state.dialogSlideId = slideId;
  state.dialogOpener = document.activeElement;
  fillDialog(slide, true);
  if (!ui.dialog.open) ui.dialog.showModal();
}

function fillDialog(slide, withText) {
  // <bdi>: an Arabic or Hebrew title keeps its own direction after "Slide 1: ".
  const name = Object.assign(document.createElement("bdi"), { textContent: slide.title || "(untitled)" });
  ui.dialogTitle.replaceChildren(`Slide ${slide.page_num ?? ""}: `, name);
  if (slide.image_url) {
    const src = imageSrc(api, slide);
    if (ui.dialogImage.dataset.src !== src) {
      ui.dialogImage.dataset.src = src;
      ui.dialogImage.src = src;
    }
    ui.dialogImage.alt = `Slide ${slide.page_num ?? ""}: ${slide.title || ""}`;
    ui.dialogImage.hidden = false;
  } else {
    ui.dialogImage.hidden = true;
    ui.dialogImage.removeAttribute("src");
    delete ui.dialogImage.dataset.src;
  }
  ui.dialogCaption.textContent = slide.placeholder
    ? "Placeholder rendered locally: the image model failed for this slide."
    : "";
  const bits = [statusLabel(slide.state)];
  if (slide.state === "done" && slide.generation_time != null) bits.push(formatSeconds(slide.generation_time));
  if (slide.attempts) bits.push(`${slide.attempts} attempt${slide.attempts === 1 ? "" : "s"}`);
  const cost = slideCostText(slide);
  if (cost) bits.push(cost);
  ui.dialogState.textContent = bits.join(" · ");
  ui.dialogState.dataset.status = slide.state;
  ui.dialogError.hidden = !slide.error_message || slide.state === "done";
  ui.dialogError.textContent = slide.error_message || "";
  ui.dialogRegenerate.disabled = ACTIVE_SLIDE_STATES.has(slide.state);
  ui.dialogContent.textContent = slide.content_text || "";
  ui.dialogPrompt.textContent = slide.final_prompt ? `Prompt: ${slide.final_prompt}` : "";
  if (withText) ui.dialogVisual.value = slide.visual_desc || "";
  // A finished slide may have candidates (regenerate with several): list them.
  if (slide.state === "done" && view.batchId) picker.refresh(view.batchId, slide.slide_id);
}

ui.dialogRegenerate.addEventListener("click", async () => {
  const slideId = state.dialogSlideId;
  const batchId = view.batchId;
  if (!slideId || !batchId) return;
  ui.dialogRegenerate.disabled = true;
  ui.dialogState.textContent = "Sending…";
  try {
    const path =
      `/api/slide/batch/${encodeURIComponent(batchId)}` +
      `/slides/${encodeURIComponent(slideId)}/regenerate`;
    const body = { visual_desc: ui.dialogVisual.value };
    const candidates = Number(ui.dialogCandidates.value) || 1;
    if (candidates > 1) body.candidates = candidates;
    const result = await api.post(path, body);
    if (result && result.slide_id) view.putSlide(result);
    view.ensureLive();
  } catch (err) {
    ui.dialogRegenerate.disabled = false;
    const slide = view.slide(slideId);
    if (slide) fillDialog(slide, false);
    reportError("The slide could not be regenerated", err);
  }
});

ui.dialog.addEventListener("close", () => {
  state.dialogSlideId = null;
  picker.clear();
  if (state.dialogOpener && document.contains(state.dialogOpener)) state.dialogOpener.focus();
  state.dialogOpener = null;
});

// Clicking the backdrop (outside the dialog box) closes it, like Escape.
ui.dialog.addEventListener("click", (event) => {
  if (event.target === ui.dialog) ui.dialog.close();
});

// ---- helpers and start-up --------------------------------------------------------------

function textEl(tag, text, className) {
  const node = document.createElement(tag);
  node.textContent = text;
  if (className) node.className = className;
  return node;
}

syncAspect();
syncWorkers();
loadInfo().then(() => {
  loadHistory();
  const id = batchFromHash();
  if (id) openBatch(id);
});
