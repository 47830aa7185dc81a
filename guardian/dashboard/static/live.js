// Tonight, live: when the server says something changed, fetch the member cards again.
// The cards are rendered (and escaped) by the server; this only swaps them in. The "As of"
// time is part of what is swapped, so it always says when the cards were made. While someone
// is typing in a quick control (a time), the swap waits until they leave the field.
(function () {
  "use strict";
  var region = document.querySelector("[data-live]");
  if (!region || !window.EventSource) { return; }
  var waiting = false;
  var deferred = false;
  function busy() {
    var active = document.activeElement;
    return !!active && region.contains(active) &&
      (active.tagName === "INPUT" || active.tagName === "SELECT");
  }
  function refresh() {
    waiting = false;
    if (busy()) { deferred = true; return; }
    deferred = false;
    fetch(region.getAttribute("data-live"), { credentials: "same-origin" })
      .then(function (answer) {
        if (answer.status === 401) { window.location.reload(); return null; }
        return answer.ok ? answer.text() : null;
      })
      .then(function (html) {
        if (html === null) { return; }
        if (busy()) { deferred = true; return; }
        region.innerHTML = html;
        region.setAttribute("data-updated", String(Date.now()));
      });
  }
  region.addEventListener("focusout", function () {
    if (deferred) { setTimeout(refresh, 50); }
  });
  var source = new EventSource("/events");
  source.addEventListener("error", function () {
    // A closed stream is retried by the browser; one refused for a lost session is not.
    if (source.readyState === EventSource.CLOSED) { refresh(); }
  });
  source.addEventListener("update", function () {
    if (!waiting) { waiting = true; setTimeout(refresh, 250); }
  });
  source.addEventListener("open", function () { region.setAttribute("data-connected", "yes"); });
})();
