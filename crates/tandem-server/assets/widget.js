/*
 * Tandem live chat widget.
 *
 * A business pastes <script src="https://TANDEM/widget/CHANNEL_ID/widget.js" async></script>
 * into its pages. The script finds Tandem's address and the channel in its own src, adds a chat
 * bubble in a shadow root (so the page's CSS cannot reach it, nor its CSS the page), and talks
 * to Tandem over a websocket; the protocol is described in Tandem's routes/widget.rs.
 *
 * The visitor's token is kept in localStorage per channel, so the conversation comes back on
 * every page load of the site. Messages not yet confirmed by Tandem are kept there too, each with
 * the client_id it was first sent with, and sent again after a reconnect or a reload: Tandem
 * stores each client_id once.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var SRC = /^(.*)\/widget\/([^/]+)\/widget\.js$/;
  if (!script) {
    // Not all browsers set currentScript for every kind of insertion: find ourselves by URL.
    var candidates = document.querySelectorAll("script[src]");
    for (var i = 0; i < candidates.length; i++) {
      if (SRC.test(new URL(candidates[i].src, location.href).pathname)) script = candidates[i];
    }
  }
  if (!script) return;
  var src = new URL(script.src, location.href);
  var found = src.pathname.match(SRC);
  if (!found) return;
  var channel = found[2];
  var flag = "__tandemWidget_" + channel;
  if (window[flag]) return; // the snippet was pasted twice
  window[flag] = true;

  var SOCKET_URL = (src.protocol === "https:" ? "wss:" : "ws:") + "//" + src.host + found[1] + "/widget/" + channel + "/ws";
  var STORAGE_KEY = "tandem-widget:" + channel;
  var MAX_CHARS = 4000;

  // localStorage can be unavailable (privacy settings, sandboxed frames): then the conversation
  // lasts as long as the page.
  var memory = {};
  function load() {
    try {
      return JSON.parse(window.localStorage.getItem(STORAGE_KEY)) || {};
    } catch (e) {
      return memory;
    }
  }
  function save(state) {
    memory = state;
    try {
      window.localStorage.setItem(STORAGE_KEY, JSON.stringify(state));
    } catch (e) {
      /* kept in memory only */
    }
  }
  var saved = load();
  var visitor = typeof saved.visitor === "string" ? saved.visitor : null;
  var pending = Array.isArray(saved.pending) ? saved.pending : []; // [{client_id, text}]
  // Whether Tandem knows this visitor: it stores a visitor with their first message.
  var talked = saved.talked === true;
  function persist() {
    save({ visitor: visitor, talked: talked, pending: pending });
  }

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    // randomUUID exists only on https pages; getRandomValues everywhere.
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  // The page's rules still reach the host element itself, and win over normal :host rules;
  // important ones in here win over important ones out there. Hence !important on :host only.
  var STYLE =
    ":host{all:initial!important;display:block!important;position:fixed!important;right:20px!important;bottom:20px!important;" +
    "z-index:2147483000!important;font:15px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif!important;" +
    "color:#1f2328!important}" +
    "*{box-sizing:border-box}" +
    "[hidden]{display:none!important}" +
    ".bubble{position:relative;width:56px;height:56px;border-radius:50%;border:0;background:#1b5fd6;color:#fff;" +
    "cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center;padding:0}" +
    ".bubble:hover{background:#174fb3}" +
    "button:focus-visible,textarea:focus-visible{outline:3px solid #f5a623;outline-offset:2px}" +
    ".bubble svg{width:28px;height:28px;fill:currentColor}" +
    ".dot{position:absolute;top:4px;right:4px;width:12px;height:12px;border-radius:50%;background:#e5534b;border:2px solid #fff;display:none}" +
    ".bubble.unread .dot{display:block}" +
    ".panel{position:absolute;right:0;bottom:72px;width:min(360px,calc(100vw - 40px));height:min(520px,calc(100vh - 120px));" +
    "display:flex;flex-direction:column;background:#fff;border-radius:12px;box-shadow:0 8px 28px rgba(0,0,0,.28);overflow:hidden}" +
    "header{background:#1b5fd6;color:#fff;padding:12px 14px 12px 16px;display:flex;align-items:center;justify-content:space-between;gap:8px}" +
    "h2{margin:0;font-size:16px;font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}" +
    ".close{background:transparent;border:0;color:inherit;font-size:24px;line-height:1;cursor:pointer;padding:2px 6px;border-radius:6px}" +
    ".log{flex:1;overflow-y:auto;margin:0;padding:12px;list-style:none;display:flex;flex-direction:column;gap:8px;background:#f6f8fa}" +
    ".msg{max-width:80%;padding:8px 12px;border-radius:14px;white-space:pre-wrap;overflow-wrap:anywhere}" +
    ".outbound,.greeting{align-self:flex-start;background:#fff;color:#1f2328;border:1px solid #d0d7de;border-bottom-left-radius:4px}" +
    ".inbound{align-self:flex-end;background:#1b5fd6;color:#fff;border-bottom-right-radius:4px}" +
    ".pending{opacity:.65}" +
    ".status{margin:0;padding:4px 12px;font-size:12px;color:#57606a;background:#f6f8fa}" +
    ".status:empty{display:none}" +
    "form{display:flex;gap:8px;padding:10px;border-top:1px solid #d0d7de;background:#fff;margin:0}" +
    "textarea{flex:1;resize:none;font:inherit;color:inherit;padding:8px 10px;border:1px solid #d0d7de;border-radius:8px;height:40px;max-height:120px;background:#fff}" +
    ".send{border:0;border-radius:8px;background:#1b5fd6;color:#fff;font:inherit;font-weight:600;padding:0 14px;cursor:pointer}" +
    ".send:disabled{opacity:.5;cursor:default}" +
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}";

  // Static markup only: every text that comes from Tandem or the visitor goes in with textContent.
  var MARKUP =
    '<button class="bubble" type="button" aria-label="Open chat" aria-expanded="false" aria-controls="panel" aria-haspopup="dialog">' +
    '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-5 4V5a2 2 0 0 1 2-2z"/></svg>' +
    '<span class="dot" aria-hidden="true"></span></button>' +
    '<section class="panel" id="panel" role="dialog" aria-labelledby="title" hidden>' +
    '<header><h2 id="title">Chat</h2><button class="close" type="button" aria-label="Close chat">\u00d7</button></header>' +
    '<ol class="log" role="log" aria-live="polite" aria-label="Messages"></ol>' +
    '<p class="status" role="status"></p>' +
    '<form><label class="sr" for="input">Message</label>' +
    '<textarea id="input" rows="1" maxlength="' + MAX_CHARS + '" placeholder="Write a message\u2026"></textarea>' +
    '<button class="send" type="submit">Send</button></form></section>';

  var host, root, bubble, panel, titleEl, log, statusEl, form, input;
  var greeting = null;
  var socket = null;
  var connected = false;
  var retries = 0;
  var retryTimer = null;
  var opened = false;

  function mount() {
    host = document.createElement("div");
    host.setAttribute("data-tandem-widget", channel);
    root = host.attachShadow({ mode: "open" });
    root.innerHTML = "<style>" + STYLE + "</style>" + MARKUP;
    bubble = root.querySelector(".bubble");
    panel = root.querySelector(".panel");
    titleEl = root.querySelector("h2");
    log = root.querySelector(".log");
    statusEl = root.querySelector(".status");
    form = root.querySelector("form");
    input = root.querySelector("textarea");
    document.body.appendChild(host);

    bubble.addEventListener("click", function () { setOpen(!opened); });
    root.querySelector(".close").addEventListener("click", function () { setOpen(false); bubble.focus(); });
    panel.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { setOpen(false); bubble.focus(); }
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
    });
    form.addEventListener("submit", function (e) { e.preventDefault(); submit(); });

    pending.forEach(function (p) { render({ client_id: p.client_id, body: p.text, direction: "inbound" }, true); });
    // A visitor who has talked before is connected at once, so replies reach them on any page;
    // one who never wrote costs Tandem no socket.
    if (talked || pending.length) connect();
  }

  function setOpen(open) {
    opened = open;
    panel.hidden = !open;
    bubble.setAttribute("aria-expanded", open ? "true" : "false");
    bubble.setAttribute("aria-label", open ? "Close chat" : "Open chat");
    if (open) {
      bubble.classList.remove("unread");
      connect();
      showStatus();
      input.focus();
      log.scrollTop = log.scrollHeight;
    }
  }

  function showStatus(text) {
    statusEl.textContent = text || (connected ? "" : "Connecting\u2026");
  }

  function render(m, isPending) {
    var li = null;
    if (m.client_id) li = log.querySelector('li[data-client-id="' + m.client_id + '"]');
    if (!li && m.id) li = log.querySelector('li[data-id="' + m.id + '"]');
    if (!li) {
      li = document.createElement("li");
      log.appendChild(li);
    }
    li.className = "msg " + (m.direction === "inbound" ? "inbound" : "outbound") + (isPending ? " pending" : "");
    li.setAttribute("data-direction", m.direction);
    if (m.id) li.setAttribute("data-id", m.id);
    if (m.client_id) li.setAttribute("data-client-id", m.client_id);
    if (m.created_at) li.title = new Date(m.created_at).toLocaleString();
    li.textContent = m.body;
    var nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    if (nearBottom || isPending) log.scrollTop = log.scrollHeight;
    return li;
  }

  function renderGreeting() {
    var old = log.querySelector(".greeting");
    if (old) old.remove();
    if (!greeting) return;
    var li = document.createElement("li");
    li.className = "msg greeting";
    li.textContent = greeting;
    log.insertBefore(li, log.firstChild);
  }

  function submit() {
    var text = input.value.trim();
    if (!text) return;
    if (text.length > MAX_CHARS) { showStatus("A message holds at most " + MAX_CHARS + " characters."); return; }
    showStatus();
    var p = { client_id: uuid(), text: text };
    pending.push(p);
    persist();
    input.value = "";
    render({ client_id: p.client_id, body: text, direction: "inbound" }, true);
    if (connected) sendPending(p); else connect();
  }

  function sendPending(p) {
    if (connected) socket.send(JSON.stringify({ type: "message", client_id: p.client_id, text: p.text }));
  }

  function dropPending(clientId) {
    pending = pending.filter(function (p) { return p.client_id !== clientId; });
    persist();
  }

  function connect() {
    if (socket || !window.WebSocket) return;
    clearTimeout(retryTimer);
    var ws = new WebSocket(SOCKET_URL);
    socket = ws;
    ws.onopen = function () { ws.send(JSON.stringify({ type: "hello", visitor: visitor })); };
    ws.onmessage = function (e) {
      var frame;
      try { frame = JSON.parse(e.data); } catch (err) { return; }
      onFrame(frame);
    };
    ws.onclose = function () {
      if (socket !== ws) return;
      socket = null;
      connected = false;
      if (opened) showStatus();
      // Back off to 30 s, with jitter so a restarted server is not hit by every page at once.
      var delay = Math.min(30000, 1000 * Math.pow(2, retries)) * (0.5 + Math.random() / 2);
      retries += 1;
      retryTimer = setTimeout(connect, delay);
    };
  }

  function onFrame(frame) {
    if (frame.type === "hello") {
      retries = 0;
      connected = true;
      // The same token back means Tandem knows the visitor; a new one, that it does not (yet).
      talked = frame.visitor === visitor || (frame.messages || []).length > 0;
      visitor = frame.visitor;
      persist();
      if (frame.title) titleEl.textContent = frame.title;
      greeting = frame.greeting || null;
      // History first, then what is still waiting, in the order it was written.
      log.textContent = "";
      (frame.messages || []).forEach(function (m) {
        if (m.client_id) dropPending(m.client_id);
        render(m, false);
      });
      pending.forEach(function (p) { render({ client_id: p.client_id, body: p.text, direction: "inbound" }, true); sendPending(p); });
      renderGreeting();
      if (opened) showStatus();
    } else if (frame.type === "ack") {
      if (!talked) { talked = true; persist(); }
    } else if (frame.type === "message") {
      if (frame.client_id) dropPending(frame.client_id);
      render(frame, false);
      if (!opened && frame.direction === "outbound") {
        bubble.classList.add("unread");
        bubble.setAttribute("aria-label", "Open chat (new message)");
      }
    } else if (frame.type === "error") {
      if (frame.client_id && (frame.code === "rate_limited" || frame.code === "unavailable")) {
        var again = pending.filter(function (p) { return p.client_id === frame.client_id; })[0];
        if (again) setTimeout(function () { sendPending(again); }, 3000);
      } else if (frame.client_id) {
        dropPending(frame.client_id);
        var li = log.querySelector('li[data-client-id="' + frame.client_id + '"]');
        if (li) li.remove();
      }
      showStatus(frame.message);
    }
  }

  // Come back quickly when the network does, or when the visitor returns to the tab.
  window.addEventListener("online", function () { if (!socket && (talked || opened)) connect(); });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && !socket && (talked || opened)) connect();
  });

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
