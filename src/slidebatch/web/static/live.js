// Live updates of one batch over Server-Sent Events.
//
// The server opens every stream with a "snapshot" of the whole batch, so a reconnect (the
// browser's own, or ours after a hard failure) needs no bookkeeping: the view re-renders
// from the snapshot. There is no polling loop; the only timer is the back-off before a
// manual reconnect when the browser has given up on the stream.

import { ApiError } from "./api.js";
import { FINAL_BATCH_STATES } from "./format.js";

const MAX_BACKOFF_MS = 30000;

export class LiveBatch {
  /**
   * @param {import("./api.js").Api} api
   * @param {string} batchId
   * @param {{onSnapshot: Function, onSlide: Function, onBatch: Function, onState: Function}} handlers
   */
  constructor(api, batchId, handlers) {
    this.api = api;
    this.batchId = batchId;
    this.handlers = handlers;
    this.source = null;
    this.retryTimer = null;
    this.failures = 0;
    this.stopped = false;
  }

  get isOpen() {
    return this.source !== null || this.retryTimer !== null;
  }

  open() {
    this.stopped = false;
    if (this.source) return;
    const url = this.api.url(`/api/slide/batch/${encodeURIComponent(this.batchId)}/events`);
    const source = new EventSource(url);
    this.source = source;
    this.handlers.onState("connecting");
    source.addEventListener("open", () => {
      this.failures = 0;
      this.handlers.onState("live");
    });
    source.addEventListener("snapshot", (event) => this.handlers.onSnapshot(parse(event)));
    source.addEventListener("slide", (event) => this.handlers.onSlide(parse(event)));
    source.addEventListener("batch", (event) => {
      const data = parse(event);
      this.handlers.onBatch(data);
      // The server ends the stream after the final event; closing first stops the
      // browser from reconnecting to a batch that has nothing more to say.
      if (data && FINAL_BATCH_STATES.has(data.status)) this.close("finished");
    });
    source.addEventListener("error", () => this.onError(source));
  }

  /** Stop listening; `reason` is reported to the view ("finished", "closed"). */
  close(reason = "closed") {
    this.stopped = true;
    if (this.retryTimer !== null) {
      window.clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    if (this.source) {
      this.source.close();
      this.source = null;
    }
    this.handlers.onState(reason);
  }

  onError(source) {
    if (this.stopped || source !== this.source) return;
    if (source.readyState === EventSource.CONNECTING) {
      // The browser reconnects by itself; the next snapshot brings us up to date.
      this.handlers.onState("reconnecting");
      return;
    }
    // CLOSED: the browser gave up (e.g. an HTTP error answer). Find out why before retrying.
    this.source = null;
    this.failures += 1;
    this.handlers.onState("reconnecting");
    this.checkThenRetry();
  }

  async checkThenRetry() {
    try {
      const status = await this.api.get(`/api/slide/batch/${encodeURIComponent(this.batchId)}`);
      if (this.stopped) return;
      this.handlers.onSnapshot(status);
    } catch (err) {
      if (this.stopped) return;
      if (err instanceof ApiError && err.status >= 400 && err.status < 500) {
        this.close("error");
        this.handlers.onState("error", err);
        return;
      }
    }
    if (this.stopped) return;
    const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(this.failures - 1, 5));
    this.retryTimer = window.setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopped) this.open();
    }, delay);
  }
}

function parse(event) {
  try {
    return JSON.parse(event.data);
  } catch {
    return null;
  }
}
