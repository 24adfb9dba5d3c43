// The admin's models page: while a pull runs, poll its progress; once one ends, reload the page
// so the new model is listed.
import { t } from "./api.js";

const list = document.querySelector("[data-testid=pulls]");
const RUNNING = new Set(["resolving", "downloading", "verifying"]);
const POLL_MS = 500;

function running() {
  return [...list.querySelectorAll("[data-testid=pull-job]")].some((item) =>
    RUNNING.has(item.dataset.state),
  );
}

function show(item, pull) {
  item.dataset.state = pull.state;
  item.querySelector("[data-testid=pull-state]").textContent = t[`admin_pull_${pull.state}`];
  const bar = item.querySelector("[data-testid=pull-progress]");
  if (pull.size) {
    bar.max = pull.size;
    bar.value = pull.received;
    const number = (n) => n.toLocaleString(document.documentElement.lang || undefined);
    item.querySelector("[data-testid=pull-bytes]").textContent =
      `${number(pull.received)} / ${number(pull.size)}`;
  }
}

async function poll() {
  const response = await fetch(list.dataset.poll, { headers: { Accept: "application/json" } });
  if (!response.ok) return;
  const { pulls } = await response.json();
  let ended = false;
  for (const pull of pulls) {
    const item = [...list.querySelectorAll("[data-testid=pull-job]")].find(
      (element) => element.dataset.name === pull.name,
    );
    if (!item) continue;
    if (RUNNING.has(item.dataset.state) && !RUNNING.has(pull.state)) ended = true;
    show(item, pull);
  }
  if (ended) {
    window.location.reload();
  } else if (running()) {
    window.setTimeout(poll, POLL_MS);
  }
}

if (list && running()) window.setTimeout(poll, POLL_MS);
