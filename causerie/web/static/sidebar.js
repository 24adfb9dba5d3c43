// The conversation list: the narrow-screen drawer, and keeping the list in step with the page.

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

// Put the conversation at the top of the list (adding it if new) and mark it current.
export function showCurrent(nav, root, id, title) {
  const list = nav.querySelector(".conversation-list");
  let link = [...list.querySelectorAll("a")].find((a) => a.dataset.id === id);
  if (!link) {
    link = document.createElement("a");
    link.href = `${root}/c/${encodeURIComponent(id)}`;
    link.dataset.id = id;
    link.textContent = title;
    link.title = title;
    const item = document.createElement("li");
    item.append(link);
    list.prepend(item);
  } else {
    list.prepend(link.parentElement);
  }
  for (const other of list.querySelectorAll("a[aria-current]")) other.removeAttribute("aria-current");
  link.setAttribute("aria-current", "page");
}
