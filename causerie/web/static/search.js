// Search over titles and messages (Ctrl+K). Results are rendered and highlighted on the server.

import { getHTML } from "./api.js";

const DELAY = 120; // ms after the last keystroke

export function setupSearch() {
  const dialog = document.querySelector("[data-testid=search-dialog]");
  const input = dialog.querySelector("[data-testid=search-input]");
  const results = dialog.querySelector("[data-testid=search-results]");
  let timer = null;
  let asked = 0;

  const open = () => {
    if (!dialog.open) dialog.showModal();
    input.select();
  };
  document.querySelector("[data-testid=open-search]").addEventListener("click", open);
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && !event.shiftKey && event.key.toLowerCase() === "k") {
      event.preventDefault();
      open();
    }
  });
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(run, DELAY);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      results.querySelector("a")?.click();
    } else if (event.key === "ArrowDown") {
      event.preventDefault();
      results.querySelector("a")?.focus();
    }
  });
  results.addEventListener("keydown", (event) => {
    const links = [...results.querySelectorAll("a")];
    const index = links.indexOf(document.activeElement);
    if (index === -1) return;
    if (event.key === "ArrowDown" && index < links.length - 1) links[index + 1].focus();
    else if (event.key === "ArrowUp") (index > 0 ? links[index - 1] : input).focus();
    else return;
    event.preventDefault();
  });

  async function run() {
    const query = input.value;
    const ticket = ++asked;
    const html = query.trim() ? await getHTML(`/search?q=${encodeURIComponent(query)}`) : "";
    if (ticket === asked) results.innerHTML = html; // escaped and marked up on the server
  }
}
