// Projects on the page: the sidebar's "New project" dialog, and a project's page (rename,
// instructions, local only, archive, delete after a confirmation, its files). Every change goes
// through the REST routes (/api/projects, /api/files) with the page's CSRF token.

import { editText, postJSON, root, sendJSON, t } from "./api.js";
import { setupAttachments } from "./attachments.js";
import { setupDialog } from "./settings.js";

export function setupNewProject() {
  const dialog = document.querySelector("[data-testid=new-project-dialog]");
  setupDialog(document.querySelector("[data-testid=new-project]"), dialog, async (data) => {
    const created = await postJSON("/api/projects", {
      name: data.get("name"),
      instructions: data.get("instructions") || "",
      local_only: data.get("local_only") === "on",
    });
    location.assign(`${root}/p/${encodeURIComponent(created.id)}`);
  });
}

export function setupProjectPage(panel) {
  const id = panel.dataset.projectId;
  const path = `/api/projects/${encodeURIComponent(id)}`;
  const status = panel.querySelector("[data-testid=project-status]");

  panel.querySelector("[data-testid=project-settings]").addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    try {
      await sendJSON("PATCH", path, {
        instructions: data.get("instructions") || "",
        local_only: data.get("local_only") === "on",
      });
      status.textContent = t.project_saved;
    } catch (error) {
      status.textContent = error.message;
    }
  });

  // A change that fails says why where the settings' status shows.
  const attempt = (action) => async () => {
    try {
      await action();
    } catch (error) {
      status.textContent = error.message;
    }
  };

  panel.querySelector("[data-testid=project-rename]").addEventListener("click", attempt(() => rename(id, path)));

  panel.querySelector("[data-testid=project-archive]").addEventListener(
    "click",
    attempt(async () => {
      await sendJSON("PATCH", path, { archived: true });
      location.assign(`${root}/`);
    }),
  );

  const confirmation = document.querySelector("[data-testid=project-delete-dialog]");
  panel.querySelector("[data-testid=project-delete]").addEventListener("click", () => {
    confirmation.returnValue = "";
    confirmation.showModal();
  });
  confirmation.addEventListener(
    "close",
    attempt(async () => {
      if (confirmation.returnValue !== "delete") return;
      await sendJSON("DELETE", path);
      location.assign(`${root}/`);
    }),
  );

  const files = panel.querySelector("[data-testid=project-files]");
  setupAttachments({ composer: files, conversationId: () => null, projectId: id })
    ?.load(null)
    .catch(() => {});
}

// The page's title becomes a field; Enter saves the new name (the sidebar's too), Escape cancels.
async function rename(id, path) {
  const heading = document.querySelector("[data-testid=title]");
  if (heading.hidden) return;
  const name = heading.textContent.trim();
  const wanted = await editText(heading, name, "project-rename-input");
  if (!wanted || wanted === name) return;
  const shown = (await sendJSON("PATCH", path, { name: wanted })).name;
  heading.textContent = shown;
  document.title = `${shown} · Causerie`;
  for (const label of document.querySelectorAll(`[data-project-id="${CSS.escape(id)}"] .project-link span`)) {
    label.textContent = shown;
  }
}
