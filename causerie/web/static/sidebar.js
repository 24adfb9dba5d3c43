// The conversation list: the narrow-screen drawer, date groups, "Load more", and each item's
// menu (rename, pin, archive, delete). Dates are grouped by the browser's own calendar.

import { editText, getHTML, postJSON, root, t } from "./api.js";

export function setupDrawer(app) {
  const button = app.querySelector("[data-testid=menu]");
  const scrim = app.querySelector("[data-testid=scrim]");
  const setOpen = (open) => {
    app.classList.toggle("sidebar-open", open);
    button.setAttribute("aria-expanded", String(open));
  };
  button.addEventListener("click", () => setOpen(!app.classList.contains("sidebar-open")));
  scrim.addEventListener("click", () => setOpen(false));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") setOpen(false);
  });
}

function dayStart(date) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

export function groupLabel(updated, now = new Date()) {
  const day = 86_400_000;
  const age = dayStart(now) - dayStart(updated);
  if (age <= 0) return t.today;
  if (age <= day * 1.5) return t.yesterday; // 1.5: a DST day may be 23 or 25 hours long
  if (age <= day * 7.5) return t.previous_7_days;
  const month = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
    month: "long",
    year: "numeric",
  }).format(updated);
  return month.charAt(0).toUpperCase() + month.slice(1);
}

// Insert a heading before each run of items of the same date group.
export function groupList(list) {
  for (const heading of list.querySelectorAll(".group-heading")) heading.remove();
  let previous = null;
  for (const item of list.querySelectorAll("li.conversation-item")) {
    const label = groupLabel(new Date(item.dataset.updated));
    if (label !== previous) {
      const heading = document.createElement("li");
      heading.className = "group-heading";
      heading.dataset.testid = "group-heading";
      heading.setAttribute("role", "presentation");
      heading.textContent = label;
      item.before(heading);
      previous = label;
    }
  }
}

export function setupSidebar(nav) {
  const recentList = () => nav.querySelector("[data-testid=recent]"); // refreshSidebar swaps it
  const menu = document.querySelector("[data-testid=item-menu-popup]");
  groupList(recentList());

  nav.addEventListener("click", async (event) => {
    const more = event.target.closest("[data-testid=load-more]");
    if (more) {
      more.disabled = true;
      const html = await getHTML(`/sidebar?cursor=${encodeURIComponent(more.dataset.cursor)}`);
      more.parentElement.remove();
      const recent = recentList();
      recent.insertAdjacentHTML("beforeend", html); // rendered and escaped on the server
      groupList(recent);
      return;
    }
    const opener = event.target.closest("[data-testid=item-menu]");
    if (opener) {
      event.stopPropagation();
      const item = opener.closest("li");
      const open = !menu.hidden && menu.parentElement === item;
      closeMenu();
      if (!open) {
        menu.querySelector("[data-action=pin]").hidden = item.dataset.pinned === "true";
        menu.querySelector("[data-action=unpin]").hidden = item.dataset.pinned !== "true";
        item.append(menu);
        menu.hidden = false;
        opener.setAttribute("aria-expanded", "true");
        menu.querySelector("button:not([hidden])").focus();
      }
    }
  });
  menu.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    event.stopPropagation();
    const item = menu.closest("li");
    closeMenu();
    await itemAction(button.dataset.action, item);
  });
  menu.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.stopPropagation();
      const opener = menu.closest("li")?.querySelector("[data-testid=item-menu]");
      closeMenu();
      opener?.focus();
    }
  });
  document.addEventListener("click", (event) => {
    if (!menu.contains(event.target)) closeMenu();
  });

  function closeMenu() {
    menu.hidden = true;
    for (const b of nav.querySelectorAll("[data-testid=item-menu][aria-expanded]")) {
      b.removeAttribute("aria-expanded");
    }
    document.body.append(menu);
  }
}

async function itemAction(action, item) {
  const id = item.dataset.id;
  const current = document.querySelector("[data-testid=thread]")?.dataset.conversationId === id;
  if (action === "rename") {
    startRename(item);
  } else if (action === "pin" || action === "unpin") {
    await postJSON(`/c/${encodeURIComponent(id)}/pin`, { value: action === "pin" });
    location.reload();
  } else if (action === "archive") {
    await postJSON(`/c/${encodeURIComponent(id)}/archive`, { value: true });
    if (current) location.assign(`${root}/`);
    else location.reload();
  } else if (action === "delete") {
    if (!confirm(t.confirm_delete)) return;
    await postJSON(`/c/${encodeURIComponent(id)}/delete`);
    if (current) location.assign(`${root}/`);
    else {
      item.remove();
      groupList(document.querySelector("[data-testid=recent]"));
    }
  }
}

async function startRename(item) {
  const link = item.querySelector("a");
  const title = await editText(link, link.textContent, "rename-input");
  if (title && title !== link.textContent) {
    const result = await postJSON(`/c/${encodeURIComponent(item.dataset.id)}/rename`, { title });
    setTitle(item.dataset.id, result.title);
  }
  link.focus();
}

// A conversation's title changed: the sidebar link, and the heading if it is the open one.
export function setTitle(id, title) {
  for (const link of document.querySelectorAll(`nav[data-testid=conversations] a[data-id="${CSS.escape(id)}"]`)) {
    link.textContent = title;
    link.title = title;
  }
  const thread = document.querySelector("[data-testid=thread]");
  if (thread?.dataset.conversationId === id) {
    document.querySelector("[data-testid=title]").textContent = title;
    document.title = `${title} · Causerie`;
  }
}

// Put the conversation at the top of its list (its project's, or the recent chats), adding it
// if new, and mark it current.
export function showCurrent(nav, id, title, projectId = null) {
  const projectList = projectId && nav.querySelector(`[data-project-list="${CSS.escape(projectId)}"]`);
  const list = projectList || nav.querySelector("[data-testid=recent]");
  let link = [...nav.querySelectorAll("a[data-id]")].find((a) => a.dataset.id === id);
  let item = link?.closest("li");
  if (!item) {
    item = document.createElement("li");
    item.className = "conversation-item";
    item.dataset.id = id;
    item.dataset.pinned = "false";
    link = document.createElement("a");
    link.href = `${root}/c/${encodeURIComponent(id)}`;
    link.dataset.id = id;
    link.textContent = title;
    link.title = title;
    const opener = document.createElement("button");
    opener.type = "button";
    opener.className = "item-menu-button";
    opener.dataset.testid = "item-menu";
    opener.setAttribute("aria-haspopup", "menu");
    opener.setAttribute("aria-label", `${t.options}: ${title}`);
    opener.textContent = "⋯";
    item.append(link, opener);
  }
  item.dataset.updated = new Date().toISOString();
  if (!item.closest("[data-testid=pinned]")) {
    list.prepend(item);
    if (!projectList) groupList(list);
  }
  for (const other of nav.querySelectorAll("a[aria-current]")) other.removeAttribute("aria-current");
  link.setAttribute("aria-current", "page");
}

// The lists again from the server (after an import brought conversations), the open one marked.
export async function refreshSidebar() {
  const lists = document.querySelector("[data-testid=conversation-lists]");
  if (!lists) return;
  const html = await getHTML("/sidebar");
  const menu = document.querySelector("[data-testid=item-menu-popup]");
  if (menu) {
    menu.hidden = true;
    document.body.append(menu); // out of the lists about to be replaced
  }
  lists.innerHTML = html; // rendered and escaped on the server
  groupList(lists.querySelector("[data-testid=recent]"));
  const current = document.querySelector("[data-testid=thread]")?.dataset.conversationId;
  if (current) {
    const link = [...lists.querySelectorAll("a[data-id]")].find((a) => a.dataset.id === current);
    link?.setAttribute("aria-current", "page");
  }
}
