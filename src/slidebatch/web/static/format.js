// Small pure formatting helpers shared by the views.

export const FINAL_BATCH_STATES = new Set([
  "completed",
  "completed_with_errors",
  "failed",
  "cancelled",
]);
export const ACTIVE_SLIDE_STATES = new Set(["pending", "generating"]);

const STATUS_LABELS = {
  queued: "Queued",
  running: "Running",
  completed: "Completed",
  completed_with_errors: "Completed with errors",
  failed: "Failed",
  cancelled: "Cancelled",
  pending: "Waiting",
  generating: "Generating",
  done: "Done",
  error: "Failed",
};

/** A human label for a batch or slide state. */
export function statusLabel(status) {
  return STATUS_LABELS[status] || String(status || "unknown");
}

/** Seconds as "0.8 s", "12 s", "2 min 05 s", "1 h 03 min". */
export function formatSeconds(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "";
  const s = Math.max(0, seconds);
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) {
    const m = Math.floor(s / 60);
    return `${m} min ${String(Math.round(s % 60)).padStart(2, "0")} s`;
  }
  const h = Math.floor(s / 3600);
  return `${h} h ${String(Math.round((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** An ISO timestamp as a short local date and time. */
export function formatTimestamp(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** "16:9" -> "16 / 9" for the CSS aspect-ratio property; a safe default otherwise. */
export function cssRatio(aspect) {
  const match = /^\s*(\d+(?:\.\d+)?)\s*[:x/]\s*(\d+(?:\.\d+)?)\s*$/.exec(String(aspect || ""));
  if (!match || Number(match[1]) <= 0 || Number(match[2]) <= 0) return "16 / 9";
  return `${match[1]} / ${match[2]}`;
}

/** True when the text is a W:H ratio the server may accept (it has the final word). */
export function isRatio(text) {
  return /^\s*\d+(?:\.\d+)?\s*[:x/]\s*\d+(?:\.\d+)?\s*$/.test(String(text || ""));
}

/** A random key for the Idempotency-Key header; crypto.randomUUID needs a secure context. */
export function randomKey() {
  if (window.crypto && typeof window.crypto.randomUUID === "function") {
    return window.crypto.randomUUID();
  }
  const bytes = new Uint8Array(16);
  window.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Guess whether deck text is JSON or Markdown from its first character. */
export function detectFormat(text) {
  const first = String(text || "").trimStart().charAt(0);
  return first === "{" || first === "[" ? "json" : "markdown";
}

/** US dollars as "$0.134", "$12.50"; "" for null (no price reported). */
export function formatCost(usd) {
  if (usd === null || usd === undefined || !Number.isFinite(Number(usd))) return "";
  const value = Number(usd);
  if (value === 0) return "$0";
  return value < 1 ? `$${value.toPrecision(3).replace(/0+$/, "").replace(/\.$/, "")}` : `$${value.toFixed(2)}`;
}

/**
 * What images cost, in the CLI's words (core.cost.Spend.text): "$0.4", "$0.05 (estimated)",
 * "$0.15 ($0.05 of it estimated)", "at least $0.05, 2 costs unknown", "cost unknown".
 *
 * `total`: USD as far as known (null: no image has a figure); `estimated`: the USD of it that
 * is the model's price (images found on disk after a crash, their answer lost), or `true`
 * when only that it holds an estimate is known (a listed batch's cost_estimated): then the
 * total reads "(estimated)"; `unknown`: images drawn whose price nobody reported (the total
 * is then a lower bound). The offline renderer's 0 is a price: "$0".
 */
export function spendText(total, estimated = 0, unknown = 0) {
  if (total === null || total === undefined) return "cost unknown";
  let money = formatCost(total);
  if (estimated === true) {
    money += " (estimated)";
  } else if (Number(estimated) > 0) {
    const whole = Math.abs(Number(estimated) - Number(total)) < 1e-9;
    money += whole ? " (estimated)" : ` (${formatCost(estimated)} of it estimated)`;
  }
  if (!unknown) return money;
  return `at least ${money}, ${unknown} cost${unknown === 1 ? "" : "s"} unknown`;
}

/** The spend of the slides in a map or list, as `spendText` takes it: the sum of what each
 * spent (every paid image, replaced ones too; its latest image's cost where no spent is
 * given; null when none has a price), the part of it that is estimated, and the slides drawn
 * (done, not a placeholder) without a price. As the CLI's bar and summary count them. */
export function spendOf(slides) {
  let total = null;
  let estimated = 0;
  let unknown = 0;
  for (const slide of slides) {
    const paid = slide.spent ?? slide.cost;
    if (paid !== null && paid !== undefined) {
      total = (total || 0) + Number(paid);
      if (slide.cost_estimated) estimated += Number(paid);
    } else if (slide.state === "done" && !slide.placeholder) {
      unknown += 1;
    }
  }
  return { total, estimated, unknown };
}

/** A slide's own price for its card and dialog: its latest image's cost ("(estimated)" when
 * that is the model's price), "cost unknown" for a drawn image without one, else "". */
export function slideCostText(slide) {
  if (slide.cost !== null && slide.cost !== undefined) {
    return spendText(slide.cost, slide.cost_estimated ? Number(slide.cost) : 0);
  }
  return slide.state === "done" && !slide.placeholder ? "cost unknown" : "";
}
