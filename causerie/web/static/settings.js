// The chat settings dialog (system prompt and sampling of the open conversation) and the
// custom instructions dialog (for every conversation).

import { postJSON, t } from "./api.js";

function setupDialog(opener, dialog, save) {
  if (!opener || !dialog) return;
  const form = dialog.querySelector("form");
  const status = dialog.querySelector("[role=status]");
  opener.addEventListener("click", () => {
    status.textContent = "";
    dialog.showModal();
  });
  dialog.querySelector("[data-close]").addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await save(new FormData(form));
      status.textContent = t.saved;
    } catch (error) {
      status.textContent = error.message;
    }
  });
}

const number = (value) => (value === "" || value === null ? null : Number(value));

export function setupSettings(conversationId) {
  setupDialog(
    document.querySelector("[data-testid=open-instructions]"),
    document.querySelector("[data-testid=instructions-dialog]"),
    (data) =>
      postJSON("/preferences/instructions", {
        text: data.get("text"),
        private_names: data.get("private_names"),
      }),
  );
  setupDialog(
    document.querySelector("[data-testid=open-settings]"),
    document.querySelector("[data-testid=settings-dialog]"),
    (data) =>
      postJSON(`/c/${encodeURIComponent(conversationId())}/settings`, {
        system_prompt: data.get("system_prompt"),
        temperature: number(data.get("temperature")),
        top_p: number(data.get("top_p")),
        max_tokens: number(data.get("max_tokens")),
      }),
  );
}
