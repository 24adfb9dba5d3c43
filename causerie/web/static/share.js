// The open conversation's share dialog: a read-only link (a snapshot) and the downloads.

import { copyText, postJSON, root, t } from "./api.js";

export function setupShare(conversationId) {
  const button = document.querySelector("[data-testid=share]");
  const dialog = document.querySelector("[data-testid=share-dialog]");
  if (!button || !dialog) return;
  const create = dialog.querySelector("[data-testid=share-create]");
  const row = dialog.querySelector("[data-testid=share-link]");
  const url = dialog.querySelector("[data-testid=share-url]");
  const status = dialog.querySelector("[data-testid=share-status]");
  const revoke = dialog.querySelector("[data-testid=share-revoke]");
  let token = null;

  button.addEventListener("click", () => {
    if (!conversationId()) return;
    dialog.showModal();
  });
  create.addEventListener("click", async () => {
    const created = await postJSON(`/c/${encodeURIComponent(conversationId())}/share`);
    token = created.token;
    url.value = new URL(created.url, location.origin).href;
    status.textContent = "";
    row.hidden = false;
    revoke.disabled = false;
    url.focus();
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

// Show the share button, and point the downloads at a conversation created on this page.
export function showConversationActions(id) {
  const actions = document.querySelector("[data-testid=conversation-actions]");
  if (!actions) return;
  actions.hidden = false;
  const base = `${root}/c/${encodeURIComponent(id)}`;
  document.querySelector("[data-testid=export-md]").href = `${base}/export.md`;
  document.querySelector("[data-testid=export-json]").href = `${base}/export.json`;
}
