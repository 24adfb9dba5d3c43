// The chat page: send a message, stream the reply, stop it; edit, regenerate and continue.
// The server renders and sanitizes every reply; this script only inserts that HTML,
// and never turns model text into HTML itself.

import { csrfToken, decorateCode, errorText, getHTML, postJSON, root, sendJSON, t } from "./api.js";
import { setupSearch } from "./search.js";
import { setupSettings as setupChatSettings } from "./settings.js";
import { setupShare, showConversationActions } from "./share.js";
import { readEvents } from "./sse.js";
import { setTitle, setupDrawer, setupSidebar, showCurrent } from "./sidebar.js";
import { setupThreadActions } from "./thread.js";
import { setupAttachments } from "./attachments.js";
import { setupNewProject, setupProjectPage } from "./projects.js";
import { setupDataControls } from "./data.js";

const STICK_DISTANCE = 80; // px from the bottom within which the thread follows the reply

const app = document.querySelector("[data-testid=app]");
const thread = document.querySelector("[data-testid=thread]");
const form = document.querySelector("[data-testid=composer]");
const nav = document.querySelector("[data-testid=conversations]");

setupDrawer(app);
setupSidebar(nav);
setupSearch();
setupSettings();
setupShortcuts();
if (!thread) setupChatSettings(() => null); // custom instructions are on every page
setupArchive();
setupNewProject();
setupDataControls();
const projectPanel = document.querySelector("[data-testid=project-panel]");
if (projectPanel) setupProjectPage(projectPanel);
if (thread && form) setupChat();

function setupChat() {
  const messages = thread.querySelector("[data-testid=messages]");
  const input = form.querySelector("textarea[name=content]");
  const sendButton = form.querySelector("[data-testid=send]");
  const stopButton = form.querySelector("[data-testid=stop]");
  const errorBox = document.querySelector("[data-testid=error]");
  const heading = document.querySelector("[data-testid=title]");
  const template = document.getElementById("message-template");
  const temporary = thread.dataset.temporary === "true";
  const temporaryHistory = []; // a temporary chat's turns live only in this page

  let conversationId = thread.dataset.conversationId || null;
  let controller = null;
  const draftKey = () => `causerie:draft:${temporary ? "temporary" : conversationId || "new"}`;

  const autosize = CSS.supports("field-sizing", "content")
    ? () => {}
    : () => {
        input.style.height = "auto";
        input.style.height = `${input.scrollHeight}px`;
      };
  const attachments = setupAttachments({
    composer: form.closest(".composer-wrap"),
    conversationId: () => conversationId,
    onChange: () => updateSend(),
  });
  const updateSend = () => {
    // A message waits for its files' text: its question is answered from them.
    const waiting = attachments?.busy() ?? false;
    sendButton.disabled = controller !== null || input.value.trim() === "" || waiting;
  };
  const saveDraft = () => {
    try {
      if (input.value) localStorage.setItem(draftKey(), input.value);
      else localStorage.removeItem(draftKey());
    } catch {
      // storage full or disabled: drafts are a nicety
    }
  };

  try {
    const draft = localStorage.getItem(draftKey());
    if (draft && !input.value) input.value = draft;
  } catch {
    // no storage
  }
  autosize();

  input.addEventListener("input", () => {
    autosize();
    updateSend();
    saveDraft();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const content = input.value;
    if (controller !== null || content.trim() === "" || attachments?.busy()) return;
    const last = messages.querySelector("[data-testid=message]:last-of-type");
    turn({ content, parentId: last?.dataset.id, fromComposer: true });
  });
  stopButton.addEventListener("click", () => controller?.abort());
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && controller && !document.querySelector("dialog[open]")) {
      controller.abort();
    }
  });
  const actions = {
    conversationId: () => conversationId,
    refresh,
    edit(message, content) {
      const parentId = message.dataset.parentId || null;
      removeFrom(message);
      turn({ content, parentId });
    },
    regenerate(reply) {
      const parentId = reply.dataset.parentId;
      removeFrom(reply);
      turn({ content: null, parentId });
    },
    continueReply(reply) {
      // The continued reply replaces the cut one on screen (it is stored as its sibling).
      const parentId = reply.dataset.id;
      removeFrom(reply);
      turn({ content: null, parentId });
    },
    onRefresh: null,
  };
  setupThreadActions(messages, actions);
  attachments?.load(conversationId).catch(() => {});
  setupShare(() => conversationId);
  setupChatSettings(() => conversationId);
  updateSend();
  decorateCode(messages);
  const target = location.hash && document.getElementById(location.hash.slice(1));
  if (target) target.scrollIntoView({ block: "center" });
  else scrollToEnd();

  function removeFrom(message) {
    while (message.nextElementSibling) message.nextElementSibling.remove();
    message.remove();
  }

  async function refresh() {
    if (!conversationId) return;
    messages.innerHTML = await getHTML(`/c/${encodeURIComponent(conversationId)}/thread`);
    decorateCode(messages);
    actions.onRefresh?.();
  }

  function setStreaming(streaming) {
    sendButton.hidden = streaming;
    stopButton.hidden = !streaming;
    form.classList.toggle("streaming", streaming);
    thread.setAttribute("aria-busy", String(streaming));
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
    marker.textContent = t.interrupted;
    element.append(marker);
  }

  // What the privacy firewall replaced before the request left (a stored reply shows it again
  // after the refresh, from the server).
  function showPrivacyNote(element, text) {
    const note = document.createElement("p");
    note.className = "privacy-note";
    note.dataset.testid = "privacy-note";
    note.textContent = text;
    element.append(note);
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
    if (temporary) return;
    const isNew = conversationId === null;
    conversationId = meta.conversation_id;
    thread.dataset.conversationId = conversationId;
    if (isNew) {
      history.replaceState(null, "", `${root}/c/${encodeURIComponent(conversationId)}`);
      heading.textContent = meta.title;
      document.title = `${meta.title} · Causerie`;
      input.placeholder = t.message_placeholder; // no longer "New chat in <project>"
    }
    showCurrent(nav, conversationId, meta.title, thread.dataset.projectId || null);
    showConversationActions(conversationId);
  }

  function requestBody(content, parentId) {
    const body = { content };
    const maxTokens = Number(localStorage.getItem("causerie:max-tokens")) || null;
    if (maxTokens) body.max_tokens = maxTokens;
    const model = document.querySelector("[data-testid=model]")?.value;
    if (model) body.model = model;
    if (temporary) return { ...body, temporary: true, history: temporaryHistory };
    body.conversation_id = conversationId;
    const uploaded = conversationId ? [] : (attachments?.unattached() ?? []);
    if (uploaded.length) body.file_ids = uploaded; // a new chat's files come with its first message
    if (!conversationId && thread.dataset.projectId) body.project_id = thread.dataset.projectId;
    if (conversationId && parentId !== undefined) body.parent_id = parentId;
    return body;
  }

  async function turn({ content, parentId, fromComposer = false }) {
    if (controller !== null) return;
    errorBox.hidden = true;
    const isFirst = conversationId === null && !temporary;

    let question = null;
    if (content !== null) {
      question = addMessage("user");
      question.querySelector(".content").textContent = content;
    }
    const reply = addMessage("assistant");
    reply.classList.add("pending");
    const replyContent = reply.querySelector(".content");
    if (fromComposer) {
      input.value = "";
      autosize();
    }
    scrollToEnd();

    controller = new AbortController();
    setStreaming(true);
    let started = false; // the server stored the question and began the reply
    let finished = null;
    let failure = null;
    let stopped = false;
    let questionId = null;
    const body = requestBody(content, parentId);
    try {
      const response = await fetch(`${root}/c/send`, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Accept: "text/event-stream",
          "X-CSRF-Token": csrfToken,
        },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      if (!response.ok) throw new Error(await errorText(response));
      for await (const { event, data } of readEvents(response.body)) {
        if (event === "meta") {
          started = true;
          questionId = data.user_message_id;
          if (fromComposer) saveDraft();
          onMeta(data);
        } else if (event === "html") {
          const follow = nearEnd();
          reply.classList.remove("pending");
          replyContent.innerHTML = data.html; // sanitized on the server (causerie/web/render.py)
          decorateCode(replyContent);
          if (follow) scrollToEnd();
        } else if (event === "done") {
          finished = data;
        } else if (event === "error") {
          failure = data.error?.message || t.error_model;
        }
      }
      if (!finished && !failure) failure = t.error_closed;
    } catch (error) {
      if (error.name === "AbortError") stopped = true;
      else failure = error instanceof TypeError ? t.error_unreachable : error.message;
    } finally {
      controller = null;
      reply.classList.remove("pending");
      setStreaming(false);
    }

    if (!started && !stopped) {
      // Nothing was stored: take the message back so it can be sent again.
      question?.remove();
      reply.remove();
      if (fromComposer) {
        input.value = content;
        autosize();
        updateSend();
      } else {
        await refresh().catch(() => {}); // an edit or regenerate took messages off: put them back
      }
    } else {
      if (finished?.reply_id) reply.dataset.id = finished.reply_id;
      if (stopped || failure || finished?.interrupted) markInterrupted(reply);
      if (finished?.privacy_note) showPrivacyNote(reply, finished.privacy_note);
      if (temporary && finished) {
        temporaryHistory.push({ role: "user", content }, { role: "assistant", content: finished.text });
      }
      if (finished && !temporary) {
        await refresh(); // the stored branch, with ids, siblings and actions
        if (isFirst) autoTitle();
      } else if (stopped && !temporary && content !== null && questionId) {
        refreshWhenSaved(questionId); // the server saves a stopped reply once it notices
      }
    }
    if (failure) showError(failure);
  }

  // After Stop, swap in the stored thread (with the reply's actions) once the partial reply
  // is saved, unless the reader has started something else meanwhile.
  async function refreshWhenSaved(questionId) {
    const id = conversationId;
    for (let attempt = 0; attempt < 10 && id; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      if (controller !== null || conversationId !== id) return;
      let html;
      try {
        html = await getHTML(`/c/${encodeURIComponent(id)}/thread`);
      } catch {
        return;
      }
      const fresh = document.createElement("template");
      fresh.innerHTML = html; // rendered and sanitized on the server
      const last = fresh.content.querySelector("[data-testid=message]:last-of-type");
      if (last?.dataset.role === "assistant" && last.dataset.parentId === questionId) {
        if (controller !== null) return;
        messages.replaceChildren(fresh.content);
        decorateCode(messages);
        actions.onRefresh?.();
        return;
      }
    }
  }

  async function autoTitle() {
    const id = conversationId;
    try {
      const result = await postJSON(`/c/${encodeURIComponent(id)}/title`);
      if (result.generated) setTitle(id, result.title);
    } catch {
      // the first message stays the title
    }
  }
}

function setupSettings() {
  const theme = document.querySelector("[data-testid=theme]");
  theme.value = document.documentElement.dataset.theme || "system";
  theme.addEventListener("change", () => {
    document.documentElement.dataset.theme = theme.value;
    try {
      localStorage.setItem("causerie:theme", theme.value);
    } catch {
      // not remembered
    }
  });
  const language = document.querySelector("[data-testid=language]");
  language.addEventListener("change", () => {
    document.cookie = `lang=${language.value}; path=/; max-age=31536000; samesite=lax`;
    location.reload();
  });
}

function setupShortcuts() {
  const dialog = document.querySelector("[data-testid=shortcuts-dialog]");
  const open = () => dialog.open || dialog.showModal();
  document.querySelector("[data-testid=open-shortcuts]").addEventListener("click", open);
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "/") {
      event.preventDefault();
      open();
    } else if ((event.ctrlKey || event.metaKey) && event.shiftKey && event.key.toLowerCase() === "o") {
      event.preventDefault();
      location.assign(`${root}/`);
    }
  });
}

function setupArchive() {
  const archive = document.querySelector("[data-testid=archive]");
  if (!archive) return;
  archive.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const item = button.closest("li");
    if (button.dataset.action === "restore-project") {
      await sendJSON("PATCH", `/api/projects/${encodeURIComponent(item.dataset.projectId)}`, {
        archived: false,
      });
      location.reload();
      return;
    }
    const id = encodeURIComponent(item.dataset.id);
    if (button.dataset.action === "restore") {
      await postJSON(`/c/${id}/archive`, { value: false });
    } else {
      if (!confirm(t.confirm_delete)) return;
      await postJSON(`/c/${id}/delete`);
    }
    location.reload();
  });
}
