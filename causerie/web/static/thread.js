// Actions on the shown messages: copy, edit, regenerate, continue, sibling navigation, feedback.
// Edit/regenerate/continue are handed back to the chat (they stream a new turn).

import { copyText, decorateCode, getHTML, postJSON, t } from "./api.js";
import { openSource, sourceTarget } from "./sources.js";

export function setupThreadActions(messages, chat) {
  const scroller = messages.closest("[data-testid=thread]");
  const observer = new IntersectionObserver(
    (entries) => {
      for (const entry of entries) if (entry.isIntersecting) loadEarlier(entry.target);
    },
    { root: scroller, rootMargin: "300px 0px 0px 0px" },
  );
  const watchEarlier = () => {
    const button = messages.querySelector("[data-testid=load-earlier]");
    if (button) observer.observe(button);
  };
  // A long conversation opens with its last messages; earlier ones come as the reader scrolls up.
  async function loadEarlier(button) {
    if (button.disabled) return;
    button.disabled = true;
    observer.unobserve(button);
    const last = messages.querySelector("[data-testid=message]:last-of-type");
    const query = new URLSearchParams({ m: last.dataset.id, before: button.dataset.before });
    const html = await getHTML(`/c/${encodeURIComponent(chat.conversationId())}/thread?${query}`);
    const height = scroller.scrollHeight;
    const wrapper = button.parentElement;
    wrapper.insertAdjacentHTML("beforebegin", html); // rendered and sanitized on the server
    wrapper.remove();
    scroller.scrollTop += scroller.scrollHeight - height; // keep the reader's place
    decorateCode(messages);
    watchEarlier();
  }
  chat.onRefresh = watchEarlier;
  requestAnimationFrame(watchEarlier); // after the page has scrolled to its end

  messages.addEventListener("click", async (event) => {
    const earlier = event.target.closest("[data-testid=load-earlier]");
    if (earlier) {
      await loadEarlier(earlier);
      return;
    }
    const source = sourceTarget(event.target);
    if (source) {
      await openSource(source);
      return;
    }
    const codeCopy = event.target.closest(".copy-code");
    if (codeCopy) {
      const code = codeCopy.closest(".code-block")?.querySelector("pre code");
      if (code) await copyText(code.textContent, codeCopy);
      return;
    }
    const button = event.target.closest("button[data-action]");
    if (!button || button.disabled) return;
    const message = button.closest("[data-testid=message]");
    const action = button.dataset.action;
    if (action === "copy") await copyText(message.dataset.source ?? message.innerText, button);
    else if (action === "edit") startEdit(message, chat);
    else if (action === "regenerate") chat.regenerate(message);
    else if (action === "continue") chat.continueReply(message);
    else if (action === "sibling") {
      await postJSON(`/c/${encodeURIComponent(chat.conversationId())}/select`, {
        message_id: button.dataset.target,
      });
      await chat.refresh();
    } else if (action === "rate") await rate(message, Number(button.dataset.rating), chat);
  });
  messages.addEventListener("submit", async (event) => {
    const form = event.target.closest("[data-testid=feedback-form]");
    if (!form) return;
    event.preventDefault();
    const message = form.closest("[data-testid=message]");
    const chosen = message.querySelector("[data-action=rate][aria-pressed=true]");
    await sendFeedback(message, chosen ? Number(chosen.dataset.rating) : null, chat);
    form.querySelector("[data-testid=feedback-status]").textContent = t.feedback_thanks;
  });
}

async function rate(message, rating, chat) {
  const pressed = message.querySelector(`[data-action=rate][data-rating="${rating}"]`);
  const value = pressed.getAttribute("aria-pressed") === "true" ? null : rating;
  await sendFeedback(message, value, chat);
  for (const button of message.querySelectorAll("[data-action=rate]")) {
    const on = Number(button.dataset.rating) === value;
    button.setAttribute("aria-pressed", String(on));
    button.classList.toggle("chosen", on);
  }
  const form = message.querySelector("[data-testid=feedback-form]");
  form.hidden = value === null;
  if (value !== null) form.querySelector("input[name=comment]").focus();
}

function sendFeedback(message, rating, chat) {
  const comment = message.querySelector("input[name=comment]")?.value ?? "";
  return postJSON(`/c/${encodeURIComponent(chat.conversationId())}/feedback`, {
    message_id: message.dataset.id,
    rating,
    comment,
  });
}

function startEdit(message, chat) {
  if (message.querySelector(".edit-form")) return;
  const content = message.querySelector(".content");
  const form = document.createElement("form");
  form.className = "edit-form";
  form.dataset.testid = "edit-form";
  const box = document.createElement("textarea");
  box.value = message.dataset.source;
  box.rows = Math.min(12, box.value.split("\n").length + 1);
  box.setAttribute("aria-label", t.edit);
  box.dataset.testid = "edit-input";
  const save = document.createElement("button");
  save.type = "submit";
  save.className = "small-button primary";
  save.textContent = t.save_and_send;
  save.dataset.testid = "edit-save";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "small-button";
  cancel.textContent = t.cancel;
  const buttons = document.createElement("div");
  buttons.className = "edit-buttons";
  buttons.append(cancel, save);
  form.append(box, buttons);
  content.hidden = true;
  content.after(form);
  box.focus();
  const close = () => {
    form.remove();
    content.hidden = false;
  };
  cancel.addEventListener("click", close);
  box.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.stopPropagation();
      close();
    } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!box.value.trim()) return;
    chat.edit(message, box.value);
  });
}
