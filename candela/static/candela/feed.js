// The dashboard's live request feed: rows pushed over the /ws/feed/ websocket.
// Values are written with textContent only, so nothing a request carried can become markup.
(function () {
  "use strict";
  var MAX_ROWS = 50;
  var feed = document.getElementById("feed");
  if (!feed || !window.WebSocket) { return; }
  var rows = document.getElementById("feed-rows");
  var state = document.getElementById("feed-state");
  var delay = 1000;

  function cell(row, text, className) {
    var td = document.createElement("td");
    td.textContent = text;
    if (className) { td.className = className; }
    row.appendChild(td);
    return td;
  }

  function money(text) {
    var parts = String(text || "0").split(".");
    var fraction = (parts[1] || "").replace(/0+$/, "");
    while (fraction.length < 2) { fraction += "0"; }
    return "$" + parts[0] + "." + fraction;
  }

  function render(item) {
    var row = document.createElement("tr");
    row.className = "fresh";
    row.dataset.requestId = item.request_id || "";
    var when = item.created_at ? new Date(item.created_at) : null;
    cell(row, when && !isNaN(when) ? when.toISOString().slice(11, 19) : "", "mono nowrap");
    cell(row, item.tenant_slug || "");
    cell(row, item.actor_name || "");
    cell(row, item.model || "");
    var outcome = cell(row, "");
    var badge = document.createElement("span");
    badge.className = "badge " + (item.decision || "");
    badge.textContent = item.reason ? item.decision + ": " + item.reason : item.decision || "";
    outcome.appendChild(badge);
    cell(row, String((item.prompt_tokens || 0) + (item.completion_tokens || 0)), "num");
    cell(row, money(item.cost_usd), "num");
    cell(row, Math.round(item.latency_ms || 0) + " ms", "num nowrap");
    return row;
  }

  function show(items) {
    var empty = document.getElementById("feed-empty");
    if (empty) { empty.remove(); }
    items.forEach(function (item) { rows.insertBefore(render(item), rows.firstChild); });
    while (rows.children.length > MAX_ROWS) { rows.removeChild(rows.lastChild); }
    document.body.dispatchEvent(new CustomEvent("candela:requests", { bubbles: true }));
  }

  function setState(text, live) {
    state.textContent = text;
    state.classList.toggle("live", live);
  }

  function catchUp() {
    if (window.htmx && feed.dataset.catchupUrl) {
      window.htmx.ajax("GET", feed.dataset.catchupUrl, { target: "#feed-rows", swap: "innerHTML" });
    }
  }

  function connect(reconnecting) {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + feed.dataset.wsPath);
    socket.onopen = function () {
      delay = 1000;
      setState("live", true);
      if (reconnecting) { catchUp(); }
    };
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.type === "requests") { show(message.items || []); }
    };
    socket.onclose = function (event) {
      if (event.code === 4401 || event.code === 4403) {
        setState("not available", false);
        return;
      }
      setState("reconnecting…", false);
      setTimeout(function () { connect(true); }, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }

  connect(false);
})();
