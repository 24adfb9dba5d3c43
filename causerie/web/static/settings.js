// The chat settings dialog (system prompt and sampling of the open conversation) and the
// custom instructions dialog (for every conversation).

import { getJSON, postJSON, t } from "./api.js";

// ``load`` (optional) fills the form before the dialog shows, so nothing typed is overwritten;
// if it fails, the dialog says why and cannot save (blanks never overwrite what is stored).
export function setupDialog(opener, dialog, save, load = null) {
  if (!opener || !dialog) return;
  const form = dialog.querySelector("form");
  const status = dialog.querySelector("[role=status]");
  const submit = form.querySelector("[type=submit]");
  opener.addEventListener("click", async () => {
    status.textContent = "";
    if (load) {
      try {
        await load(form);
        submit.disabled = false;
      } catch (error) {
        submit.disabled = true;
        status.textContent = error.message;
      }
    }
    dialog.showModal();
  });
  dialog.querySelector("[data-close]").addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (submit.disabled) return;
    try {
      await save(new FormData(form));
      status.textContent = t.saved;
    } catch (error) {
      status.textContent = error.message;
    }
  });
}

async function loadInstructions(form) {
  const stored = await getJSON("/preferences/instructions");
  form.elements.text.value = stored.text;
  form.elements.private_names.value = stored.private_names.join("\n");
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
    loadInstructions,
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
        documents: data.get("documents") || "auto",
      }),
  );
}
