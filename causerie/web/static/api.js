// Small helpers shared by the page's modules: strings, JSON requests, error messages.

const stringsElement = document.getElementById("strings");
export const t = stringsElement ? JSON.parse(stringsElement.textContent) : {};
export const root = document.body.dataset.root || "";
// Every state-changing request from the page carries the page's CSRF token.
export const csrfToken = document.querySelector('meta[name="csrf-token"]')?.content || "";

export async function postJSON(path, body = {}) {
  return sendJSON("POST", path, body);
}

// A change through the REST routes (``PATCH``, ``DELETE``...) with the page's CSRF token.
export async function sendJSON(method, path, body = {}) {
  const response = await fetch(`${root}${path}`, {
    method,
    headers: {
      "Content-Type": "application/json",
      Accept: "application/json",
      "X-CSRF-Token": csrfToken,
    },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(await errorText(response));
  return response.json();
}

export async function getJSON(path) {
  const response = await fetch(`${root}${path}`, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(await errorText(response));
  return response.json();
}

export async function getHTML(path) {
  const response = await fetch(`${root}${path}`, { headers: { Accept: "text/html" } });
  if (!response.ok) throw new Error(await errorText(response));
  return response.text();
}

export async function errorText(response) {
  try {
    const body = await response.json();
    if (body?.error?.message) return body.error.message;
  } catch {
    // not JSON: fall through
  }
  return `The server answered ${response.status} ${response.statusText}.`.trim();
}

// Adds the copy button to every code block's header (the server renders the header and label).
export function decorateCode(container) {
  for (const header of container.querySelectorAll(".code-header")) {
    if (header.querySelector(".copy-code")) continue;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy-code";
    button.dataset.testid = "copy-code";
    button.textContent = t.copy || "Copy";
    header.append(button);
  }
}

export async function copyText(text, button) {
  await navigator.clipboard.writeText(text);
  const label = button.getAttribute("aria-label");
  button.classList.add("copied");
  if (label !== null) button.setAttribute("aria-label", t.copied || "Copied");
  else button.textContent = t.copied || "Copied";
  setTimeout(() => {
    button.classList.remove("copied");
    if (label !== null) button.setAttribute("aria-label", label);
    else button.textContent = t.copy || "Copy";
  }, 1500);
}

// A one-line field placed after ``anchor`` (which hides meanwhile), holding ``value``: resolves
// with the text typed when Enter is pressed or the field loses focus, null on Escape.
export function editText(anchor, value, testid) {
  const input = document.createElement("input");
  input.type = "text";
  input.className = "rename-input";
  input.dataset.testid = testid;
  input.maxLength = 200;
  input.value = value;
  input.setAttribute("aria-label", t.rename);
  anchor.hidden = true;
  anchor.after(input);
  input.focus();
  input.select();
  return new Promise((resolve) => {
    let done = false;
    const finish = (text) => {
      if (done) return;
      done = true;
      input.remove();
      anchor.hidden = false;
      resolve(text);
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        finish(input.value.trim());
      } else if (event.key === "Escape") {
        event.stopPropagation();
        finish(null);
      }
    });
    input.addEventListener("blur", () => finish(input.value.trim()));
  });
}
