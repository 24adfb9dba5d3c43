// The chat page: send a message, stream the reply, stop it.
// The server renders and sanitizes every reply; this script only inserts that HTML,
// and never turns model text into HTML itself.

import { readEvents } from "./sse.js";
import { setupDrawer, showCurrent } from "./sidebar.js";

const STICK_DISTANCE = 80; // px from the bottom within which the thread follows the reply

const root = document.body.dataset.root || "";
const app = document.querySelector("[data-testid=app]");
const thread = document.querySelector("[data-testid=thread]");
const form = document.querySelector("[data-testid=composer]");

setupDrawer(app);
if (thread && form) setupChat();

function setupChat() {
  const messages = thread.querySelector("[data-testid=messages]");
  const input = form.querySelector("textarea[name=content]");
  const sendButton = form.querySelector("[data-testid=send]");
  const stopButton = form.querySelector("[data-testid=stop]");
  const errorBox = document.querySelector("[data-testid=error]");
  const nav = document.querySelector("[data-testid=conversations]");
  const heading = document.querySelector("[data-testid=title]");
  const template = document.getElementById("message-template");

  let conversationId = thread.dataset.conversationId || null;
  let controller = null;

  const autosize = CSS.supports("field-sizing", "content")
    ? () => {}
    : () => {
        input.style.height = "auto";
        input.style.height = `${input.scrollHeight}px`;
      };
  const updateSend = () => {
    sendButton.disabled = controller !== null || input.value.trim() === "";
  };

  input.addEventListener("input", () => {
    autosize();
    updateSend();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  stopButton.addEventListener("click", () => controller?.abort());
  updateSend();
  scrollToEnd();

  function setStreaming(streaming) {
    sendButton.hidden = streaming;
    stopButton.hidden = !streaming;
    form.classList.toggle("streaming", streaming);
    updateSend();
    if (!streaming) input.focus();
  }

  function addMessage(role) {
    const element = template.content.firstElementChild.cloneNode(true);
    element.classList.add(role);
    element.dataset.role = role;
    element.querySelector(".content").classList.add(role === "assistant" ? "markdown" : "plain");
    messages.append(element);
    return element;
  }

  function markInterrupted(element) {
    if (element.querySelector(".marker")) return;
    element.classList.add("interrupted");
    const marker = document.createElement("p");
    marker.className = "marker";
    marker.dataset.testid = "interrupted";
    marker.textContent = "interrupted";
    element.append(marker);
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function nearEnd() {
    return thread.scrollHeight - thread.scrollTop - thread.clientHeight < STICK_DISTANCE;
  }

  function scrollToEnd() {
    thread.scrollTop = thread.scrollHeight;
  }

  function onMeta(meta) {
    const isNew = conversationId === null;
    conversationId = meta.conversation_id;
    thread.dataset.conversationId = conversationId;
    if (isNew) {
      history.replaceState(null, "", `${root}/c/${encodeURIComponent(conversationId)}`);
      heading.textContent = meta.title;
      document.title = `${meta.title} · Causerie`;
    }
    showCurrent(nav, root, conversationId, meta.title);
  }

  async function send() {
    const content = input.value;
    if (controller !== null || content.trim() === "") return;
    errorBox.hidden = true;

    const question = addMessage("user");
    question.querySelector(".content").textContent = content;
    const reply = addMessage("assistant");
    reply.classList.add("pending");
    const replyContent = reply.querySelector(".content");
    input.value = "";
    autosize();
    scrollToEnd();

    controller = new AbortController();
    setStreaming(true);
    let started = false; // the server stored the question and began the reply
    let finished = null;
    let failure = null;
    let stopped = false;
    try {
      const response = await fetch(`${root}/c/send`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify({ conversation_id: conversationId, content }),
        signal: controller.signal,
      });
      if (!response.ok) throw new Error(await errorText(response));
      for await (const { event, data } of readEvents(response.body)) {
        if (event === "meta") {
          started = true;
          onMeta(data);
        } else if (event === "html") {
          const follow = nearEnd();
          reply.classList.remove("pending");
          replyContent.innerHTML = data.html; // sanitized on the server (causerie/web/render.py)
          if (follow) scrollToEnd();
        } else if (event === "done") {
          finished = data;
        } else if (event === "error") {
          failure = data.error?.message || "The model failed while replying.";
        }
      }
      if (!finished && !failure) failure = "The connection closed before the reply finished.";
    } catch (error) {
      if (error.name === "AbortError") stopped = true;
      else failure = error instanceof TypeError ? "Could not reach the server." : error.message;
    } finally {
      controller = null;
      reply.classList.remove("pending");
      setStreaming(false);
    }

    if (!started && !stopped) {
      // Nothing was stored: take the message back so it can be sent again.
      question.remove();
      reply.remove();
      input.value = content;
      autosize();
      updateSend();
    } else {
      if (finished?.reply_id) reply.dataset.id = finished.reply_id;
      if (stopped || failure || finished?.interrupted) markInterrupted(reply);
    }
    if (failure) showError(failure);
  }
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (body?.error?.message) return body.error.message;
  } catch {
    // not JSON: fall through
  }
  return `The server answered ${response.status} ${response.statusText}.`.trim();
}
