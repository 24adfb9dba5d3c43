// Citations: a reply's [n] (rendered by the server as <sup class="citation" data-source="n">)
// and its numbered sources list open the cited passage in a dialog, within its page, the
// passage highlighted. The page's text is inserted as text, never as HTML.

import { getJSON, t } from "./api.js";

const dialog = document.querySelector("[data-testid=source-dialog]");

export function sourceTarget(target) {
  const citation = target.closest("sup.citation[data-source]");
  if (citation) {
    const message = citation.closest("[data-testid=message]");
    return message?.querySelector(`.sources li[data-source="${citation.dataset.source}"] button`);
  }
  return target.closest("button[data-action=open-source]");
}

export async function openSource(button) {
  if (!dialog || !button) return;
  const title = dialog.querySelector("[data-testid=source-title]");
  const text = dialog.querySelector("[data-testid=source-text]");
  title.textContent = button.textContent.trim();
  text.replaceChildren();
  try {
    const fileId = encodeURIComponent(button.dataset.fileId);
    const passage = await getJSON(`/api/files/${fileId}/passages/${button.dataset.position}`);
    const mark = document.createElement("mark");
    mark.dataset.testid = "source-passage";
    mark.textContent = passage.page_text.slice(passage.start, passage.end);
    text.append(passage.page_text.slice(0, passage.start), mark, passage.page_text.slice(passage.end));
    dialog.showModal();
    mark.scrollIntoView({ block: "center" });
  } catch {
    text.textContent = t.source_unavailable;
    dialog.showModal();
  }
}
