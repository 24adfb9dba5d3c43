// Data controls: import an export (ChatGPT, Open WebUI, a Causerie archive) with its progress,
// then what it did; and the link that exports everything. The upload's bytes are followed with
// XMLHttpRequest's upload progress, then the import's conversations by polling its job. Every
// text the server sends back (titles, reasons, instructions) goes in as text, never as HTML.

import { csrfToken, errorText, getJSON, postJSON, root, t } from "./api.js";
import { refreshSidebar } from "./sidebar.js";

const POLL_MS = 400;
const POLL_FAILURES = 5; // consecutive failed polls before the page gives up on the job

const fill = (template, values) =>
  template.replace(/\{(\w+)\}/g, (match, key) => (key in values ? String(values[key]) : match));
const number = (n) => Number(n).toLocaleString(document.documentElement.lang || undefined);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function setupDataControls() {
  const opener = document.querySelector("[data-testid=open-data]");
  const dialog = document.querySelector("[data-testid=data-dialog]");
  if (!opener || !dialog) return;
  const form = dialog.querySelector("[data-testid=import-form]");
  const input = dialog.querySelector("[data-testid=import-file]");
  const start = dialog.querySelector("[data-testid=import-start]");
  const progress = dialog.querySelector("[data-testid=import-progress]");
  const bar = dialog.querySelector("[data-testid=import-bar]");
  const status = dialog.querySelector("[data-testid=import-status]");
  const errorBox = dialog.querySelector("[data-testid=import-error]");
  const summaryBox = dialog.querySelector("[data-testid=import-summary]");

  opener.addEventListener("click", () => dialog.showModal());

  const setBusy = (busy) => {
    input.disabled = busy;
    start.disabled = busy;
  };
  const showError = (text) => {
    errorBox.textContent = text;
    errorBox.hidden = false;
  };
  // ``value`` null: a bar that says "working" without an amount.
  const showProgress = (phase, text, value = null, max = 1) => {
    progress.hidden = false;
    progress.dataset.phase = phase;
    bar.max = Math.max(max, 1);
    if (value === null) bar.removeAttribute("value");
    else bar.value = value;
    status.textContent = text;
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    errorBox.hidden = true;
    summaryBox.hidden = true;
    summaryBox.replaceChildren();
    const file = input.files?.[0];
    if (!file) {
      showError(t.import_choose_file);
      return;
    }
    setBusy(true);
    upload(file);
  });

  function upload(file) {
    const xhr = new XMLHttpRequest();
    const body = new FormData();
    body.append("file", file);
    showProgress("upload", fill(t.import_uploading, { percent: 0 }), 0, file.size);
    xhr.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      const percent = Math.round((100 * event.loaded) / event.total);
      showProgress("upload", fill(t.import_uploading, { percent }), event.loaded, event.total);
    });
    xhr.addEventListener("load", async () => {
      if (xhr.status !== 202) {
        const response = new Response(xhr.responseText, { status: xhr.status });
        fail(await errorText(response));
        return;
      }
      await follow(JSON.parse(xhr.responseText));
    });
    xhr.addEventListener("error", () => fail(t.error_unreachable));
    xhr.open("POST", `${root}/api/imports`);
    xhr.setRequestHeader("X-CSRF-Token", csrfToken);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.send(body);
  }

  function fail(message) {
    progress.hidden = true;
    showError(message);
    setBusy(false);
  }

  async function follow(job) {
    let failures = 0;
    for (;;) {
      if (job.state === "done") break;
      if (job.state === "failed") {
        fail(job.error || t.import_failed);
        return;
      }
      const { done, total } = job.progress;
      if (job.state === "queued") showProgress("queued", t.import_queued);
      else if (total === null) showProgress("running", t.import_reading);
      else showProgress("running", fill(t.import_running, { done: number(done), total: number(total) }), done, total);
      await sleep(POLL_MS);
      try {
        job = await getJSON(`/api/imports/${encodeURIComponent(job.id)}`);
        failures = 0;
      } catch {
        failures += 1;
        if (failures >= POLL_FAILURES) {
          fail(t.import_lost);
          return;
        }
      }
    }
    const total = job.summary?.total ?? job.progress.total ?? 0;
    showProgress("done", "", total, total);
    progress.dataset.done = String(job.progress.done);
    progress.dataset.total = String(job.progress.total);
    showSummary(job.summary);
    setBusy(false);
    form.reset();
    await refreshSidebar().catch(() => {}); // the imported conversations, in the list
  }

  function showSummary(summary) {
    const add = (tag, text, testid) => {
      const element = document.createElement(tag);
      if (text !== undefined) element.textContent = text;
      if (testid) element.dataset.testid = testid;
      summaryBox.append(element);
      return element;
    };
    const list = (items, testid) => {
      const ul = add("ul", undefined, testid);
      for (const text of items) {
        const li = document.createElement("li");
        li.textContent = text;
        ul.append(li);
      }
    };
    const counts = {};
    for (const [key, value] of Object.entries(summary)) {
      if (typeof value === "number") counts[key] = number(value);
    }
    add("p", fill(t.import_done, counts), "import-counts");
    add("p", fill(t.import_messages, counts), "import-messages");
    if (summary.attachments_stored || summary.attachments_missing) {
      const values = { stored: counts.attachments_stored, missing: counts.attachments_missing };
      add("p", fill(t.import_attachments, values), "import-attachments");
    }
    if (summary.skipped.length) {
      add("p", fill(t.import_skipped, { count: number(summary.skipped.length) }));
      list(
        summary.skipped.map(
          (skipped) => `${skipped.where} “${skipped.title || t.import_untitled}”: ${skipped.reason}`,
        ),
        "import-skipped",
      );
    }
    if (summary.warnings.length) {
      add("p", t.import_warnings);
      list(summary.warnings, "import-warnings");
    }
    if (summary.custom_instructions.length) {
      add("p", t.import_instructions_found);
      for (const text of summary.custom_instructions) offerInstructions(add("div"), text);
    }
    summaryBox.hidden = false;
  }

  function offerInstructions(box, text) {
    box.className = "import-instructions";
    box.dataset.testid = "import-instructions";
    const quote = document.createElement("blockquote");
    quote.textContent = text;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "small-button";
    button.dataset.testid = "use-instructions";
    button.textContent = t.import_use_instructions;
    const note = document.createElement("span");
    note.className = "import-status";
    note.setAttribute("role", "status");
    box.append(quote, button, " ", note);
    button.addEventListener("click", async () => {
      try {
        const current = await getJSON("/preferences/instructions");
        const mine = current.text.trim();
        if (mine && mine !== text.trim() && !confirm(t.import_instructions_replace)) return;
        await postJSON("/preferences/instructions", { text }); // private names stay as they are
        note.textContent = t.import_instructions_used;
      } catch (error) {
        note.textContent = error.message;
      }
    });
  }
}
