// Files in the composer: attached by the button, by dropping them on the page or by pasting
// them; uploaded at once (with the upload's progress), then followed through their reading
// (waiting, reading, searchable, indexing n/m, ready, or why not) until they are ready. A
// file can be removed at any time: an upload under way is aborted, a stored one deleted (which
// also stops its reading). A conversation's files are listed again when it is reopened. A new
// chat's files are sent with its first message, which attaches them. A project's page lists
// and adds the project's files the same way (``projectId``).

import { csrfToken, errorText, getJSON, root, t } from "./api.js";

const POLL_MS = 700;
const FINAL = new Set(["ready", "no_text", "failed"]);
const BUSY = new Set(["uploading", "pending", "extracting"]);

export function setupAttachments({ composer, conversationId, projectId = null, onChange }) {
  const list = composer.querySelector("[data-testid=attachments]");
  const button = composer.querySelector("[data-testid=attach]");
  const picker = composer.querySelector("[data-testid=attach-input]");
  if (!list || !button || !picker) return null;
  const items = new Map(); // chip -> {id, status, xhr}

  button.addEventListener("click", () => picker.click());
  picker.addEventListener("change", () => {
    addFiles(picker.files);
    picker.value = "";
  });
  composer.addEventListener("paste", (event) => {
    const files = event.clipboardData?.files;
    if (files?.length) {
      event.preventDefault();
      addFiles(files);
    }
  });
  const dropZone = projectId ? composer : document.querySelector("[data-testid=thread]") || composer;
  for (const zone of new Set([dropZone, composer])) {
    zone.addEventListener("dragover", (event) => {
      if (!event.dataTransfer?.types.includes("Files")) return;
      event.preventDefault();
      event.stopPropagation(); // a project's files box is inside the thread: one upload, not two
      composer.classList.add("dropping");
    });
    zone.addEventListener("dragleave", () => composer.classList.remove("dropping"));
    zone.addEventListener("drop", (event) => {
      if (!event.dataTransfer?.files.length) return;
      event.preventDefault();
      event.stopPropagation();
      composer.classList.remove("dropping");
      addFiles(event.dataTransfer.files);
    });
  }

  function addFiles(files) {
    for (const file of files) upload(file);
  }

  function chipFor(name) {
    const chip = document.createElement("li");
    chip.className = "attachment";
    chip.dataset.testid = "attachment";
    const label = document.createElement("span");
    label.className = "attachment-name";
    label.textContent = name;
    const state = document.createElement("span");
    state.className = "attachment-status";
    state.dataset.testid = "attachment-status";
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "attachment-remove";
    remove.dataset.testid = "attachment-remove";
    remove.setAttribute("aria-label", `${t.remove_file} ${name}`);
    remove.textContent = "✕";
    remove.addEventListener("click", () => discard(chip));
    chip.append(label, state, remove);
    list.append(chip);
    list.hidden = false;
    return chip;
  }

  function show(chip, status, text) {
    const item = items.get(chip);
    if (item) item.status = status;
    chip.dataset.status = status;
    chip.querySelector(".attachment-status").textContent = text;
    onChange?.();
  }

  function describe(file) {
    if (file.status === "embedding") {
      return t.file_embedding.replace("{done}", file.embedded).replace("{total}", file.passages);
    }
    if (file.status === "failed") return `${t.file_failed} ${file.status_details || ""}`.trim();
    return t[`file_${file.status}`] || file.status;
  }

  function upload(file) {
    const chip = chipFor(file.name);
    const xhr = new XMLHttpRequest();
    items.set(chip, { id: null, status: "uploading", xhr });
    show(chip, "uploading", t.file_uploading.replace("{percent}", "0"));
    const form = new FormData();
    form.append("file", file);
    const id = conversationId();
    if (projectId) form.append("project_id", projectId);
    else if (id) form.append("conversation_id", id);
    xhr.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      const percent = Math.round((100 * event.loaded) / event.total);
      show(chip, "uploading", t.file_uploading.replace("{percent}", String(percent)));
    });
    xhr.addEventListener("load", async () => {
      items.get(chip).xhr = null;
      if (xhr.status !== 202) {
        const response = new Response(xhr.responseText, { status: xhr.status });
        show(chip, "failed", `${t.file_failed} ${await errorText(response)}`);
        return;
      }
      const stored = JSON.parse(xhr.responseText);
      items.get(chip).id = stored.id;
      chip.dataset.id = stored.id;
      follow(chip, stored);
    });
    xhr.addEventListener("error", () => show(chip, "failed", t.error_unreachable));
    xhr.open("POST", `${root}/api/files`);
    xhr.setRequestHeader("X-CSRF-Token", csrfToken);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.send(form);
  }

  async function follow(chip, file) {
    while (items.has(chip)) {
      show(chip, file.status, describe(file));
      if (FINAL.has(file.status)) return;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      try {
        file = await getJSON(`/api/files/${encodeURIComponent(file.id)}`);
      } catch {
        return; // deleted elsewhere, or the server went away: the chip stays as it was
      }
    }
  }

  async function discard(chip) {
    const item = items.get(chip);
    items.delete(chip);
    chip.remove();
    list.hidden = items.size === 0;
    onChange?.();
    if (item?.xhr) item.xhr.abort();
    if (item?.id) {
      await fetch(`${root}/api/files/${encodeURIComponent(item.id)}`, {
        method: "DELETE",
        headers: { "X-CSRF-Token": csrfToken, Accept: "application/json" },
      });
    }
  }

  return {
    // Files still on their way: the message waits for them (its question is answered from them).
    busy: () => [...items.values()].some((item) => BUSY.has(item.status)),
    // A new chat's uploads, to attach with its first message.
    unattached: () => [...items.values()].filter((item) => item.id).map((item) => item.id),
    async load(id) {
      if (!id && !projectId) return;
      const query = projectId ? `project_id=${encodeURIComponent(projectId)}` : `conversation_id=${encodeURIComponent(id)}`;
      const files = await getJSON(`/api/files?${query}`);
      for (const file of files.data.reverse()) {
        const chip = chipFor(file.filename);
        items.set(chip, { id: file.id, status: file.status, xhr: null });
        chip.dataset.id = file.id;
        follow(chip, file);
      }
    },
  };
}
