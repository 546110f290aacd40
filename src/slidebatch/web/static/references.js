// Reference images for a batch: files picked in the page, sent inline as data URLs.
// The server checks them (PNG, JPEG or WebP; at most 4, 5 MB each) and answers why not.

export const MAX_REFERENCES = 4;

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error || new Error(`could not read ${file.name}`));
    reader.readAsDataURL(file);
  });
}

// A style prompt derived from the picked files (POST /api/template/analyze: the server's chat
// model, or its offline palette reading); null when no file is picked.
export async function derivedStyle(api, input) {
  const files = Array.from(input?.files || []).slice(0, MAX_REFERENCES);
  if (!files.length) return null;
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  const answer = await api.request("POST", "/api/template/analyze", form);
  return answer?.style_prompt ?? null;
}

// The request fields for the picked files and the anchor box ({} when neither is set).
export async function referenceFields(input, anchorBox) {
  const files = Array.from(input?.files || []).slice(0, MAX_REFERENCES);
  const fields = {};
  if (files.length) fields.reference_images = await Promise.all(files.map(readAsDataUrl));
  if (anchorBox?.checked) fields.anchor = true;
  return fields;
}
