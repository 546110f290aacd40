// A slide's candidates: after "regenerate" with several candidates, the images each round
// made, shown as thumbnails in the slide dialog; "Use this" picks one as the slide's image
// (POST .../candidates/{n}/pick); the others stay until the batch is deleted.

export const MAX_CANDIDATES = 4;

function candidatesPath(batchId, slideId) {
  return (
    `/api/slide/batch/${encodeURIComponent(batchId)}` +
    `/slides/${encodeURIComponent(slideId)}/candidates`
  );
}

export class CandidatePicker {
  /**
   * @param api the page's Api
   * @param section the <section> holding the list (hidden when the slide has none)
   * @param list the <ol> the thumbnails go in
   * @param onPicked called with the slide answer after a pick (to refresh card and dialog)
   * @param onError called with (what, error) when listing or picking fails
   */
  constructor(api, section, list, onPicked, onError) {
    this.api = api;
    this.section = section;
    this.list = list;
    this.onPicked = onPicked;
    this.onError = onError;
    this.shown = "";
    this.asked = 0;
  }

  /** Forget what is shown (another slide opened, or the dialog closed). */
  clear() {
    this.shown = "";
    this.asked += 1;
    this.list.replaceChildren();
    this.section.hidden = true;
  }

  /** List the slide's candidates again; nothing changes on screen when they did not. */
  async refresh(batchId, slideId) {
    const ask = ++this.asked;
    let data;
    try {
      data = await this.api.get(candidatesPath(batchId, slideId));
    } catch (err) {
      if (ask === this.asked) this.onError("The slide's candidates could not be listed", err);
      return;
    }
    if (ask !== this.asked) return; // a newer refresh (or another slide) won
    const found = data?.candidates || [];
    const key = JSON.stringify(found);
    if (key === this.shown) return;
    this.shown = key;
    this.list.replaceChildren(...found.map((c) => this.item(batchId, slideId, c)));
    this.section.hidden = found.length < 2;
  }

  item(batchId, slideId, candidate) {
    const li = document.createElement("li");
    li.className = "candidate";
    li.dataset.n = String(candidate.n);
    li.dataset.chosen = String(Boolean(candidate.chosen));
    const img = document.createElement("img");
    img.src = this.api.url(candidate.image_url);
    img.alt = `Candidate ${candidate.n}`;
    img.loading = "lazy";
    const pick = document.createElement("button");
    pick.type = "button";
    pick.className = "btn btn-small btn-secondary";
    pick.textContent = `Use candidate ${candidate.n}`;
    pick.setAttribute("aria-pressed", String(Boolean(candidate.chosen)));
    pick.addEventListener("click", () => this.pick(batchId, slideId, candidate.n, pick));
    li.append(img, pick);
    if (candidate.chosen) li.append(Object.assign(document.createElement("span"), {
      className: "hint",
      textContent: "shown",
    }));
    return li;
  }

  async pick(batchId, slideId, n, button) {
    button.disabled = true;
    try {
      const answer = await this.api.post(`${candidatesPath(batchId, slideId)}/${n}/pick`);
      if (answer) this.onPicked(answer);
      await this.refresh(batchId, slideId);
    } catch (err) {
      this.onError("The candidate could not be picked", err);
    } finally {
      button.disabled = false;
    }
  }
}
