// The batch panel: header, progress bar with ETA, downloads, and the grid of slide cards.
//
// State is the last BatchStatus seen plus the slides by id; every server message (snapshot,
// slide event, batch event, an action's answer) is merged in and the affected parts redrawn.
// Cards are updated in place so keyboard focus survives live updates.

import { LiveBatch } from "./live.js";
import {
  ACTIVE_SLIDE_STATES,
  FINAL_BATCH_STATES,
  cssRatio,
  formatSeconds,
  slideCostText,
  spendOf,
  spendText,
  statusLabel,
} from "./format.js";

// What a batch or a pending slide waits for (the server's ``waiting_for``), in its words.
const WAIT_WORDS = {
  rate_limit: "waiting for the rate limit, next start in",
  quota: "waiting for the upstream quota to reset, next start in",
  blocked: "the upstream asked for a wait longer than the pause cap: credential blocked, next try in",
};

// Between server updates the countdowns tick locally once a second.
const TICK_MS = 1000;

const LIVE_LABELS = {
  connecting: "Connecting…",
  live: "● Live",
  reconnecting: "Reconnecting…",
  finished: "",
  closed: "",
  error: "Disconnected",
};

export class BatchView {
  constructor(api, callbacks) {
    this.api = api;
    this.callbacks = callbacks; // {onOpenSlide(slideId), onChange(batch), onError(message)}
    this.batch = null;
    this.slides = new Map();
    this.cards = new Map();
    this.live = null;
    // When the server's last countdown figures (next_start_in, remaining time) arrived, on
    // performance.now()'s clock: the page counts them down from there until the next update.
    this.figuresAt = performance.now();
    this.ticker = null;
    this.el = {
      section: byId("batch-view"),
      heading: byId("batch-heading"),
      status: byId("batch-status"),
      counts: byId("batch-counts"),
      liveState: byId("live-state"),
      progress: byId("batch-progress"),
      eta: byId("batch-eta"),
      grid: byId("slide-grid"),
      cancel: byId("cancel-batch"),
      retry: byId("retry-batch"),
      remove: byId("delete-batch"),
      downloads: [byId("dl-pptx"), byId("dl-pdf"), byId("dl-zip")],
    };
    this.el.cancel.addEventListener("click", () => this.action("cancel"));
    this.el.retry.addEventListener("click", () => this.action("retry"));
    this.el.remove.addEventListener("click", () => this.remove());
  }

  /** Delete the batch with its images, after asking; the panel closes. */
  async remove() {
    const id = this.batchId;
    if (!id || !window.confirm("Delete this batch and its images? This cannot be undone.")) return;
    this.el.remove.disabled = true;
    try {
      await this.api.request("DELETE", `/api/slide/batch/${encodeURIComponent(id)}`);
      if (this.live) this.live.close();
      this.batch = null;
      this.el.section.hidden = true;
      this.callbacks.onChange(null);
    } catch (err) {
      this.callbacks.onError(`Could not delete the batch: ${err.message}`);
    } finally {
      this.el.remove.disabled = false;
    }
  }

  get batchId() {
    return this.batch ? this.batch.batch_id : null;
  }

  /** Show a batch (replacing any other) and follow it live. */
  show(batchId, initial = null) {
    if (this.live) this.live.close();
    this.batch = { batch_id: batchId, status: "queued", progress: 0, results: [] };
    this.slides.clear();
    this.cards.clear();
    this.el.grid.replaceChildren();
    this.el.section.hidden = false;
    if (initial) this.applySnapshot(initial);
    else this.render();
    this.startTicking();
    this.live = new LiveBatch(this.api, batchId, {
      onSnapshot: (data) => this.applySnapshot(data),
      onSlide: (data) => this.applySlideEvent(data),
      onBatch: (data) => this.applyBatchEvent(data),
      onState: (state, err) => this.setLiveState(state, err),
    });
    this.live.open();
  }

  /** Follow the batch again after an action revived it (regenerate, retry). */
  ensureLive() {
    if (this.live && !this.live.isOpen) this.live.open();
  }

  slide(slideId) {
    return this.slides.get(slideId) || null;
  }

  /** Count the batch's and the waiting cards' figures down locally, once a second. */
  startTicking() {
    if (this.ticker !== null) return;
    this.ticker = window.setInterval(() => this.tick(), TICK_MS);
  }

  tick() {
    if (!this.batch || FINAL_BATCH_STATES.has(this.batch.status)) return;
    this.el.eta.textContent = etaText(this.batch, this.shownProgress(), this.left());
    for (const slide of this.slides.values()) {
      if (slide.state === "pending") this.renderCard(slide);
    }
  }

  /** ``seconds`` as the server said them, less the time since it said them. */
  left() {
    const elapsed = (performance.now() - this.figuresAt) / 1000;
    return (seconds) => Math.max(0, Number(seconds) - elapsed);
  }

  shownProgress() {
    return Math.max(0, Math.min(1, Number(this.batch.progress) || 0));
  }

  /** What a pending slide waits for: its own figures, else its batch's. */
  waitText(slide) {
    const kind = slide.waiting_for || this.batch.waiting_for;
    const seconds = slide.waiting_for ? slide.next_start_in : this.batch.next_start_in;
    if (!kind || seconds === null || seconds === undefined) return null;
    return `${WAIT_WORDS[kind] || WAIT_WORDS.rate_limit} ${Math.ceil(this.left()(seconds))} s`;
  }

  applySnapshot(status) {
    if (!status || status.batch_id !== this.batchId) return;
    this.figuresAt = performance.now();
    this.batch = { ...this.batch, waiting_for: null, next_start_in: null, ...status };
    for (const result of status.results || []) this.putSlide(result);
    this.render();
    this.finishIfDone();
  }

  applySlideEvent(data) {
    if (!data || data.batch_id !== this.batchId || !data.slide) return;
    const update = {};
    const keys = [
      "progress",
      "completed_slides",
      "total_slides",
      "estimated_remaining_time",
      "waiting",
      "next_start_in",
      "waiting_for_quota",
    ];
    for (const key of keys) {
      if (key in data) update[key] = data[key];
    }
    if ("estimated_remaining_time" in data) {
      this.figuresAt = performance.now();
      update.waiting_for = data.waiting_for ?? null;
    }
    this.batch = { ...this.batch, ...update };
    if (this.batch.status === "queued" || FINAL_BATCH_STATES.has(this.batch.status)) {
      // A slide moving again means the batch is running (also after a regenerate).
      if (ACTIVE_SLIDE_STATES.has(data.slide.state || data.slide.status)) this.batch.status = "running";
    }
    this.putSlide(data.slide);
    this.recount();
    this.render();
  }

  applyBatchEvent(data) {
    if (!data || data.batch_id !== this.batchId) return;
    this.figuresAt = performance.now();
    this.batch = { ...this.batch, ...data };
    if (FINAL_BATCH_STATES.has(data.status)) this.batch.estimated_remaining_time = null;
    this.render();
    this.callbacks.onChange(this.batch);
  }

  /** Merge a SlideResult (from an event or an action's answer) and redraw its card. */
  putSlide(result) {
    const previous = this.slides.get(result.slide_id) || {};
    // The waiting fields are present only while the slide waits: an answer without them ends it.
    const slide = { ...previous, waiting_for: null, next_start_in: null, ...result };
    slide.state = result.state || result.status || previous.state || "pending";
    this.slides.set(slide.slide_id, slide);
    this.renderCard(slide);
    this.callbacks.onSlideChange?.(slide);
  }

  finishIfDone() {
    if (!this.live || !FINAL_BATCH_STATES.has(this.batch.status)) return;
    const active = [...this.slides.values()].some((s) => ACTIVE_SLIDE_STATES.has(s.state));
    if (!active) {
      this.live.close("finished");
      this.callbacks.onChange(this.batch);
    }
  }

  recount() {
    const slides = [...this.slides.values()];
    if (!slides.length) return;
    const done = slides.filter((s) => s.state === "done").length;
    const failed = slides.filter((s) => s.state === "error").length;
    this.batch.successful = done;
    this.batch.failed = failed;
    this.finishIfDone();
  }

  async action(name) {
    const id = this.batchId;
    if (!id) return;
    const button = name === "cancel" ? this.el.cancel : this.el.retry;
    button.disabled = true;
    try {
      const status = await this.api.post(`/api/slide/batch/${encodeURIComponent(id)}/${name}`);
      this.applySnapshot(status);
      if (name === "retry") this.ensureLive();
    } catch (err) {
      this.callbacks.onError(`Could not ${name} the batch: ${err.message}`);
    } finally {
      this.renderActions();
    }
  }

  setLiveState(state, err) {
    this.el.liveState.textContent = LIVE_LABELS[state] ?? "";
    this.el.liveState.dataset.state = state;
    if (state === "error" && err) this.callbacks.onError(`Live updates stopped: ${err.message}`);
  }

  // ---- rendering -------------------------------------------------------------------

  render() {
    const b = this.batch;
    this.el.heading.textContent = b.title || `Batch ${shortId(b.batch_id)}`;
    this.el.status.textContent =
      b.status === "queued" && b.queue_position ? `Queued (#${b.queue_position})` : statusLabel(b.status);
    this.el.status.dataset.status = b.status;
    this.el.grid.style.setProperty("--ratio", cssRatio(b.aspect_ratio));
    const total = b.total_slides ?? this.slides.size;
    const done = b.successful ?? countState(this.slides, "done");
    const failed = b.failed ?? countState(this.slides, "error");
    const parts = [`${done} of ${total} done`];
    if (failed) parts.push(`${failed} failed`);
    if (b.max_workers) parts.push(`${b.max_workers} workers`);
    const spend = spendOf(this.slides.values());
    if (spend.total !== null) parts.push(`spent ${spendText(spend.total, spend.estimated, spend.unknown)}`);
    else if (spend.unknown) parts.push("cost unknown");
    this.el.counts.textContent = parts.join(" · ");
    const progress = this.shownProgress();
    this.el.progress.value = Math.round(progress * 1000) / 10;
    this.el.progress.textContent = `${Math.round(progress * 100)}%`;
    this.el.eta.textContent = etaText(b, progress, this.left());
    this.renderActions();
  }

  renderActions() {
    const b = this.batch;
    const final = FINAL_BATCH_STATES.has(b.status);
    this.el.cancel.disabled = final;
    const failed = (b.failed ?? 0) > 0 || countState(this.slides, "error") > 0;
    const cancelled = countState(this.slides, "cancelled") > 0;
    this.el.retry.disabled = !(failed || (final && cancelled));
    const anyDone = (b.successful ?? 0) > 0 || countState(this.slides, "done") > 0;
    for (const link of this.el.downloads) {
      const format = link.dataset.format;
      if (anyDone) {
        link.href = this.api.url(`/api/slide/batch/${encodeURIComponent(b.batch_id)}/export.${format}`);
        link.setAttribute("download", "");
        link.removeAttribute("aria-disabled");
        link.classList.remove("disabled");
        link.title = `Download ${format.toUpperCase()}`;
      } else {
        link.removeAttribute("href");
        link.removeAttribute("download");
        link.setAttribute("aria-disabled", "true");
        link.classList.add("disabled");
        link.title = "Available once a slide is done";
      }
    }
  }

  renderCard(slide) {
    let card = this.cards.get(slide.slide_id);
    if (!card) {
      card = buildCard(slide, () => this.callbacks.onOpenSlide(slide.slide_id));
      this.cards.set(slide.slide_id, card);
      insertByPage(this.el.grid, card.root, slide.page_num);
    }
    const { root, thumb, title, page, badge, timing, error, placeholder } = card;
    root.dataset.state = slide.state;
    root.dataset.page = String(slide.page_num ?? "");
    page.textContent = slide.page_num ?? "";
    title.textContent = slide.title || "(untitled)";
    badge.textContent = statusLabel(slide.state);
    badge.dataset.status = slide.state;
    const bits = [];
    if (slide.generation_time !== null && slide.generation_time !== undefined && slide.state === "done") {
      bits.push(formatSeconds(slide.generation_time));
    }
    if (slide.attempts > 1) bits.push(`${slide.attempts} attempts`);
    const cost = slideCostText(slide);
    if (cost) bits.push(cost);
    timing.textContent = bits.join(" · ");
    placeholder.hidden = !slide.placeholder;
    error.hidden = !slide.error_message || slide.state === "done";
    error.textContent = slide.error_message || "";
    thumb.button.setAttribute(
      "aria-label",
      `Slide ${slide.page_num ?? ""}: ${slide.title || ""}. ${statusLabel(slide.state)}. Open details`,
    );
    const busy = ACTIVE_SLIDE_STATES.has(slide.state);
    let src = slide.image_url ? imageSrc(this.api, slide) : "";
    if (src && thumb.img.dataset.src !== src) {
      thumb.img.dataset.src = src;
      thumb.img.src = src;
      thumb.img.alt = `Slide ${slide.page_num ?? ""}: ${slide.title || ""}`;
    }
    // A slide being made again keeps showing its old image (dimmed) until the new one comes.
    if (!src && busy) src = thumb.img.dataset.src || "";
    const wait = slide.state === "pending" ? this.waitText(slide) : null;
    thumb.img.hidden = !src;
    thumb.empty.hidden = Boolean(src) && !busy;
    thumb.empty.textContent =
      slide.state === "error" ? "No image" : wait || `${statusLabel(slide.state)}…`;
    thumb.button.classList.toggle("busy", busy);
    thumb.button.classList.toggle("has-image", Boolean(src));
  }
}

/** The URL of a slide's image, with the key if any.
 *
 * The server names image files by content hash, so a regenerated image has a new URL and
 * the browser's cache never shows a stale picture: no cache-busting parameter needed.
 */
export function imageSrc(api, slide) {
  return api.url(slide.image_url);
}

function buildCard(slide, onOpen) {
  const root = el("li", "card");
  root.dataset.slideId = slide.slide_id;
  root.dataset.page = String(slide.page_num ?? "");
  const button = el("button", "thumb");
  button.type = "button";
  const img = el("img");
  img.hidden = true;
  const empty = el("span", "thumb-empty");
  button.append(img, empty);
  button.addEventListener("click", onOpen);

  const body = el("div", "card-body");
  const head = el("div", "card-head");
  const page = el("span", "page-num");
  const title = el("h3", "card-title");
  title.dir = "auto"; // Arabic and Hebrew titles read from the right
  head.append(page, title);
  const meta = el("p", "card-meta");
  const badge = el("span", "badge");
  const timing = el("span", "timing");
  const placeholder = el("span", "badge badge-warn");
  placeholder.textContent = "Placeholder";
  placeholder.title = "Rendered locally because the image model failed";
  placeholder.hidden = true;
  meta.append(badge, timing, placeholder);
  const error = el("p", "error-text");
  error.hidden = true;
  const actions = el("div", "card-actions");
  const edit = el("button", "btn btn-small btn-secondary");
  edit.type = "button";
  edit.textContent = "Edit & regenerate";
  edit.addEventListener("click", onOpen);
  actions.append(edit);
  body.append(head, meta, error, actions);
  root.append(button, body);
  return { root, thumb: { button, img, empty }, title, page, badge, timing, error, placeholder };
}

function insertByPage(grid, node, pageNum) {
  const page = Number(pageNum) || 0;
  for (const child of grid.children) {
    if ((Number(child.dataset.page) || 0) > page) {
      grid.insertBefore(node, child);
      return;
    }
  }
  grid.append(node);
}

function etaText(batch, progress, left) {
  if (FINAL_BATCH_STATES.has(batch.status)) {
    return batch.total_time ? `Finished in ${formatSeconds(batch.total_time)}` : "";
  }
  if (batch.status === "queued") return "Waiting for a free slot…";
  const eta = batch.estimated_remaining_time;
  // "waiting for the rate limit, next start in 12 s": said as the server says it.
  const quota = batch.waiting_for_quota;
  if (quota && quota.until) {
    // The upstream's quota is spent: nothing runs before it resets (no attempt is paid).
    const when = new Date(quota.until).toLocaleString();
    return `${Math.round(progress * 100)}% · waiting for the upstream's quota until ${when}`;
  }
  let waiting = batch.waiting ? ` · ${batch.waiting}` : "";
  if (batch.waiting && batch.waiting_for && Number.isFinite(batch.next_start_in)) {
    const words = WAIT_WORDS[batch.waiting_for] || WAIT_WORDS.rate_limit;
    waiting = ` · ${words} ${Math.ceil(left(batch.next_start_in))} s`;
  }
  if (eta !== null && eta !== undefined && Number.isFinite(eta)) {
    return `${Math.round(progress * 100)}%${waiting} · about ${formatSeconds(left(eta))} left`;
  }
  return `${Math.round(progress * 100)}%${waiting}`;
}

function countState(slides, state) {
  let n = 0;
  for (const slide of slides.values()) if (slide.state === state) n += 1;
  return n;
}

function shortId(id) {
  return String(id || "").slice(0, 8);
}

function byId(id) {
  return document.getElementById(id);
}

function el(tag, className) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  return node;
}
