// The open conversation's share link (a read-only snapshot) and downloads.

import { copyText, postJSON, root, t } from "./api.js";

export function setupShare(conversationId) {
  const button = document.querySelector("[data-testid=share]");
  const dialog = document.querySelector("[data-testid=share-dialog]");
  if (!button || !dialog) return;
  const url = dialog.querySelector("[data-testid=share-url]");
  const status = dialog.querySelector("[data-testid=share-status]");
  const revoke = dialog.querySelector("[data-testid=share-revoke]");
  let token = null;

  button.addEventListener("click", async () => {
    const id = conversationId();
    if (!id) return;
    const created = await postJSON(`/c/${encodeURIComponent(id)}/share`);
    token = created.token;
    url.value = new URL(created.url, location.origin).href;
    status.textContent = "";
    revoke.disabled = false;
    dialog.showModal();
    url.select();
  });
  dialog.querySelector("[data-testid=share-copy]").addEventListener("click", (event) =>
    copyText(url.value, event.currentTarget),
  );
  revoke.addEventListener("click", async () => {
    await postJSON(`/c/${encodeURIComponent(conversationId())}/share/revoke`, { token });
    status.textContent = t.unshared;
    revoke.disabled = true;
  });
}

// Show the share and download controls once a new conversation exists.
export function showConversationActions(id) {
  const actions = document.querySelector("[data-testid=conversation-actions]");
  if (!actions) return;
  actions.hidden = false;
  const base = `${root}/c/${encodeURIComponent(id)}`;
  actions.querySelector("[data-testid=export-md]").href = `${base}/export.md`;
  actions.querySelector("[data-testid=export-json]").href = `${base}/export.json`;
}
