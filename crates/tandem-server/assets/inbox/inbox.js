/*
 * Tandem's shared inbox for support staff: one ES2020 module, no framework, no build step.
 *
 * It reads and changes everything through the JSON API under /api/v1 with the login session
 * cookie, and hears of new messages, delivery statuses, conversation changes and internal notes
 * over the server-sent events of GET /api/v1/events, so nothing needs a reload. Every text that
 * comes from the API is put in the page as text (textContent, via h() below), never parsed as HTML,
 * and handlers are attached with addEventListener: the page's Content-Security-Policy forbids
 * inline code. Every failed API call is shown in the error banner with its machine-readable code.
 *
 * data-testid attributes (stable names the browser test and integrations rely on):
 *
 *   Shell and login
 *     boot, login, login-form, login-email, login-password, login-workspace, login-submit,
 *     app, error-banner, error-message, error-code, error-dismiss,
 *     workspace-name, me-name, me-role, logout, live-status (data-state: connecting|live|offline),
 *     credits-balance
 *   Notifications (the bell, beside the workspace's name; only for a person)
 *     notifications-button (aria-expanded), notifications-count (data-count: the unread number,
 *     always set; hidden at 0), notifications-panel, notifications-read-all, notifications-empty,
 *     notification-item (data-notification-id, data-read: true|false, data-kind),
 *       notification-text, notification-time
 *   Views, filters, list
 *     views, view-mine, view-team, view-all, view-unassigned, view-ai, view-handed_off,
 *     list-title, search-input, filter-status, filter-channel, filter-label, filter-assignee,
 *     conversation-list, list-empty, list-more,
 *     conversation-item (data-conversation-id, data-unread, data-status, data-agent-status),
 *       conversation-item-name, conversation-item-time,
 *       conversation-item-preview (the preview line), holding
 *         item-preview (its text, data-direction: inbound|outbound|none),
 *       conversation-item-channel, conversation-item-status, conversation-item-agent,
 *       conversation-item-assignee,
 *       conversation-item-snoozed (only while snoozed; data-until: the RFC 3339 end, or `reply`)
 *   Conversation
 *     conversation-empty, conversation, conversation-title, conversation-channel,
 *     conversation-assignee, window-state (data-state: unlimited|open|human_agent_only|closed),
 *     take-over, give-back, conversation-status, agent-notice, thread,
 *     snooze-button (aria-expanded), snooze-menu,
 *       snooze-option (data-choice: 1h|3h|tomorrow|next-week|until-reply|custom; `custom`
 *       shows the next two), snooze-custom-input (datetime-local, local time),
 *       snooze-custom-confirm,
 *     snoozed-until (only while snoozed; data-until: the RFC 3339 end, or `reply`), snooze-wake,
 *     day-separator,
 *     message (data-message-id, data-direction: inbound|outbound,
 *              data-author-kind: customer|agent|human|survey|integration, data-status),
 *       message-author, message-time, message-body, message-status, message-media
 *     thread-note (data-note-id: an internal note of the conversation, in the thread), holding
 *       note (data-note-id: its bubble), note-author, note-time, note-body
 *   Composer
 *     composer, composer-mode-reply, composer-mode-note, reply-area, smart-replies,
 *     smart-replies-request, smart-reply-chips, smart-reply-chip, smart-replies-credits,
 *     window-closed-notice, reply-input, assist-tone, assist-rewrite, assist-undo, assist-credits,
 *     reply-send, attach-button (data-state: idle|uploading), attach-input (its hidden file
 *     input), template-picker, template-select, template-variables, template-variable,
 *     template-preview, template-send, note-area, note-input, note-save
 *   Side panel
 *     side-panel, agent-panel, agent-none, agent-status (data-status), agent-handoff-reason,
 *     agent-handoff-team, agent-lead-score, agent-summary, agent-decisions, agent-decision,
 *     tickets-panel, ticket-create, ticket-form, ticket-subject, ticket-type, ticket-priority,
 *     ticket-description, ticket-fields, ticket-field (data-field), ticket-cancel, ticket-submit,
 *     ticket-list, tickets-empty,
 *     ticket-card (data-ticket-id, data-status), ticket-card-subject, ticket-status,
 *       ticket-type-badge, ticket-priority-badge, ticket-sla, ticket-sla-paused (inside
 *       ticket-sla), ticket-csat (data-state), ticket-status-select, ticket-resolve, ticket-reopen
 *     contact-panel, contact-name, contact-phone, contact-email, contact-company,
 *     contact-labels, contact-label (data-label), contact-label-remove, contact-label-input,
 *     contact-label-add, contact-owner, contact-properties, contact-field (data-field),
 *     contact-save, contact-notes, contact-note, contact-note-conversation, contact-records,
 *     contact-record, contact-tickets, contact-ticket,
 *     contact-lists (section), contact-list-item (data-list-id),
 *     contact-media (section), contact-media-item (data-message-id, data-kind, data-direction),
 *       contact-media-link, contact-media-thumb,
 *     contact-activity (section), contact-activity-item (data-kind, data-conversation-id),
 *       contact-activity-time, contact-activity-text
 */

const API = '/api/v1';
/** Messages and tickets are read in pages of this size (the API's maximum). */
const PAGE = 500;
/** Conversations per page of the list. */
const LIST_PAGE = 50;

// ---- DOM --------------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

/**
 * Builds an element. `props`: `class`, `testid` (data-testid), `data` (dataset), `onX` handlers,
 * DOM properties (value, disabled, hidden...) and any other attribute. Children are nodes or
 * text; text always becomes a text node, so API data can never be read as markup.
 */
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'testid') el.dataset.testid = value;
    else if (key === 'data') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key in el && !key.includes('-')) el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false || child === '') continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces `el`'s children (skipping empty ones, as h() does). */
function mount(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** `select` with `value` chosen (options must exist first, so it cannot be a prop of h()). */
function withValue(select, value) {
  select.value = value;
  return select;
}

/** Class names, the falsy ones left out. */
const cls = (...names) => names.filter(Boolean).join(' ');

// ---- API --------------------------------------------------------------------------------------

/** An answer of the API that is not a success: `{"error": {code, message, details}}`. */
class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || [];
  }
}

/** A problem found before asking the server, shown the same way. */
const clientError = (code, message) => new ApiError(0, code, message);

const enc = encodeURIComponent;

/** A JSON call: `body`, when given, goes as JSON. */
function api(method, path, body) {
  const init = { method, headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  return request(path, init);
}

/** POSTs a file's raw bytes with its own type (the API reads the body as the file itself). */
function upload(path, file) {
  const headers = { Accept: 'application/json', 'Content-Type': file.type || 'application/octet-stream' };
  return request(path, { method: 'POST', headers, body: file });
}

/** Sends one request; answers its JSON, or throws an ApiError (the banner's stuff). */
async function request(path, init) {
  init.credentials = 'same-origin';
  let response;
  try {
    response = await fetch(API + path, init);
  } catch (e) {
    throw new ApiError(0, 'network_error', 'Tandem cannot be reached: check the connection and try again.');
  }
  const text = response.status === 204 ? '' : await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (e) {
      data = null;
    }
  }
  if (!response.ok) {
    const err = data && data.error;
    const failure = new ApiError(
      response.status,
      (err && err.code) || `http_${response.status}`,
      (err && err.message) || `The server answered ${response.status} ${response.statusText}.`,
      err && err.details,
    );
    if (response.status === 401 && state.me && path !== '/auth/login') sessionLost(failure);
    throw failure;
  }
  return data;
}

/** Every page of a list endpoint that answers `{items, next_offset}`. */
async function allPages(path, maxPages = 20) {
  const items = [];
  let offset = 0;
  for (let page = 0; page < maxPages; page += 1) {
    const sep = path.includes('?') ? '&' : '?';
    const answer = await api('GET', `${path}${sep}limit=${PAGE}&offset=${offset}`);
    items.push(...answer.items);
    if (answer.next_offset === null || answer.next_offset === undefined) break;
    offset = answer.next_offset;
  }
  return items;
}

/**
 * Runs named requests side by side; returns their values and their errors, so one failing
 * part (say, a misconfigured channel's window) does not blank the rest of the screen.
 */
async function settle(requests) {
  const names = Object.keys(requests);
  const outcomes = await Promise.allSettled(names.map((n) => requests[n]));
  const values = {};
  const errors = {};
  outcomes.forEach((o, i) => {
    if (o.status === 'fulfilled') values[names[i]] = o.value;
    else errors[names[i]] = o.reason;
  });
  return { values, errors };
}

// ---- Errors -----------------------------------------------------------------------------------

function showError(error) {
  const code = error instanceof ApiError ? error.code : 'client_error';
  let message = (error && error.message) || String(error);
  if (error instanceof ApiError && error.details.length > 1) {
    message += ` (${error.details.map((d) => `${d.field}: ${d.message}`).join('; ')})`;
  }
  $('error-message').textContent = message;
  $('error-code').textContent = code;
  $('error-banner').hidden = false;
  // Also in the console, with the stack, for whoever debugs it.
  console.error(error);
}

function hideError() {
  $('error-banner').hidden = true;
}

/** An event handler whose failures land in the banner. */
function guarded(fn) {
  return async (...args) => {
    try {
      await fn(...args);
    } catch (e) {
      showError(e);
    }
  };
}

/** Disables `button` while `fn` runs, so a double click does not send twice. */
async function busy(button, fn) {
  if (button.disabled) return;
  button.disabled = true;
  button.classList.add('busy');
  try {
    await fn();
  } finally {
    button.disabled = false;
    button.classList.remove('busy');
  }
}

// ---- Words and times --------------------------------------------------------------------------

const CHANNEL_KINDS = {
  whatsapp: 'WhatsApp', instagram: 'Instagram', messenger: 'Messenger', wechat: 'WeChat', line: 'LINE',
  telegram: 'Telegram', viber: 'Viber', sms: 'SMS', widget: 'Live chat',
};
const CONVERSATION_STATUS = { open: 'Open', pending: 'Pending', snoozed: 'Snoozed', resolved: 'Resolved' };
const TICKET_STATUS = { to_do: 'To do', in_progress: 'In progress', waiting: 'Waiting', reopened: 'Reopened', resolved: 'Resolved' };
const PRIORITY = { urgent: 'Urgent', high: 'High', medium: 'Medium', low: 'Low' };
const ROLE = { admin: 'Admin', team_admin: 'Team admin', staff: 'Staff' };
const VIEW_TITLE = { mine: 'Mine', team: 'My teams', all: 'All', unassigned: 'Unassigned', ai: 'AI-handled', handed_off: 'Handed off' };
const HANDOFF_REASON = {
  customer_request: 'The customer asked for a person',
  keyword: 'A handoff keyword was used',
  negative_sentiment: 'The customer is upset',
  complex_request: 'The request needs a person',
  high_value_lead: 'High-value lead',
  no_answer: 'The knowledge base has no answer',
  low_confidence: 'Nothing in the knowledge base is close to the question',
};
const DELIVERY = { queued: 'Queued', sent: 'Sent', delivered: 'Delivered', read: 'Read', failed: 'Failed', received: '' };
const DELIVERY_ICON = { queued: '◷', sent: '✓', delivered: '✓✓', read: '✓✓', failed: '⚠' };

const humanize = (s) => String(s || '').replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const weekdayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
const shortDateFormat = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const snoozeFormat = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
const snoozeYearFormat = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' });

const MINUTE = 60 * 1000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const ms = (iso) => (iso ? Date.parse(iso) : NaN);
const full = (iso) => (iso ? fullFormat.format(new Date(iso)) : '');

/** "now", "5 min", "14:02", "Tue", "12 Mar": how long ago, as a list shows it. */
function ago(iso) {
  const t = ms(iso);
  if (Number.isNaN(t)) return '';
  const diff = Date.now() - t;
  if (diff < MINUTE) return 'now';
  if (diff < HOUR) return `${Math.floor(diff / MINUTE)} min`;
  const then = new Date(t);
  const today = new Date();
  if (then.toDateString() === today.toDateString()) return timeFormat.format(then);
  if (diff < 6 * DAY) return weekdayFormat.format(then);
  return shortDateFormat.format(then);
}

/** "just now", "5 min ago", "on 12 Mar 2025, 14:02": when something happened, in a sentence. */
function since(iso) {
  const diff = Date.now() - ms(iso);
  if (Number.isNaN(diff)) return '';
  if (diff < MINUTE) return 'just now';
  if (diff < HOUR) return `${Math.floor(diff / MINUTE)} min ago`;
  return `on ${full(iso)}`;
}

/** "in 3 h", "in 20 min": how long until a future instant. */
function until(iso) {
  const diff = ms(iso) - Date.now();
  if (Number.isNaN(diff)) return '';
  if (diff <= 0) return 'now';
  if (diff < HOUR) return `in ${Math.max(1, Math.round(diff / MINUTE))} min`;
  if (diff < 2 * DAY) return `in ${Math.round(diff / HOUR)} h`;
  return `in ${Math.round(diff / DAY)} days`;
}

/** "14:00", "Tue 09:00", "12 Mar": a moment ahead, as short as a list badge wants. */
function soon(iso) {
  const t = ms(iso);
  if (Number.isNaN(t)) return '';
  const then = new Date(t);
  if (then.toDateString() === new Date().toDateString()) return timeFormat.format(then);
  if (t - Date.now() < 6 * DAY) return `${weekdayFormat.format(then)} ${timeFormat.format(then)}`;
  return shortDateFormat.format(then);
}

/** "Tue, 12 Mar, 09:00" (with the year when it is another one): when a snooze ends. */
function snoozeEnd(iso) {
  const then = new Date(ms(iso));
  if (Number.isNaN(then.getTime())) return '';
  return (then.getFullYear() === new Date().getFullYear() ? snoozeFormat : snoozeYearFormat).format(then);
}

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

function initials(name) {
  const words = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? words[0][0] + words[words.length - 1][0] : (words[0] || '?').slice(0, 2);
  return letters.toUpperCase();
}

/** One of eight avatar colours, the same for the same id. */
function tint(id) {
  let hash = 0;
  for (const ch of String(id || '')) hash = (hash * 31 + ch.charCodeAt(0)) | 0;
  return `tint-${Math.abs(hash) % 8}`;
}

function avatar(name, id, size) {
  return h('span', { class: cls('avatar', size, tint(id)), 'aria-hidden': 'true' }, initials(name));
}

// ---- State ------------------------------------------------------------------------------------

const state = {
  me: null,
  users: new Map(),
  teams: [],
  channels: new Map(),
  labels: [],
  ticketTypes: [],
  properties: [],
  settings: null,

  view: 'all',
  filters: { status: '', channel_id: '', label: '', assignee_user_id: '' },
  q: '',
  items: [],
  nextOffset: null,
  listSeq: 0,

  openId: null,
  openSeq: 0,
  conversation: null,
  messages: [],
  /** The open conversation's internal notes, oldest first: they sit in its thread. */
  threadNotes: [],
  agent: null,
  window: null,
  templates: [],
  templatesChannel: null,
  tickets: [],
  csat: new Map(),
  contact: null,
  records: [],
  /** All of the contact's notes, newest first, whichever conversation they were written in. */
  contactNotes: [],
  contactTickets: [],
  contactLists: [],
  contactMedia: [],
  contactActivity: [],
  /** Sections of the contact panel whose last read failed (`lists`, `media`, `activity`). */
  contactFailed: new Set(),
  contactDirty: false,

  /** Conversation id → {reply, note}: drafts kept while another conversation is open. */
  drafts: new Map(),
  /** Conversation id → last_message_at when the person last had it open (unread marks). */
  seen: {},
  composerMode: 'reply',
  draftBeforeRewrite: null,

  events: null,
  eventsRetry: null,
  everConnected: false,

  /** The bell: the unread count, and the list as last read while the panel was open. */
  notifications: { unread: 0, items: [], loaded: false },
  /** A login without a person (the API answers 403): no bell, and no asking again. */
  notificationsOff: false,
  notificationsPoll: null,
  notificationsSeq: 0,
};

const myId = () => (state.me && state.me.user ? state.me.user.id : null);

function userName(id) {
  if (!id) return '';
  const bare = String(id).replace(/^user:/, '');
  if (bare === myId()) return `${state.me.user.name} (you)`;
  const user = state.users.get(bare);
  return user ? user.name : 'a former teammate';
}

function teamName(id) {
  const team = state.teams.find((t) => t.id === id);
  return team ? team.name : '';
}

function channelLabel(channelId) {
  const channel = state.channels.get(channelId);
  if (!channel) return 'Channel';
  const kind = CHANNEL_KINDS[channel.kind] || channel.kind;
  return channel.name && channel.name !== kind ? `${kind} · ${channel.name}` : kind;
}

function contactName(contact, item) {
  const fromContact = contact ? [contact.first_name, contact.last_name].filter(Boolean).join(' ') : '';
  return (
    fromContact ||
    (item && item.contact_name) ||
    (contact && contact.phone) ||
    (item && item.contact_phone) ||
    (contact && contact.email) ||
    'Unknown contact'
  );
}

// ---- Seen marks (per person, in this browser) -------------------------------------------------

const seenKey = () => `tandem-inbox:seen:${myId() || 'key'}`;

function loadSeen() {
  try {
    state.seen = JSON.parse(localStorage.getItem(seenKey()) || '{}') || {};
  } catch (e) {
    state.seen = {};
  }
}

function markSeen(conversation) {
  if (!conversation || !conversation.last_message_at) return;
  if (state.seen[conversation.id] === conversation.last_message_at) return;
  state.seen[conversation.id] = conversation.last_message_at;
  const entries = Object.entries(state.seen);
  if (entries.length > 1000) {
    entries.sort((a, b) => ms(b[1]) - ms(a[1]));
    state.seen = Object.fromEntries(entries.slice(0, 800));
  }
  try {
    localStorage.setItem(seenKey(), JSON.stringify(state.seen));
  } catch (e) {
    // A full or disabled storage only costs the unread marks.
  }
}

/** The customer wrote after the person last looked. */
function isUnread(item) {
  if (!item.last_inbound_at || item.id === state.openId) return false;
  const seen = state.seen[item.id];
  return !seen || ms(item.last_inbound_at) > ms(seen);
}

// ---- Session ----------------------------------------------------------------------------------

function showOnly(section) {
  $('boot').hidden = section !== 'boot';
  $('login').hidden = section !== 'login';
  $('app').hidden = section !== 'app';
}

function showLogin() {
  showOnly('login');
  $('login-email').focus();
}

function sessionLost(error) {
  state.me = null;
  closeEvents();
  stopNotifications();
  closeConversation();
  showLogin();
  showError(error.code === 'session_expired' ? error : new ApiError(401, error.code, 'Your session has ended: log in again.'));
}

async function boot() {
  wireStaticHandlers();
  try {
    const me = await api('GET', '/me');
    await enterApp(me);
  } catch (e) {
    showLogin();
    // No session yet is the usual way in; anything else is worth saying.
    if (!(e instanceof ApiError && e.status === 401)) showError(e);
  }
}

async function login(event) {
  event.preventDefault();
  const body = { email: $('login-email').value.trim(), password: $('login-password').value };
  const workspace = $('login-workspace').value.trim();
  if (workspace) body.workspace_id = workspace;
  if (!body.email || !body.password) throw clientError('missing_credentials', 'Enter your e-mail and password.');
  let me;
  await busy($('login-submit'), async () => {
    try {
      me = await api('POST', '/auth/login', body);
    } catch (e) {
      if (e.code === 'workspace_required') $('login-workspace-field').hidden = false;
      throw e;
    }
  });
  $('login-password').value = '';
  hideError();
  await enterApp(me);
}

async function logout() {
  try {
    await api('POST', '/auth/logout');
  } finally {
    state.me = null;
    state.everConnected = false;
    closeEvents();
    stopNotifications();
    closeConversation();
    state.items = [];
    state.drafts.clear();
    renderList();
    showLogin();
  }
}

async function enterApp(me) {
  state.me = me;
  loadSeen();
  showOnly('app');
  $('workspace-name').textContent = me.workspace.name;
  $('me-name').textContent = me.user ? me.user.name : 'API key';
  $('me-role').textContent = ROLE[me.role] || humanize(me.role);
  $('me-avatar').replaceChildren(initials(me.user ? me.user.name : 'API'));
  $('me-avatar').className = cls('avatar', tint(myId()));
  // An API key is no person: it has no "mine" nor teams.
  for (const view of ['mine', 'team']) document.querySelector(`#views [data-view="${view}"]`).hidden = !me.user;
  startNotifications();
  await loadReferenceData();
  selectView(me.user ? state.view : 'all', { load: false });
  connectEvents();
  await loadList();
  await routeFromHash();
}

/** What the screens name things with: people, teams, channels, labels, types, properties. */
async function loadReferenceData() {
  const { values, errors } = await settle({
    users: api('GET', '/users'),
    teams: api('GET', '/teams'),
    channels: api('GET', '/channels'),
    labels: api('GET', '/labels'),
    ticketTypes: api('GET', '/ticket-types'),
    properties: api('GET', '/contact-properties'),
    settings: api('GET', '/inbox/settings'),
    credits: api('GET', '/credits'),
  });
  if (values.users) state.users = new Map(values.users.items.map((u) => [u.id, u]));
  if (values.teams) state.teams = values.teams.items;
  if (values.channels) state.channels = new Map(values.channels.items.map((c) => [c.id, c]));
  if (values.labels) state.labels = values.labels.items;
  if (values.ticketTypes) state.ticketTypes = values.ticketTypes.items;
  if (values.properties) state.properties = values.properties.items;
  if (values.settings) state.settings = values.settings;
  if (values.credits) setCredits(values.credits.balance);
  fillFilters();
  fillTicketTypes();
  const first = Object.values(errors)[0];
  if (first) showError(first);
}

function setCredits(balance) {
  if (typeof balance === 'number') $('credits-balance').textContent = String(balance);
}

function fillSelect(select, first, options) {
  const current = select.value;
  select.replaceChildren(
    ...(first ? [h('option', { value: '' }, first)] : []),
    ...options.map(([value, label]) => h('option', { value }, label)),
  );
  if ([...select.options].some((o) => o.value === current)) select.value = current;
}

function fillFilters() {
  fillSelect($('filter-channel'), 'All channels', [...state.channels.values()].map((c) => [c.id, channelLabel(c.id)]));
  fillSelect($('filter-label'), 'Any label', state.labels.map((l) => [l.name, l.name]));
  fillSelect($('filter-assignee'), 'Anyone', [...state.users.values()].map((u) => [u.id, u.id === myId() ? `${u.name} (you)` : u.name]));
  $('label-names').replaceChildren(...state.labels.map((l) => h('option', { value: l.name })));
}

function fillTicketTypes() {
  fillSelect($('ticket-type'), null, state.ticketTypes.map((t) => [t.key, t.name]));
  resetTicketType();
}

/** New tickets start as `general`, the API's default type. */
function resetTicketType() {
  if (state.ticketTypes.some((t) => t.key === 'general')) $('ticket-type').value = 'general';
  renderTicketFields();
}

// ---- Live events ------------------------------------------------------------------------------

function setLive(mode) {
  const el = $('live-status');
  el.dataset.state = mode;
  $('live-text').textContent = { live: 'Live', connecting: 'Connecting…', offline: 'Offline: retrying' }[mode];
}

function closeEvents() {
  if (state.events) state.events.close();
  state.events = null;
  clearTimeout(state.eventsRetry);
}

function connectEvents() {
  closeEvents();
  const source = new EventSource(`${API}/events`);
  state.events = source;
  setLive('connecting');
  source.addEventListener('open', () => {
    setLive('live');
    // Whatever happened while disconnected was not heard: read it now.
    if (state.everConnected) resync();
    state.everConnected = true;
  });
  for (const kind of ['message.created', 'message.status', 'conversation.updated', 'note.created']) {
    source.addEventListener(kind, (event) => onInboxEvent(kind, event));
  }
  source.addEventListener('resync', resync);
  source.addEventListener('error', () => {
    if (source !== state.events) return;
    if (source.readyState !== EventSource.CLOSED) {
      setLive('connecting');
      return;
    }
    // The browser gave up (the server refused the stream): find out why, then try again.
    setLive('offline');
    retryEvents(3000);
  });
}

/** Reconnects once the API answers again; an ended session shows the login form instead. */
function retryEvents(delay) {
  clearTimeout(state.eventsRetry);
  state.eventsRetry = setTimeout(async () => {
    if (!state.me) return;
    try {
      await api('GET', '/me');
      connectEvents();
    } catch (e) {
      if (!state.me) return;
      showError(e);
      retryEvents(Math.min(delay * 2, 30000));
    }
  }, delay);
}

function resync() {
  scheduleListRefresh();
  scheduleNotificationsRefresh();
  if (state.openId) scheduleOpenRefresh('all');
}

function onInboxEvent(kind, event) {
  let data;
  try {
    data = JSON.parse(event.data);
  } catch (e) {
    showError(clientError('bad_event', `An inbox event could not be read: ${e.message}`));
    return;
  }
  // A note changes nothing the list shows.
  if (kind !== 'note.created') scheduleListRefresh();
  // An escalation changes the conversation too: the event that tells of it is the bell's cue.
  if (kind === 'conversation.updated') scheduleNotificationsRefresh();
  if (data.conversation_id === state.openId) scheduleOpenRefresh(OPEN_REFRESH[kind] || 'messages');
}

/** What of the open conversation an event makes stale (`messages` otherwise). */
const OPEN_REFRESH = { 'conversation.updated': 'conversation', 'note.created': 'notes' };

/** At most one list read per 200 ms however busy the inbox is; it sees every change before it. */
let listTimer = null;
function scheduleListRefresh() {
  if (listTimer) return;
  listTimer = setTimeout(
    guarded(() => {
      listTimer = null;
      return loadList({ keep: true });
    }),
    200,
  );
}

let openTimer = null;
const pendingOpenKinds = new Set();
function scheduleOpenRefresh(kind) {
  pendingOpenKinds.add(kind);
  if (openTimer) return;
  openTimer = setTimeout(
    guarded(async () => {
      openTimer = null;
      const kinds = new Set(pendingOpenKinds);
      pendingOpenKinds.clear();
      await refreshOpen(kinds);
    }),
    150,
  );
}

// ---- The list ---------------------------------------------------------------------------------

function selectView(view, { load = true } = {}) {
  state.view = view;
  for (const button of document.querySelectorAll('#views .view')) {
    const active = button.dataset.view === view;
    button.classList.toggle('active', active);
    button.setAttribute('aria-current', active ? 'page' : 'false');
  }
  $('list-title').textContent = VIEW_TITLE[view] || view;
  if (load) return loadList();
  return undefined;
}

function listQuery(offset, limit) {
  const params = new URLSearchParams({ view: state.view, limit: String(limit), offset: String(offset) });
  for (const [key, value] of Object.entries(state.filters)) if (value) params.set(key, value);
  if (state.q.trim()) params.set('q', state.q.trim());
  return `/inbox/conversations?${params}`;
}

/**
 * Reads the list. `keep`: a live refresh, which reads as many as are shown; `append`: the next page.
 */
async function loadList({ keep = false, append: more = false } = {}) {
  if (!state.me) return;
  const seq = ++state.listSeq;
  const offset = more ? state.nextOffset || 0 : 0;
  const limit = keep ? Math.min(PAGE, Math.max(LIST_PAGE, state.items.length)) : LIST_PAGE;
  const page = await api('GET', listQuery(offset, limit));
  if (seq !== state.listSeq) return;
  state.items = more ? state.items.concat(page.items) : page.items;
  state.nextOffset = page.next_offset;
  renderList();
}

function renderList() {
  const list = $('conversation-list');
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.conversationId : null;
  list.replaceChildren(...state.items.map(conversationRow));
  $('list-empty').hidden = state.items.length > 0 || !state.me;
  $('list-more').hidden = !state.nextOffset;
  if (focused) {
    const again = list.querySelector(`[data-conversation-id="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
}

let renderListFrame = 0;
function renderListSoon() {
  if (renderListFrame) return;
  renderListFrame = requestAnimationFrame(() => {
    renderListFrame = 0;
    renderList();
  });
}

/** The list's one line of the latest message, as the list item carries it (`last_message`). */
function previewText(item) {
  const last = item.last_message;
  if (!last) return item.last_message_at ? '…' : 'No messages yet';
  // A media message without a caption has no text.
  const text = last.body && last.body.trim() ? last.body : 'Attachment';
  if (last.direction !== 'outbound') return text;
  const author = last.author || '';
  const who =
    author === 'agent' ? 'AI' : author === 'csat' ? 'Survey' : author.startsWith('api_key:') ? 'Integration' : !author || author === myId() ? 'You' : userName(author);
  return `${who}: ${text}`;
}

function conversationRow(item) {
  const name = contactName(null, item);
  const unread = isUnread(item);
  const channel = state.channels.get(item.channel_id);
  const agent =
    item.agent_status === 'active'
      ? h('span', { class: 'tag ai', testid: 'conversation-item-agent' }, '✦ AI')
      : item.agent_status === 'handed_off'
        ? h('span', { class: 'tag handoff', testid: 'conversation-item-agent' }, '⇄ Handed off')
        : null;
  return h(
    'li',
    { class: 'conversation-row' },
    h(
      'button',
      {
        type: 'button',
        class: cls('conversation-item', unread && 'unread', item.id === state.openId && 'active'),
        testid: 'conversation-item',
        data: { conversationId: item.id, unread: String(unread), status: item.status, agentStatus: item.agent_status || 'none' },
        onclick: guarded(() => openConversation(item.id)),
      },
      avatar(name, item.contact_id),
      h(
        'span',
        { class: 'item-main' },
        h(
          'span',
          { class: 'item-top' },
          h('span', { class: 'item-name', testid: 'conversation-item-name' }, name),
          h(
            'time',
            { class: 'item-time', testid: 'conversation-item-time', datetime: item.last_message_at || item.created_at, title: full(item.last_message_at || item.created_at) },
            ago(item.last_message_at || item.created_at),
          ),
        ),
        h(
          'span',
          { class: 'item-preview', testid: 'conversation-item-preview' },
          h('span', { testid: 'item-preview', data: { direction: item.last_message ? item.last_message.direction : 'none' } }, previewText(item)),
        ),
        h(
          'span',
          { class: 'item-tags' },
          h('span', { class: cls('tag channel', channel && `kind-${channel.kind}`), testid: 'conversation-item-channel' }, channelLabel(item.channel_id)),
          h('span', { class: cls('tag status', `status-${item.status}`), testid: 'conversation-item-status' }, CONVERSATION_STATUS[item.status] || item.status),
          snoozedBadge(item),
          agent,
          h(
            'span',
            { class: 'item-assignee', testid: 'conversation-item-assignee' },
            item.assignee_user_id ? userName(item.assignee_user_id) : item.team_id ? `${teamName(item.team_id)} queue` : 'Unassigned',
          ),
        ),
      ),
      unread ? h('span', { class: 'unread-dot', title: 'New customer message' }) : null,
    ),
  );
}

/** "until 14:00" / "until reply" beside a snoozed item's status: when it comes back by itself. */
function snoozedBadge(item) {
  if (item.status !== 'snoozed') return null;
  const at = item.snoozed_until;
  return h(
    'span',
    {
      class: 'tag snoozed',
      testid: 'conversation-item-snoozed',
      data: { until: at || 'reply' },
      title: at ? `Snoozed until ${full(at)}` : 'Snoozed until the customer replies',
    },
    at ? `until ${soon(at)}` : 'until reply',
  );
}

// ---- The open conversation --------------------------------------------------------------------

function keepDraft() {
  if (!state.openId) return;
  state.drafts.set(state.openId, { reply: $('reply-input').value, note: $('note-input').value });
}

async function openConversation(id) {
  if (state.openId !== id) {
    keepDraft();
    state.openId = id;
    state.conversation = null;
    state.messages = [];
    state.threadNotes = [];
    state.agent = null;
    state.window = null;
    state.tickets = [];
    state.csat = new Map();
    state.contact = null;
    state.records = [];
    state.contactNotes = [];
    state.contactTickets = [];
    state.contactLists = [];
    state.contactMedia = [];
    state.contactActivity = [];
    state.contactFailed = new Set();
    state.contactDirty = false;
    state.draftBeforeRewrite = null;
    const draft = state.drafts.get(id) || { reply: '', note: '' };
    $('reply-input').value = draft.reply;
    $('note-input').value = draft.note;
    $('smart-reply-chips').replaceChildren();
    $('smart-replies-credits').textContent = '';
    $('assist-credits').textContent = '';
    $('assist-undo').hidden = true;
    $('ticket-form').hidden = true;
    closeSnoozeMenu();
    $('thread').replaceChildren();
    $('conversation-empty').hidden = true;
    $('conversation').hidden = false;
    $('side-panel').hidden = false;
    if (location.hash !== `#/c/${id}`) history.replaceState(null, '', `#/c/${id}`);
    renderList();
  }
  await refreshOpen(new Set(['all']));
}

function closeConversation() {
  state.openId = null;
  state.conversation = null;
  closeSnoozeMenu();
  $('conversation').hidden = true;
  $('side-panel').hidden = true;
  $('conversation-empty').hidden = false;
  if (location.hash.startsWith('#/c/')) history.replaceState(null, '', location.pathname + location.search);
}

async function routeFromHash() {
  const match = /^#\/c\/([0-9A-Za-z_-]{8,64})$/.exec(location.hash);
  if (match && match[1] !== state.openId) await openConversation(match[1]);
}

/**
 * Reads the open conversation again. `kinds`: `all` (just opened), `messages` (a message or a
 * delivery status changed), `conversation` (status, assignment, agent), `tickets`, `notes` (an
 * internal note was written), `contact`; the conversation itself, its agent and its window are
 * always read.
 */
async function refreshOpen(kinds) {
  const id = state.openId;
  if (!id) return;
  const seq = ++state.openSeq;
  const want = (kind) => kinds.has('all') || kinds.has(kind);
  const path = `/conversations/${enc(id)}`;
  const first = await settle({
    conversation: api('GET', path),
    agent: api('GET', `${path}/agent`),
    window: api('GET', `${path}/window`),
    ...(want('messages') ? { messages: allPages(`${path}/messages`) } : {}),
    ...(want('notes') ? { threadNotes: api('GET', `${path}/notes`) } : {}),
    ...(want('messages') || want('tickets') ? { tickets: allPages(`/tickets?conversation_id=${enc(id)}`, 2) } : {}),
  });
  if (seq !== state.openSeq || state.openId !== id) return;
  if (first.errors.conversation) {
    if (first.errors.conversation.status === 404) closeConversation();
    throw first.errors.conversation;
  }
  const conversation = first.values.conversation;
  const contactChanged = !state.contact || state.contact.id !== conversation.contact_id;
  state.conversation = conversation;
  if ('agent' in first.values) state.agent = first.values.agent;
  if ('window' in first.values) state.window = first.values.window;
  if ('messages' in first.values) state.messages = first.values.messages;
  if ('threadNotes' in first.values) state.threadNotes = first.values.threadNotes.items;
  if ('tickets' in first.values) state.tickets = first.values.tickets;

  const contactPath = `/contacts/${enc(conversation.contact_id)}`;
  const channel = conversation.channel_id;
  // Read again on each opening: a template may have been approved since.
  const needsTemplates = windowNeedsTemplate() && (kinds.has('all') || state.templatesChannel !== channel);
  const wholeContact = want('contact') || contactChanged;
  const second = await settle({
    ...(wholeContact
      ? { contact: api('GET', contactPath), records: api('GET', `${contactPath}/records`), lists: api('GET', `${contactPath}/lists`) }
      : {}),
    ...(want('notes') || wholeContact ? { contactNotes: api('GET', `${contactPath}/notes`) } : {}),
    ...(want('tickets') || want('messages') || wholeContact
      ? { contactTickets: allPages(`/tickets?contact_id=${enc(conversation.contact_id)}`, 2) }
      : {}),
    // Media come with messages; the activity tells of messages, notes and tickets alike.
    ...(want('messages') || wholeContact ? { media: api('GET', `${contactPath}/media`) } : {}),
    ...(want('messages') || want('notes') || want('tickets') || wholeContact ? { activity: api('GET', `${contactPath}/activity`) } : {}),
    ...(first.values.tickets ? { csat: csatOf(state.tickets) } : {}),
    ...(needsTemplates ? { templates: api('GET', `/channels/${enc(channel)}/templates`) } : {}),
  });
  if (seq !== state.openSeq || state.openId !== id) return;
  if ('contact' in second.values) {
    state.contact = second.values.contact;
    state.contactDirty = false;
  }
  if ('records' in second.values) state.records = second.values.records.items;
  if ('contactNotes' in second.values) state.contactNotes = second.values.contactNotes.items;
  if ('contactTickets' in second.values) state.contactTickets = second.values.contactTickets;
  keepContactSection(second, 'lists', 'contactLists');
  keepContactSection(second, 'media', 'contactMedia');
  keepContactSection(second, 'activity', 'contactActivity');
  if ('csat' in second.values) state.csat = second.values.csat;
  if ('templates' in second.values) {
    state.templates = second.values.templates.items;
    state.templatesChannel = channel;
  }

  renderConversation();
  markSeen(conversation);
  renderListSoon();
  const failures = [...Object.values(first.errors), ...Object.values(second.errors)];
  if (failures.length) throw failures[0];
}

/**
 * Takes a section of the contact panel from a `settle` answer; one that failed keeps what it
 * showed before and is marked, so the rest of the panel stays.
 */
function keepContactSection(answer, name, key) {
  if (name in answer.values) {
    state[key] = answer.values[name].items;
    state.contactFailed.delete(name);
  } else if (name in answer.errors) {
    state.contactFailed.add(name);
  }
}

/** Ticket id → its surveys, newest last. */
async function csatOf(tickets) {
  const lists = await Promise.all(tickets.map((t) => api('GET', `/tickets/${enc(t.id)}/csat`)));
  return new Map(tickets.map((t, i) => [t.id, lists[i].items]));
}

function windowState() {
  return (state.window && state.window.window) || { state: 'unlimited' };
}

function windowNeedsTemplate() {
  const w = windowState();
  return w.state === 'closed' && w.template_required;
}

function renderConversation() {
  renderHeader();
  renderThread();
  renderComposer();
  renderAgent();
  renderTickets();
  renderContact();
}

function renderHeader() {
  const c = state.conversation;
  const item = state.items.find((i) => i.id === c.id);
  const name = contactName(state.contact, item);
  $('conversation-title').textContent = name;
  $('conversation-avatar').replaceChildren(initials(name));
  $('conversation-avatar').className = cls('avatar large', tint(c.contact_id));
  const channel = state.channels.get(c.channel_id);
  $('conversation-channel').textContent = channelLabel(c.channel_id);
  $('conversation-channel').className = cls('chip', channel && `kind-${channel.kind}`);
  const team = c.team_id ? teamName(c.team_id) : '';
  $('conversation-assignee').textContent = c.assignee_user_id
    ? `Assigned to ${userName(c.assignee_user_id)}${team ? ` · ${team}` : ''}`
    : team
      ? `Waiting in ${team}'s queue`
      : 'Unassigned';
  $('conversation-status').value = c.status;
  renderSnoozeState(c);

  const w = windowState();
  const badge = $('window-state');
  badge.dataset.state = w.state;
  badge.title = w.closes_at ? `Closes ${full(w.closes_at)}` : '';
  badge.textContent = {
    unlimited: 'No reply window',
    open: `Window open · closes ${until(w.closes_at)}`,
    human_agent_only: `People only · until ${full(w.closes_at)}`,
    closed: w.template_required ? 'Window closed · templates only' : 'Window closed',
  }[w.state] || humanize(w.state);

  const agentState = state.agent && state.agent.state;
  const me = myId();
  const takeOver = $('take-over');
  takeOver.hidden = !me || c.assignee_user_id === me;
  takeOver.textContent = agentState && agentState.status === 'active' ? 'Take over' : 'Assign to me';
  takeOver.title = agentState ? 'Assign this conversation to yourself and answer the customer' : '';
  const giveBack = $('give-back');
  giveBack.hidden = !agentState || !(agentState.status === 'handed_off' || (me && c.assignee_user_id === me));

  const notice = $('agent-notice');
  const stillAnswering = agentState && agentState.status === 'active' && c.assignee_user_id;
  notice.hidden = !stillAnswering;
  notice.textContent = stillAnswering ? 'The AI agent is still active on this conversation: it will also answer the customer’s next message.' : '';
}

/** "Snoozed until …" with its Wake now button, while the conversation is snoozed. */
function renderSnoozeState(c) {
  const snoozed = c.status === 'snoozed';
  $('snooze-state').hidden = !snoozed;
  const label = $('snoozed-until');
  if (!snoozed) {
    label.textContent = '';
    delete label.dataset.until;
    return;
  }
  const at = c.snoozed_until;
  label.dataset.until = at || 'reply';
  label.title = at ? `Opens again ${full(at)}, or as soon as the customer writes` : 'Opens again as soon as the customer writes';
  label.textContent = at ? `Snoozed until ${snoozeEnd(at)}` : 'Snoozed until the customer replies';
}

function authorOf(message) {
  if (message.direction === 'inbound') return { kind: 'customer', name: contactName(state.contact, state.items.find((i) => i.id === message.conversation_id)) };
  const author = message.author || '';
  if (author === 'agent') return { kind: 'agent', name: 'AI agent' };
  if (author === 'csat') return { kind: 'survey', name: 'Satisfaction survey' };
  if (author.startsWith('api_key:')) return { kind: 'integration', name: 'Integration' };
  if (!author) return { kind: 'integration', name: 'Business' };
  return { kind: 'human', name: userName(author) };
}

function mediaOf(message) {
  const content = message.content;
  if (!content || content.type !== 'media') return null;
  if (content.stored) {
    const src = `${API}/messages/${enc(message.id)}/media`;
    if (String(content.stored.mime_type || '').startsWith('image/')) {
      return h('a', { href: src, target: '_blank', rel: 'noopener', class: 'media', testid: 'message-media' }, h('img', { src, alt: content.caption || 'Image from the customer', loading: 'lazy' }));
    }
    return h('a', { href: src, target: '_blank', rel: 'noopener', class: 'media file', testid: 'message-media' }, `Open ${content.kind || 'file'}${content.filename ? `: ${content.filename}` : ''}`);
  }
  if (content.stored_error) return h('span', { class: 'media unavailable', testid: 'message-media' }, `Media unavailable: ${content.stored_error}`);
  if (message.direction === 'inbound') return h('span', { class: 'media pending', testid: 'message-media' }, 'Downloading the attachment…');
  // Sent from a public URL: the provider fetched it from there.
  const href = safeUrl(content.url);
  const label = `${humanize(content.kind || 'file')}${content.filename ? `: ${content.filename}` : ''}`;
  return href
    ? h('a', { href, target: '_blank', rel: 'noopener', class: 'media file', testid: 'message-media' }, label)
    : h('span', { class: 'media file', testid: 'message-media' }, label);
}

/** `url` when it is one to link to (the API's own, or http(s)); never a `javascript:` one. */
function safeUrl(url) {
  if (typeof url !== 'string') return null;
  return url.startsWith('/api/') || /^https?:\/\//i.test(url) ? url : null;
}

function messageNode(message) {
  const author = authorOf(message);
  const template = message.content && message.content.type === 'template' ? message.content.name : null;
  const status = message.direction === 'outbound' ? message.status : null;
  return h(
    'li',
    {
      class: cls('message', message.direction, `by-${author.kind}`, status === 'failed' && 'failed'),
      testid: 'message',
      data: { messageId: message.id, direction: message.direction, authorKind: author.kind, status: message.status },
    },
    h(
      'div',
      { class: 'bubble' },
      h(
        'div',
        { class: 'message-head' },
        h('span', { class: 'message-author', testid: 'message-author' }, author.kind === 'agent' ? '✦ AI agent' : author.name),
        template ? h('span', { class: 'tag' }, `Template ${template}`) : null,
        h('time', { class: 'message-time', testid: 'message-time', datetime: message.created_at, title: full(message.created_at) }, timeFormat.format(new Date(message.created_at))),
      ),
      h('div', { class: 'message-body', testid: 'message-body' }, message.body),
      mediaOf(message),
      status
        ? h(
            'div',
            { class: cls('message-status', `delivery-${status}`), testid: 'message-status', title: message.status_at ? full(message.status_at) : '' },
            h('span', { 'aria-hidden': 'true' }, DELIVERY_ICON[status] || ''),
            ` ${DELIVERY[status] || status}`,
            status === 'failed' && message.error ? `: ${message.error}` : '',
          )
        : null,
    ),
  );
}

/** Who wrote a note: `user:<id>` (a teammate), `api_key:<id>` (an integration) or `system`. */
function noteAuthor(note) {
  const author = String(note.author || '');
  if (author.startsWith('user:')) return state.users.size || author.slice(5) === myId() ? userName(author) : 'Teammate';
  if (author.startsWith('api_key:')) return 'Integration';
  return 'System';
}

/** An internal note in the thread: for the team's eyes, never sent to the customer. */
function noteNode(note) {
  return h(
    'li',
    { class: 'note', testid: 'thread-note', data: { noteId: note.id } },
    h(
      'div',
      { class: 'bubble', testid: 'note', data: { noteId: note.id } },
      h(
        'div',
        { class: 'message-head' },
        h('span', { class: 'note-label' }, 'Internal note'),
        h('span', { class: 'note-author', testid: 'note-author' }, noteAuthor(note)),
        h('time', { class: 'message-time', testid: 'note-time', datetime: note.created_at, title: full(note.created_at) }, timeFormat.format(new Date(note.created_at))),
      ),
      h('div', { class: 'message-body', testid: 'note-body' }, note.body),
    ),
  );
}

function renderThread() {
  const thread = $('thread');
  const nearBottom = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 80 || !thread.childElementCount;
  // The conversation's own notes, between its messages in the order things happened.
  const entries = [
    ...state.messages.map((m) => ({ at: ms(m.created_at), node: () => messageNode(m) })),
    ...state.threadNotes.map((n) => ({ at: ms(n.created_at), node: () => noteNode(n) })),
  ].sort((a, b) => a.at - b.at);
  const nodes = [];
  let day = '';
  for (const entry of entries) {
    const label = dayFormat.format(new Date(entry.at));
    if (label !== day) {
      day = label;
      nodes.push(h('li', { class: 'day-separator', testid: 'day-separator' }, h('span', null, label)));
    }
    nodes.push(entry.node());
  }
  if (!entries.length) nodes.push(h('li', { class: 'thread-empty' }, 'No messages yet.'));
  thread.replaceChildren(...nodes);
  if (nearBottom) thread.scrollTop = thread.scrollHeight;
}

function setComposerMode(mode) {
  state.composerMode = mode;
  $('composer-mode-reply').setAttribute('aria-selected', String(mode === 'reply'));
  $('composer-mode-note').setAttribute('aria-selected', String(mode === 'note'));
  $('reply-area').hidden = mode !== 'reply';
  $('note-area').hidden = mode !== 'note';
  $(mode === 'reply' ? 'reply-input' : 'note-input').focus();
}

function renderComposer() {
  const w = windowState();
  const templatesOnly = windowNeedsTemplate();
  const closed = w.state === 'closed' && !w.template_required;
  $('free-text').hidden = templatesOnly;
  $('smart-replies').hidden = templatesOnly || closed;
  $('template-picker').hidden = !templatesOnly;
  const notice = $('window-closed-notice');
  notice.hidden = !(templatesOnly || closed || w.state === 'human_agent_only');
  notice.textContent = templatesOnly
    ? 'The 24-hour window has closed: WhatsApp only delivers an approved template until the customer writes again.'
    : closed
      ? 'The conversation window has closed: the customer must write first.'
      : w.state === 'human_agent_only'
        ? `Past 24 hours only a person may answer (tagged HUMAN_AGENT), until ${full(w.closes_at)}.`
        : '';
  $('reply-send').disabled = closed;
  $('reply-input').disabled = closed;
  if (!$('attach-button').classList.contains('busy')) $('attach-button').disabled = closed;
  if (templatesOnly) renderTemplatePicker();
}

function approvedTemplates() {
  return state.templates.filter((t) => t.status === 'approved');
}

function renderTemplatePicker() {
  const select = $('template-select');
  const templates = approvedTemplates();
  const current = select.value;
  select.replaceChildren(...templates.map((t) => h('option', { value: `${t.name}|${t.language}` }, `${t.name} (${t.language}, ${t.category})`)));
  if (!templates.length) select.append(h('option', { value: '' }, 'No approved template on this channel'));
  if ([...select.options].some((o) => o.value === current)) select.value = current;
  renderTemplateVariables();
}

function selectedTemplate() {
  const [name, language] = $('template-select').value.split('|');
  return approvedTemplates().find((t) => t.name === name && t.language === language) || null;
}

function renderTemplateVariables() {
  const template = selectedTemplate();
  const box = $('template-variables');
  const kept = [...box.querySelectorAll('input')].map((i) => i.value);
  const count = template ? template.variables : 0;
  box.replaceChildren(
    ...Array.from({ length: count }, (_, i) =>
      h(
        'label',
        { class: 'field' },
        h('span', null, `{{${i + 1}}}`),
        h('input', { type: 'text', value: kept[i] || '', testid: 'template-variable', data: { index: String(i + 1) }, oninput: renderTemplatePreview }),
      ),
    ),
  );
  $('template-send').disabled = !template;
  renderTemplatePreview();
}

function renderTemplatePreview() {
  const template = selectedTemplate();
  if (!template) {
    $('template-preview').textContent = 'An admin registers templates with Meta; approved ones appear here.';
    return;
  }
  const values = [...$('template-variables').querySelectorAll('input')].map((i) => i.value);
  $('template-preview').textContent = template.body.replace(/\{\{(\d+)\}\}/g, (all, n) => values[Number(n) - 1] || all);
}

function renderAgent() {
  const body = $('agent-body');
  const view = state.agent;
  if (!view || !view.state) {
    body.replaceChildren(h('p', { class: 'muted', testid: 'agent-none' }, 'No AI agent has answered this conversation.'));
    return;
  }
  const s = view.state;
  const handedOff = s.status === 'handed_off';
  const decisions = (view.decisions || []).slice(-30).reverse();
  mount(
    body,
    h(
      'div',
      { class: 'agent-row' },
      h('span', { class: cls('badge', handedOff ? 'handoff' : 'ai'), testid: 'agent-status', data: { status: s.status } }, handedOff ? 'Handed off' : 'Answering'),
      h('span', { class: 'muted small' }, `updated ${since(s.updated_at)}`),
    ),
    handedOff && s.handoff_reason
      ? h('p', { class: 'agent-reason', testid: 'agent-handoff-reason' }, HANDOFF_REASON[s.handoff_reason] || humanize(s.handoff_reason))
      : null,
    handedOff && s.handoff_team ? h('p', { class: 'muted small', testid: 'agent-handoff-team' }, `For team ${s.handoff_team}`) : null,
    typeof s.lead_score === 'number'
      ? h(
          'div',
          { class: 'lead', testid: 'agent-lead-score', data: { score: String(s.lead_score) } },
          h('span', { class: 'muted small' }, 'Lead score'),
          h('meter', { min: 0, max: 100, low: 40, high: 70, optimum: 100, value: s.lead_score }),
          h('strong', null, `${s.lead_score}/100`),
        )
      : null,
    s.summary ? h('p', { class: 'agent-summary', testid: 'agent-summary' }, s.summary) : null,
    decisions.length
      ? h(
          'details',
          { class: 'decisions', testid: 'agent-decisions' },
          h('summary', null, `Decisions (${view.decisions.length})`),
          h(
            'ol',
            null,
            decisions.map((d) =>
              h(
                'li',
                { testid: 'agent-decision' },
                h('strong', null, `${humanize(d.step)} · ${d.outcome}`),
                h('span', null, d.reason),
                h('time', { class: 'muted small', datetime: d.created_at, title: full(d.created_at) }, ago(d.created_at)),
              ),
            ),
          ),
        )
      : null,
  );
}

function csatLine(ticket) {
  const surveys = state.csat.get(ticket.id) || [];
  const latest = surveys[surveys.length - 1];
  if (!latest) {
    if (!state.settings || !state.settings.csat) return { state: 'off', text: 'CSAT surveys are off for this workspace' };
    if (!ticket.conversation_id) return { state: 'none', text: 'No survey: the ticket has no conversation' };
    return ticket.status === 'resolved' ? { state: 'none', text: 'No survey was sent' } : { state: 'pending', text: 'Survey goes out when resolved' };
  }
  const max = latest.scale === 'three_point' ? 3 : 5;
  switch (latest.status) {
    case 'sent':
      return { state: 'sent', text: `Survey sent ${since(latest.sent_at)} · awaiting the answer` };
    case 'answered':
      return { state: 'answered', text: `Rated ${latest.score}/${max}${latest.answer ? ` · “${latest.answer}”` : ''}` };
    case 'expired':
      return { state: 'expired', text: 'Survey expired without an answer' };
    case 'not_sent':
      return { state: 'not_sent', text: `Survey not sent: ${latest.reason || 'unknown reason'}` };
    default:
      return { state: latest.status, text: humanize(latest.status) };
  }
}

/** The SLA's state as parts of one line (texts or nodes), and whether a target was missed. */
function slaLine(ticket) {
  const sla = ticket.sla || {};
  const parts = [];
  if (ticket.status === 'resolved') return { parts, breached: false };
  if (sla.first_response_breached) parts.push('First response overdue');
  else if (!ticket.first_response_at && sla.first_response_due) parts.push(`First response due ${until(sla.first_response_due)}`);
  if (sla.resolution_breached) parts.push('Resolution overdue');
  // While Waiting on the customer the resolution clock stands still (and has no due time).
  if (sla.resolution_paused) parts.push(pausedNote(ticket));
  else if (!sla.resolution_breached && sla.resolution_due) parts.push(`Resolve ${until(sla.resolution_due)}`);
  return { parts, breached: Boolean(sla.first_response_breached || sla.resolution_breached) };
}

function pausedNote(ticket) {
  const periods = ticket.waiting_periods || [];
  const current = periods.find((p) => !p.until);
  const title = [
    current ? `Waiting on the customer since ${full(current.from)}` : '',
    periods.length > 1 ? `${plural(periods.length, 'waiting period', 'waiting periods')} in all` : '',
  ].filter(Boolean).join(' · ');
  return h('span', { class: 'sla-paused', testid: 'ticket-sla-paused', title }, 'Resolution clock paused (waiting on the customer)');
}

/** `parts` with `separator` between each two. */
function joined(parts, separator) {
  return parts.flatMap((part, i) => (i ? [separator, part] : [part]));
}

function ticketTypeName(key) {
  const type = state.ticketTypes.find((t) => t.key === key);
  return type ? type.name : humanize(key);
}

function ticketCard(ticket) {
  const resolved = ticket.status === 'resolved';
  const csat = csatLine(ticket);
  const sla = slaLine(ticket);
  const moves = ['to_do', 'in_progress', 'waiting'];
  if (ticket.status === 'reopened') moves.unshift('reopened');
  return h(
    'li',
    { class: cls('ticket-card', resolved && 'resolved'), testid: 'ticket-card', data: { ticketId: ticket.id, status: ticket.status } },
    h(
      'div',
      { class: 'ticket-top' },
      h('strong', { class: 'ticket-subject', testid: 'ticket-card-subject' }, ticket.subject),
      h('span', { class: cls('badge', `ticket-${ticket.status}`), testid: 'ticket-status' }, TICKET_STATUS[ticket.status] || humanize(ticket.status)),
    ),
    h(
      'div',
      { class: 'ticket-meta' },
      h('span', { class: 'tag', testid: 'ticket-type-badge' }, ticketTypeName(ticket.type)),
      h('span', { class: cls('tag', `priority-${ticket.priority}`), testid: 'ticket-priority-badge' }, PRIORITY[ticket.priority] || ticket.priority),
      ticket.assignee_user_id ? h('span', { class: 'muted small' }, userName(ticket.assignee_user_id)) : null,
      h('time', { class: 'muted small', datetime: ticket.created_at, title: full(ticket.created_at) }, ago(ticket.created_at)),
    ),
    sla.parts.length ? h('div', { class: cls('ticket-sla', sla.breached && 'breached'), testid: 'ticket-sla' }, joined(sla.parts, ' · ')) : null,
    h('div', { class: cls('ticket-csat', `csat-${csat.state}`), testid: 'ticket-csat', data: { state: csat.state } }, csat.text),
    h(
      'div',
      { class: 'ticket-actions' },
      resolved
        ? h('button', { type: 'button', class: 'button small ghost', testid: 'ticket-reopen', onclick: (e) => changeTicket(e.currentTarget, ticket, 'reopened') }, 'Reopen')
        : [
            withValue(
              h(
                'select',
                { class: 'small', testid: 'ticket-status-select', 'aria-label': 'Ticket status', onchange: (e) => changeTicket(e.currentTarget, ticket, e.currentTarget.value) },
                moves.map((s) => h('option', { value: s }, TICKET_STATUS[s])),
              ),
              ticket.status,
            ),
            h('button', { type: 'button', class: 'button small success', testid: 'ticket-resolve', onclick: (e) => changeTicket(e.currentTarget, ticket, 'resolved') }, '✓ Resolve'),
          ],
    ),
  );
}

function renderTickets() {
  const list = $('ticket-list');
  list.replaceChildren(
    ...(state.tickets.length
      ? state.tickets.map(ticketCard)
      : [h('li', { class: 'muted small', testid: 'tickets-empty' }, 'No ticket for this conversation yet.')]),
  );
}

/** Custom fields of the chosen ticket type, as inputs. */
function renderTicketFields() {
  const type = state.ticketTypes.find((t) => t.key === $('ticket-type').value);
  $('ticket-fields').replaceChildren(...((type && type.fields) || []).map((f) => fieldInput(f, null, 'ticket-field')));
}

function renderContact() {
  const c = state.contact;
  const summary = $('contact-summary');
  if (!c) {
    summary.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    return;
  }
  const item = state.items.find((i) => i.id === state.openId);
  const name = contactName(c, item);
  const company = [c.job_title, c.company].filter(Boolean).join(' at ');
  mount(
    summary,
    h(
      'div',
      { class: 'contact-card' },
      avatar(name, c.id, 'large'),
      h(
        'div',
        null,
        h('strong', { class: 'contact-name', testid: 'contact-name' }, name),
        company ? h('div', { class: 'muted small', testid: 'contact-company' }, company) : null,
        c.phone ? h('div', { class: 'small', testid: 'contact-phone' }, c.phone) : null,
        c.email ? h('div', { class: 'small', testid: 'contact-email' }, c.email) : null,
        c.last_contacted_at ? h('div', { class: 'muted small' }, `Last contacted ${since(c.last_contacted_at)}`) : null,
      ),
    ),
  );
  $('contact-labels').replaceChildren(
    ...(c.labels.length
      ? c.labels.map((label) =>
          h(
            'span',
            { class: 'chip label', testid: 'contact-label', data: { label } },
            label,
            h('button', { type: 'button', class: 'chip-remove', testid: 'contact-label-remove', 'aria-label': `Remove label ${label}`, onclick: (e) => removeLabel(e.currentTarget, label) }, '×'),
          ),
        )
      : [h('span', { class: 'muted small' }, 'No labels')]),
  );
  fillSelect($('contact-owner'), 'No owner', [...state.users.values()].map((u) => [u.id, u.id === myId() ? `${u.name} (you)` : u.name]));
  $('contact-owner').value = c.owner_id || '';
  // Never pull a form from under the person's hands.
  const editing = $('contact-fields').contains(document.activeElement);
  if (!state.contactDirty && !editing) renderContactFields();
  fillList('contact-notes', state.contactNotes, contactNoteItem, 'No notes yet.');
  fillList('contact-records', state.records, recordItem, 'No associated records.');
  fillList('contact-tickets', state.contactTickets, contactTicketItem, 'No tickets.');
  fillList('contact-lists-items', state.contactLists, listItem, 'In no list.', state.contactFailed.has('lists'));
  fillList('contact-media-items', state.contactMedia, sharedMediaItem, 'No files shared yet.', state.contactFailed.has('media'));
  fillList('contact-activity-items', state.contactActivity, activityItem, 'No activity yet.', state.contactFailed.has('activity'));
}

/** Fills a list of the contact panel; empty, it says so (or that it could not be read). */
function fillList(id, items, item, emptyText, failed = false) {
  $(id).replaceChildren(
    ...(items.length ? items.map(item) : [h('li', { class: 'muted small' }, failed ? 'Could not be read: see the error above.' : emptyText)]),
  );
}

/** A button that opens another conversation of the contact. */
function openButton(conversationId, label, testid) {
  return h('button', { type: 'button', class: 'link-button', testid, onclick: guarded(() => openConversation(conversationId)) }, label);
}

/** One of the contact's notes; one written in a conversation tells which. */
function contactNoteItem(n) {
  const where = !n.conversation_id
    ? null
    : n.conversation_id === state.openId
      ? h('span', { class: 'muted small', testid: 'contact-note-conversation' }, 'this conversation')
      : openButton(n.conversation_id, 'another conversation', 'contact-note-conversation');
  return h(
    'li',
    { class: 'contact-note', testid: 'contact-note', data: { noteId: n.id } },
    h('div', { class: 'muted small' }, `${noteAuthor(n)} · ${full(n.created_at)}`, where ? ' · ' : '', where),
    h('div', { class: 'pre' }, n.body),
  );
}

function recordItem(r) {
  return h(
    'li',
    { testid: 'contact-record' },
    h('strong', null, humanize(r.type_key)),
    h('span', { class: 'muted small' }, ` ${Object.entries(r.data).slice(0, 3).map(([k, v]) => `${humanize(k)}: ${typeof v === 'object' ? JSON.stringify(v) : v}`).join(' · ')}`),
  );
}

function contactTicketItem(t) {
  return h(
    'li',
    { testid: 'contact-ticket', data: { ticketId: t.id } },
    h('span', null, t.subject),
    h('span', { class: cls('badge small', `ticket-${t.status}`) }, TICKET_STATUS[t.status] || t.status),
  );
}

function listItem(list) {
  return h(
    'li',
    { class: 'contact-list-item', testid: 'contact-list-item', data: { listId: list.id } },
    h('span', { class: 'chip' }, list.name),
    h('span', { class: 'muted small' }, plural(list.member_count, 'member', 'members')),
  );
}

/**
 * A file of the contact's conversations: a thumbnail for a stored image, a link once there is
 * a URL, else what it is (a customer's file that is not downloaded yet has none).
 */
function sharedMediaItem(m) {
  const url = safeUrl(m.url);
  const label = m.filename || m.caption || humanize(m.kind);
  const thumb =
    url && m.kind === 'image' && url.startsWith('/api/')
      ? h('img', { src: url, alt: m.caption || m.filename || 'Image', loading: 'lazy', testid: 'contact-media-thumb' })
      : null;
  const shown = url
    ? h('a', { href: url, target: '_blank', rel: 'noopener', class: cls('media-link', thumb && 'thumb'), testid: 'contact-media-link', title: label }, thumb || label)
    : h('span', { class: 'media-name' }, label);
  return h(
    'li',
    { class: 'contact-media-item', testid: 'contact-media-item', data: { messageId: m.message_id, kind: m.kind, direction: m.direction } },
    shown,
    h(
      'span',
      { class: 'media-meta muted small' },
      thumb ? null : h('span', { class: 'tag' }, humanize(m.kind)),
      `${m.direction === 'outbound' ? 'Sent' : 'Received'} `,
      h('time', { datetime: m.created_at, title: full(m.created_at) }, ago(m.created_at)),
      m.url ? '' : ' · not downloaded yet',
    ),
  );
}

/** A moment of the contact's history; one of another conversation opens it. */
function activityItem(a) {
  const elsewhere = a.conversation_id && a.conversation_id !== state.openId;
  const data = { kind: a.kind };
  if (a.conversation_id) data.conversationId = a.conversation_id;
  const body = [
    h('time', { class: 'activity-time', testid: 'contact-activity-time', datetime: a.at, title: full(a.at) }, ago(a.at)),
    h('span', { class: 'activity-text', testid: 'contact-activity-text' }, a.text),
  ];
  return h(
    'li',
    { class: cls('contact-activity-item', elsewhere && 'elsewhere'), testid: 'contact-activity-item', data },
    elsewhere
      ? h('button', { type: 'button', class: 'activity-open', title: 'Open this conversation', onclick: guarded(() => openConversation(a.conversation_id)) }, body)
      : body,
  );
}

const DEFAULT_FIELDS = [
  ['first_name', 'First name', 'text'],
  ['last_name', 'Last name', 'text'],
  ['email', 'E-mail', 'email'],
  ['phone', 'Phone', 'tel'],
  ['company', 'Company', 'text'],
  ['job_title', 'Job title', 'text'],
  ['location', 'Location', 'text'],
  ['country', 'Country', 'text'],
];

function renderContactFields() {
  const c = state.contact;
  const defaults = DEFAULT_FIELDS.map(([key, label, type]) =>
    h('label', { class: 'field compact' }, h('span', null, label), h('input', { type, value: c[key] || '', testid: 'contact-field', data: { field: key } })),
  );
  const custom = state.properties.map((p) => fieldInput(p, c.properties[p.key], 'contact-field'));
  $('contact-fields').replaceChildren(...defaults, ...custom);
  $('contact-save').disabled = true;
}

/** An input for a typed property (contact property or ticket field), holding `value`. */
function fieldInput(def, value, testid) {
  const label = h('span', null, `${def.label || humanize(def.key)}${def.required ? ' *' : ''}`);
  const data = { field: def.key, kind: def.kind };
  let control;
  switch (def.kind) {
    case 'number':
      control = h('input', { type: 'number', step: 'any', value: value === null || value === undefined ? '' : String(value), testid, data });
      break;
    case 'date':
      control = h('input', { type: 'date', value: value || '', testid, data });
      break;
    case 'boolean':
      control = withValue(
        h('select', { testid, data }, h('option', { value: '' }, '—'), h('option', { value: 'true' }, 'Yes'), h('option', { value: 'false' }, 'No')),
        typeof value === 'boolean' ? String(value) : '',
      );
      break;
    case 'single_select':
      control = withValue(h('select', { testid, data }, h('option', { value: '' }, '—'), def.options.map((o) => h('option', { value: o }, o))), value || '');
      break;
    case 'multi_select':
      control = h(
        'span',
        { class: 'checks', testid, data },
        def.options.map((o) =>
          h('label', { class: 'check' }, h('input', { type: 'checkbox', value: o, checked: Array.isArray(value) && value.includes(o) }), o),
        ),
      );
      break;
    default:
      control = h('input', { type: 'text', value: value === null || value === undefined ? '' : String(value), testid, data });
  }
  return h('label', { class: 'field compact' }, label, control);
}

/** The JSON value an input of `fieldInput` holds (`null`: empty). */
function fieldValue(control) {
  const kind = control.dataset.kind;
  if (kind === 'multi_select') {
    const picked = [...control.querySelectorAll('input:checked')].map((i) => i.value);
    return picked.length ? picked : null;
  }
  const raw = control.value.trim();
  if (raw === '') return null;
  if (kind === 'number') return Number(raw);
  if (kind === 'boolean') return raw === 'true';
  return raw;
}

// ---- Actions ----------------------------------------------------------------------------------

async function sendReply() {
  const id = state.openId;
  const input = $('reply-input');
  const body = input.value;
  if (!body.trim()) throw clientError('empty_message', 'Write a reply first.');
  await busy($('reply-send'), async () => {
    await api('POST', `/conversations/${enc(id)}/messages`, { body });
  });
  if (state.openId === id) {
    input.value = '';
    $('smart-reply-chips').replaceChildren();
    $('smart-replies-credits').textContent = '';
    $('assist-undo').hidden = true;
  }
  state.drafts.delete(id);
  await refreshOpen(new Set(['messages']));
}

/**
 * Sends the chosen file: uploaded first (raw bytes, with its type), then sent as a media message
 * with the reply box's text as its caption.
 */
async function sendAttachment() {
  const id = state.openId;
  const picker = $('attach-input');
  const file = picker.files && picker.files[0];
  picker.value = ''; // choosing the same file again is a change again
  if (!file || !id) return;
  const input = $('reply-input');
  const text = input.value;
  let sent = false;
  await busy($('attach-button'), async () => {
    setAttachState('uploading');
    try {
      const stored = await upload(`/conversations/${enc(id)}/attachments?filename=${enc(file.name)}`, file);
      const media = { kind: stored.kind, upload_id: stored.upload_id, filename: stored.filename };
      if (text.trim()) media.caption = text.trim();
      await api('POST', `/conversations/${enc(id)}/messages`, { media });
      sent = true;
    } finally {
      setAttachState('idle');
    }
  });
  if (!sent) return; // already sending one
  // Typed on meanwhile: what was written stays.
  if (state.openId === id && input.value === text) {
    input.value = '';
    $('assist-undo').hidden = true;
    state.drafts.delete(id);
  }
  await refreshOpen(new Set(['messages']));
}

function setAttachState(mode) {
  const button = $('attach-button');
  button.dataset.state = mode;
  $('attach-label').textContent = mode === 'uploading' ? 'Uploading…' : 'Attach';
}

async function sendTemplate() {
  const id = state.openId;
  const template = selectedTemplate();
  if (!template) throw clientError('no_template', 'Pick an approved template first.');
  const variables = [...$('template-variables').querySelectorAll('input')].map((i) => i.value.trim());
  if (variables.some((v) => !v)) throw clientError('template_variables', `Fill in every variable of ${template.name}.`);
  await busy($('template-send'), () =>
    api('POST', `/conversations/${enc(id)}/messages`, { template: { name: template.name, language: template.language, variables } }),
  );
  for (const input of $('template-variables').querySelectorAll('input')) input.value = '';
  await refreshOpen(new Set(['messages']));
}

async function requestSmartReplies() {
  const id = state.openId;
  let answer;
  await busy($('smart-replies-request'), async () => {
    $('smart-replies-credits').textContent = 'Thinking…';
    try {
      answer = await api('POST', `/conversations/${enc(id)}/smart-replies`, { count: 3 });
    } finally {
      if (!answer) $('smart-replies-credits').textContent = '';
    }
  });
  if (state.openId !== id) return;
  setCredits(answer.credits_balance);
  $('smart-reply-chips').replaceChildren(
    ...answer.suggestions.map((text) =>
      h(
        'button',
        {
          type: 'button',
          class: 'chip suggestion',
          testid: 'smart-reply-chip',
          title: 'Put this reply in the box, to send or edit',
          onclick: () => {
            const input = $('reply-input');
            input.value = text;
            input.focus();
            input.setSelectionRange(text.length, text.length);
          },
        },
        text,
      ),
    ),
  );
  $('smart-replies-credits').textContent = `${plural(answer.credits_charged, 'credit', 'credits')} used · ${answer.credits_balance} left`;
}

async function rewriteDraft() {
  const id = state.openId;
  const input = $('reply-input');
  const draft = input.value;
  if (!draft.trim()) throw clientError('empty_draft', 'Write a draft first: the writing assistant improves what you wrote.');
  let answer;
  await busy($('assist-rewrite'), async () => {
    answer = await api('POST', '/assist/rewrite', { draft, tone: $('assist-tone').value, conversation_id: id });
  });
  setCredits(answer.credits_balance);
  if (state.openId !== id) return;
  const used = `${plural(answer.credits_charged, 'credit', 'credits')} used · ${answer.credits_balance} left`;
  if (input.value !== draft) {
    // Typed on meanwhile: what was written wins over the suggestion.
    $('assist-credits').textContent = `${used} · not applied: the draft changed meanwhile`;
    return;
  }
  state.draftBeforeRewrite = draft;
  input.value = answer.text;
  $('assist-undo').hidden = false;
  $('assist-credits').textContent = used;
}

function undoRewrite() {
  if (state.draftBeforeRewrite === null) return;
  $('reply-input').value = state.draftBeforeRewrite;
  state.draftBeforeRewrite = null;
  $('assist-undo').hidden = true;
}

/** An internal note in the open conversation (the API keeps it on the contact too). */
async function saveNote() {
  const id = state.openId;
  const input = $('note-input');
  const body = input.value.trim();
  if (!body) throw clientError('empty_note', 'Write the note first.');
  await busy($('note-save'), () => api('POST', `/conversations/${enc(id)}/notes`, { body }));
  if (state.openId === id) input.value = '';
  await refreshOpen(new Set(['notes']));
}

async function takeOver() {
  const id = state.openId;
  // Taking over silences the channel's AI agent until the conversation is given back; without an
  // agent on the channel it is a plain assignment.
  await busy($('take-over'), async () => {
    try {
      await api('POST', `/conversations/${enc(id)}/agent/take-over`);
    } catch (e) {
      if (!(e instanceof ApiError) || e.code !== 'no_agent') throw e;
      await api('POST', `/conversations/${enc(id)}/assign`, { user_id: myId() });
    }
  });
  scheduleListRefresh();
  await refreshOpen(new Set(['conversation']));
}

/** Back to the agent: resumes it when it had handed off, and lets go of the assignment. */
async function giveBack() {
  const id = state.openId;
  const agentState = state.agent && state.agent.state;
  await busy($('give-back'), async () => {
    if (agentState && agentState.status === 'handed_off') await api('POST', `/conversations/${enc(id)}/agent/resume`);
    if (state.conversation.assignee_user_id && state.conversation.assignee_user_id === myId()) {
      await api('PATCH', `/conversations/${enc(id)}`, { assignee_user_id: null });
    }
  });
  scheduleListRefresh();
  await refreshOpen(new Set(['conversation']));
}

/** The status select's "Snoozed" sends no `snoozed_until`: snoozed until the customer replies. */
async function changeStatus() {
  const id = state.openId;
  const select = $('conversation-status');
  const status = select.value;
  try {
    await api('PATCH', `/conversations/${enc(id)}`, { status });
  } catch (e) {
    select.value = state.conversation.status;
    throw e;
  }
  scheduleListRefresh();
  await refreshOpen(new Set(['conversation']));
}

// ---- Notifications -----------------------------------------------------------------------------

/** What the bell shows of each kind: a mark and a word (`ticket.escalated`, so far). */
const NOTIFICATION_KIND = { 'ticket.escalated': { mark: '↑', label: 'Escalated' } };

/** No event carries the count, so it is also read this often while someone is logged in. */
const NOTIFICATIONS_POLL = 30 * 1000;

const notificationsOpen = () => !$('notifications-panel').hidden;
const notificationItems = () => [...$('notifications-list').querySelectorAll('.notification-item')];

/** Shows the bell and starts reading its count, for a person (an API key has no notifications). */
function startNotifications() {
  stopNotifications();
  state.notificationsOff = !myId();
  $('notifications').hidden = state.notificationsOff;
  if (state.notificationsOff) return;
  guarded(refreshNotifications)();
  state.notificationsPoll = setInterval(guarded(refreshNotifications), NOTIFICATIONS_POLL);
}

/** Logged out: no more reading, nothing of the last person left in the bell, late answers dropped. */
function stopNotifications() {
  clearInterval(state.notificationsPoll);
  state.notificationsPoll = null;
  clearTimeout(notificationsTimer);
  notificationsTimer = null;
  state.notificationsSeq += 1;
  closeNotifications();
  state.notifications = { unread: 0, items: [], loaded: false };
  renderNotificationCount();
  renderNotifications();
}

/** A login without a person: the bell goes, silently (there is nothing to fix). */
function hideNotifications() {
  state.notificationsOff = true;
  clearInterval(state.notificationsPoll);
  state.notificationsPoll = null;
  closeNotifications();
  $('notifications').hidden = true;
}

/**
 * Reads the unread count again, and the list with it while the panel shows it (only the unread
 * ones otherwise: the badge needs no more). A later read, or a change made here, wins.
 */
async function refreshNotifications() {
  if (!state.me || state.notificationsOff) return;
  const seq = ++state.notificationsSeq;
  const whole = notificationsOpen();
  let answer;
  try {
    answer = await api('GET', whole ? '/notifications' : '/notifications?unread=true');
  } catch (e) {
    if (seq !== state.notificationsSeq) return;
    if (e.status === 403) return hideNotifications();
    throw e;
  }
  if (seq !== state.notificationsSeq) return;
  state.notifications.unread = answer.unread;
  if (whole) {
    state.notifications.items = answer.items;
    state.notifications.loaded = true;
    renderNotifications();
  }
  renderNotificationCount();
}

/** At most one read per 200 ms, however many conversations change. */
let notificationsTimer = null;
function scheduleNotificationsRefresh() {
  if (notificationsTimer) return;
  notificationsTimer = setTimeout(
    guarded(() => {
      notificationsTimer = null;
      return refreshNotifications();
    }),
    200,
  );
}

/** A change made here: drops reads already asked (they predate it), then reads again to agree. */
function notificationsChanged() {
  state.notificationsSeq += 1;
  renderNotificationCount();
  renderNotifications();
  scheduleNotificationsRefresh();
}

function renderNotificationCount() {
  const n = state.notifications.unread;
  const badge = $('notifications-count');
  badge.dataset.count = String(n);
  badge.textContent = n > 99 ? '99+' : String(n);
  badge.hidden = n === 0;
  const label = n ? `Notifications: ${n} unread` : 'Notifications';
  $('notifications-button').setAttribute('aria-label', label);
  $('notifications-button').title = label;
  $('notifications-read-all').disabled = n === 0;
}

function renderNotifications() {
  const { items, loaded } = state.notifications;
  const list = $('notifications-list');
  const focused = list.contains(document.activeElement) ? document.activeElement.dataset.notificationId : null;
  list.replaceChildren(...items.map(notificationItem));
  // Only once read: an empty list before that means "not known yet", not "nothing".
  $('notifications-empty').hidden = !loaded || items.length > 0;
  if (focused) {
    const again = list.querySelector(`[data-notification-id="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
}

function notificationItem(n) {
  const unread = !n.read_at;
  const kind = NOTIFICATION_KIND[n.kind] || { mark: '•', label: humanize(String(n.kind).replace(/\./g, ' ')) };
  return h(
    'li',
    { class: 'notification-row' },
    h(
      'button',
      {
        type: 'button',
        class: cls('notification-item', unread && 'unread'),
        testid: 'notification-item',
        data: { notificationId: n.id, read: String(!unread), kind: n.kind },
        title: n.conversation_id ? 'Open the conversation' : null,
        onclick: guarded((e) => openNotification(e.currentTarget, n)),
      },
      h('span', { class: 'notification-mark', 'aria-hidden': 'true' }, kind.mark),
      h(
        'span',
        { class: 'notification-main' },
        h('span', { class: 'notification-text', testid: 'notification-text' }, n.text),
        h(
          'span',
          { class: 'notification-meta' },
          kind.label,
          ' · ',
          h('time', { testid: 'notification-time', datetime: n.created_at, title: full(n.created_at) }, ago(n.created_at)),
        ),
      ),
      unread ? h('span', { class: 'unread-dot', title: 'Unread' }) : null,
    ),
  );
}

function openNotifications() {
  closeSnoozeMenu();
  $('notifications-panel').hidden = false;
  $('notifications-button').setAttribute('aria-expanded', 'true');
  renderNotifications();
  $('notifications-panel').focus();
  // The badge's read had only the unread ones: read the whole list for the panel.
  return refreshNotifications();
}

/** Closes the panel; `focus`: back on the bell, for the keyboard (Escape). */
function closeNotifications({ focus = false } = {}) {
  const panel = $('notifications-panel');
  if (panel.hidden) return;
  const within = panel.contains(document.activeElement);
  panel.hidden = true;
  $('notifications-button').setAttribute('aria-expanded', 'false');
  if (focus || within) $('notifications-button').focus();
}

function toggleNotifications() {
  if (notificationsOpen()) return closeNotifications({ focus: true });
  return openNotifications();
}

/** Marks it read (when it is not yet), then opens its conversation, when it has one. */
async function openNotification(button, n) {
  if (button.disabled) return;
  if (!n.read_at) {
    try {
      await busy(button, () => api('POST', `/notifications/${enc(n.id)}/read`));
      n.read_at = new Date().toISOString();
      state.notifications.unread = Math.max(0, state.notifications.unread - 1);
      notificationsChanged();
    } catch (e) {
      // Still unread, but the conversation is as worth opening.
      showError(e);
    }
  }
  if (!n.conversation_id) {
    // Its button was disabled while marking, which dropped the focus: put it on the new one.
    const again = $('notifications-list').querySelector(`[data-notification-id="${CSS.escape(n.id)}"]`);
    if (again && notificationsOpen()) again.focus();
    return;
  }
  closeNotifications();
  await openConversation(n.conversation_id);
}

async function readAllNotifications() {
  let done = false;
  await busy($('notifications-read-all'), async () => {
    await api('POST', '/notifications/read');
    done = true;
  });
  if (!done) return; // already sending it
  const now = new Date().toISOString();
  for (const n of state.notifications.items) if (!n.read_at) n.read_at = now;
  state.notifications.unread = 0;
  notificationsChanged();
}

/** Up and down move between the panel's notifications. */
function notificationsKeys(event) {
  if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') return;
  const items = notificationItems();
  if (!items.length) return;
  event.preventDefault();
  const at = items.indexOf(document.activeElement);
  const step = event.key === 'ArrowDown' ? 1 : -1;
  items[at < 0 ? (step > 0 ? 0 : items.length - 1) : (at + step + items.length) % items.length].focus();
}

// ---- Snoozing ---------------------------------------------------------------------------------

/** The API refuses a snooze that ends further ahead than this. */
const SNOOZE_MAX = 365 * DAY;

/** When a snooze choice ends, as of now (`null`: when the customer replies). Local time. */
function snoozeMoment(choice) {
  const at = new Date();
  switch (choice) {
    case '1h':
      return new Date(at.getTime() + HOUR);
    case '3h':
      return new Date(at.getTime() + 3 * HOUR);
    case 'tomorrow':
      at.setDate(at.getDate() + 1);
      at.setHours(9, 0, 0, 0);
      return at;
    case 'next-week':
      // The coming Monday; on a Monday, the one a week on.
      at.setDate(at.getDate() + ((8 - at.getDay()) % 7 || 7));
      at.setHours(9, 0, 0, 0);
      return at;
    default:
      return null;
  }
}

/** RFC 3339 in UTC, whole seconds ("2025-03-12T08:00:00Z"). */
const rfc3339 = (date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** `date` as a datetime-local input holds it: "2025-03-12T09:00", local time. */
function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

const snoozeOptions = () => [...$('snooze-menu').querySelectorAll('.snooze-option')];

function openSnoozeMenu() {
  // Hints as of now: the menu may have been opened hours after the page was.
  for (const option of snoozeOptions()) {
    const moment = snoozeMoment(option.dataset.choice);
    option.querySelector('.snooze-hint').textContent = moment ? soon(moment.toISOString()) : '';
  }
  showCustomSnooze(false);
  $('snooze-menu').hidden = false;
  $('snooze-button').setAttribute('aria-expanded', 'true');
  snoozeOptions()[0].focus();
}

/** Closes the menu; `focus`: back on its button, for the keyboard (Escape, a choice made). */
function closeSnoozeMenu({ focus = false } = {}) {
  const menu = $('snooze-menu');
  if (menu.hidden) return;
  const within = menu.contains(document.activeElement);
  menu.hidden = true;
  $('snooze-button').setAttribute('aria-expanded', 'false');
  if (focus || within) $('snooze-button').focus();
}

function toggleSnoozeMenu() {
  if ($('snooze-menu').hidden) openSnoozeMenu();
  else closeSnoozeMenu({ focus: true });
}

/** The custom date-time row, offered with tomorrow 09:00 and bounded as the API bounds it. */
function showCustomSnooze(shown) {
  const row = $('snooze-custom');
  const input = $('snooze-custom-input');
  row.hidden = !shown;
  $('snooze-menu').querySelector('[data-choice="custom"]').setAttribute('aria-expanded', String(shown));
  if (!shown) return;
  const now = Date.now();
  input.min = localInputValue(new Date(now + MINUTE));
  input.max = localInputValue(new Date(now + SNOOZE_MAX - DAY));
  if (!input.value) input.value = localInputValue(snoozeMoment('tomorrow'));
  input.focus();
}

function chooseSnooze(option) {
  const choice = option.dataset.choice;
  if (choice === 'custom') {
    showCustomSnooze($('snooze-custom').hidden);
    return undefined;
  }
  return snooze(snoozeMoment(choice), option);
}

/** The custom moment: a datetime-local value is read as local time. */
function confirmCustomSnooze() {
  const raw = $('snooze-custom-input').value;
  if (!raw) throw clientError('invalid_snooze', 'Pick the date and time to snooze until.');
  const until = new Date(raw);
  const ahead = until.getTime() - Date.now();
  if (Number.isNaN(ahead)) throw clientError('invalid_snooze', 'That date and time cannot be read.');
  if (ahead <= 0) throw clientError('invalid_snooze', 'Pick a moment in the future to snooze until.');
  // A minute short of the limit: the server's clock reads it a little later.
  if (ahead > SNOOZE_MAX - MINUTE) throw clientError('invalid_snooze', 'A conversation can be snoozed for a year at most.');
  return snooze(until, $('snooze-custom-confirm'));
}

/**
 * Snoozes the open conversation until `until` (a Date), or until the customer writes (`null`);
 * the server opens it again by itself then. The menu stays open on a refusal, to pick again.
 */
async function snooze(until, control) {
  const id = state.openId;
  const body = { status: 'snoozed' };
  if (until) body.snoozed_until = rfc3339(until);
  let done = false;
  await busy(control, async () => {
    await api('PATCH', `/conversations/${enc(id)}`, body);
    done = true;
  });
  if (!done) return; // already sending one
  closeSnoozeMenu({ focus: true });
  $('snooze-custom-input').value = '';
  scheduleListRefresh();
  await refreshOpen(new Set(['conversation']));
}

/** Wakes it before its time: open again (which clears `snoozed_until`). */
async function wakeNow() {
  const id = state.openId;
  await busy($('snooze-wake'), () => api('PATCH', `/conversations/${enc(id)}`, { status: 'open' }));
  scheduleListRefresh();
  await refreshOpen(new Set(['conversation']));
}

/** Up and down move between the menu's choices. */
function snoozeMenuKeys(event) {
  if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') return;
  const options = snoozeOptions();
  const at = options.indexOf(document.activeElement);
  if (at < 0) return;
  event.preventDefault();
  const step = event.key === 'ArrowDown' ? 1 : -1;
  options[(at + step + options.length) % options.length].focus();
}

function openTicketForm() {
  const form = $('ticket-form');
  form.hidden = !form.hidden;
  if (!form.hidden) {
    form.reset();
    resetTicketType();
    $('ticket-subject').focus();
  }
}

async function createTicket(event) {
  event.preventDefault();
  const id = state.openId;
  const body = { conversation_id: id, type: $('ticket-type').value, priority: $('ticket-priority').value };
  const subject = $('ticket-subject').value.trim();
  const description = $('ticket-description').value.trim();
  if (subject) body.subject = subject;
  if (description) body.description = description;
  const fields = {};
  for (const control of $('ticket-fields').querySelectorAll('[data-field]')) {
    const value = fieldValue(control);
    if (value !== null) fields[control.dataset.field] = value;
  }
  body.fields = fields;
  await busy($('ticket-submit'), () => api('POST', '/tickets', body));
  $('ticket-form').hidden = true;
  $('ticket-form').reset();
  await refreshOpen(new Set(['tickets']));
}

function changeTicket(control, ticket, status) {
  return guarded(async () => {
    if (status === ticket.status) return;
    try {
      await busy(control, () => api('PATCH', `/tickets/${enc(ticket.id)}`, { status }));
    } finally {
      await refreshOpen(new Set(['tickets']));
    }
  })();
}

async function saveContact(event) {
  event.preventDefault();
  const c = state.contact;
  const body = {};
  const properties = {};
  for (const control of $('contact-fields').querySelectorAll('[data-field]')) {
    const key = control.dataset.field;
    if (control.dataset.kind) {
      const value = fieldValue(control);
      if (JSON.stringify(value) !== JSON.stringify(c.properties[key] ?? null)) properties[key] = value;
    } else {
      const value = control.value.trim() || null;
      if (value !== (c[key] || null)) body[key] = value;
    }
  }
  if (Object.keys(properties).length) body.properties = properties;
  if (!Object.keys(body).length) {
    state.contactDirty = false;
    $('contact-save').disabled = true;
    return;
  }
  const saved = await api('PATCH', `/contacts/${enc(c.id)}`, body);
  state.contact = saved;
  state.contactDirty = false;
  renderContact();
  renderContactFields(); // as stored: phone numbers come back in E.164
  renderHeader();
  scheduleListRefresh();
}

async function setOwner() {
  const c = state.contact;
  const owner = $('contact-owner').value || null;
  try {
    state.contact = await api('PATCH', `/contacts/${enc(c.id)}`, { owner_id: owner });
  } finally {
    renderContact();
  }
}

async function addLabel(event) {
  event.preventDefault();
  const input = $('contact-label-input');
  const name = input.value.trim();
  if (!name) return;
  state.contact = await api('POST', `/contacts/${enc(state.contact.id)}/labels`, { labels: [name] });
  input.value = '';
  renderContact();
  const labels = await api('GET', '/labels');
  state.labels = labels.items;
  fillFilters();
}

function removeLabel(button, label) {
  return guarded(async () => {
    await busy(button, async () => {
      state.contact = await api('DELETE', `/contacts/${enc(state.contact.id)}/labels/${enc(label)}`);
    });
    renderContact();
  })();
}

// ---- Wiring -----------------------------------------------------------------------------------

function onCtrlEnter(textarea, action) {
  textarea.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      guarded(action)();
    }
  });
}

function wireStaticHandlers() {
  $('error-dismiss').addEventListener('click', hideError);
  $('login-form').addEventListener('submit', guarded(login));
  $('logout').addEventListener('click', guarded(logout));
  $('notifications-button').addEventListener('click', guarded(toggleNotifications));
  $('notifications-read-all').addEventListener('click', guarded(readAllNotifications));
  $('notifications-panel').addEventListener('keydown', notificationsKeys);

  for (const button of document.querySelectorAll('#views .view')) {
    button.addEventListener('click', guarded(() => selectView(button.dataset.view)));
  }
  let searchTimer = null;
  $('search-input').addEventListener('input', (event) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(
      guarded(() => {
        state.q = event.target.value;
        return loadList();
      }),
      300,
    );
  });
  for (const [id, key] of [['filter-status', 'status'], ['filter-channel', 'channel_id'], ['filter-label', 'label'], ['filter-assignee', 'assignee_user_id']]) {
    $(id).addEventListener(
      'change',
      guarded(() => {
        state.filters[key] = $(id).value;
        return loadList();
      }),
    );
  }
  $('list-more').addEventListener('click', guarded(() => busy($('list-more'), () => loadList({ append: true }))));

  $('take-over').addEventListener('click', guarded(takeOver));
  $('give-back').addEventListener('click', guarded(giveBack));
  $('conversation-status').addEventListener('change', guarded(changeStatus));
  $('snooze-button').addEventListener('click', toggleSnoozeMenu);
  for (const option of snoozeOptions()) option.addEventListener('click', guarded(() => chooseSnooze(option)));
  $('snooze-custom-confirm').addEventListener('click', guarded(confirmCustomSnooze));
  $('snooze-custom-input').addEventListener('keydown', (event) => {
    if (event.key !== 'Enter') return;
    event.preventDefault();
    guarded(confirmCustomSnooze)();
  });
  $('snooze-menu').addEventListener('keydown', snoozeMenuKeys);
  $('snooze-wake').addEventListener('click', guarded(wakeNow));
  // The menu and the bell's panel close on Escape and on a click anywhere else but the error
  // banner (dismissing a refused custom time leaves the menu open to pick again).
  document.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape') return;
    if (!$('snooze-menu').hidden) {
      event.preventDefault();
      closeSnoozeMenu({ focus: true });
    } else if (notificationsOpen()) {
      event.preventDefault();
      closeNotifications({ focus: true });
    }
  });
  document.addEventListener('click', (event) => {
    if ($('error-banner').contains(event.target)) return;
    if (!$('snooze').contains(event.target)) closeSnoozeMenu();
    if (!$('notifications').contains(event.target)) closeNotifications();
  });

  $('composer-mode-reply').addEventListener('click', () => setComposerMode('reply'));
  $('composer-mode-note').addEventListener('click', () => setComposerMode('note'));
  $('reply-send').addEventListener('click', guarded(sendReply));
  onCtrlEnter($('reply-input'), sendReply);
  $('attach-button').addEventListener('click', () => $('attach-input').click());
  $('attach-input').addEventListener('change', guarded(sendAttachment));
  $('smart-replies-request').addEventListener('click', guarded(requestSmartReplies));
  $('assist-rewrite').addEventListener('click', guarded(rewriteDraft));
  $('assist-undo').addEventListener('click', undoRewrite);
  $('template-select').addEventListener('change', renderTemplateVariables);
  $('template-send').addEventListener('click', guarded(sendTemplate));
  $('note-save').addEventListener('click', guarded(saveNote));
  onCtrlEnter($('note-input'), saveNote);

  $('ticket-create').addEventListener('click', openTicketForm);
  $('ticket-cancel').addEventListener('click', () => {
    $('ticket-form').hidden = true;
  });
  $('ticket-type').addEventListener('change', renderTicketFields);
  $('ticket-form').addEventListener('submit', guarded(createTicket));

  $('contact-properties').addEventListener('submit', guarded(saveContact));
  const dirty = () => {
    state.contactDirty = true;
    $('contact-save').disabled = false;
  };
  $('contact-fields').addEventListener('input', dirty);
  $('contact-fields').addEventListener('change', dirty);
  $('contact-owner').addEventListener('change', guarded(setOwner));
  $('contact-label-form').addEventListener('submit', guarded(addLabel));

  window.addEventListener('hashchange', guarded(routeFromHash));
  document.addEventListener('keydown', (event) => {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement && document.activeElement.tagName);
    if (event.key === '/' && !typing && state.me) {
      event.preventDefault();
      $('search-input').focus();
    }
  });
  // Relative times ("5 min") stay true.
  setInterval(() => {
    if (!state.me) return;
    renderList();
    if (state.conversation) renderHeader();
    if (notificationsOpen()) renderNotifications();
  }, MINUTE);
}

boot();
