// Tonight, live: when the server says something changed, fetch the member cards again.
// The cards are rendered (and escaped) by the server; this only swaps them in.
(function () {
  "use strict";
  var region = document.querySelector("[data-live]");
  if (!region || !window.EventSource) { return; }
  var waiting = false;
  function refresh() {
    waiting = false;
    fetch(region.getAttribute("data-live"), { credentials: "same-origin" })
      .then(function (answer) {
        if (answer.status === 401) { window.location.reload(); return null; }
        return answer.ok ? answer.text() : null;
      })
      .then(function (html) {
        if (html !== null) {
          region.innerHTML = html;
          region.setAttribute("data-updated", String(Date.now()));
        }
      });
  }
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
