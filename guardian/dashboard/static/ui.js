// The dashboard's small helpers, for every page. Each one only improves a page that works
// without it: the menu folds on a phone, tables get their column names as labels, copy buttons
// copy, and an action that cannot be undone asks first in a <dialog> (without this script the
// form's required "I understand" checkbox asks instead, and the server refuses without it).
// Text is always set with textContent: nothing from a page is ever parsed as HTML here. Its
// words come from the page (data-word-* on <body>), in the page's language.
(function () {
  "use strict";

  // The page's words for what this script writes, in the page's language (<body data-word-*>).
  function word(name, english) {
    return document.body.getAttribute("data-word-" + name) || english;
  }

  // --- the header's menu on a phone ----------------------------------------------------------
  function menu() {
    var header = document.querySelector("header.top");
    var button = header && header.querySelector(".menu-button");
    if (!button) { return; }
    header.classList.add("has-menu");
    button.hidden = false;
    function set(open) {
      header.classList.toggle("open", open);
      button.setAttribute("aria-expanded", open ? "true" : "false");
    }
    button.addEventListener("click", function () {
      set(!header.classList.contains("open"));
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && header.classList.contains("open")) {
        set(false);
        button.focus();
      }
    });
  }

  // --- tables as cards: each cell labelled with its column's name -----------------------------
  function tableLabels() {
    var tables = document.querySelectorAll("table");
    for (var t = 0; t < tables.length; t++) {
      var heads = tables[t].querySelectorAll("thead th");
      if (!heads.length) { continue; }
      var names = [];
      for (var h = 0; h < heads.length; h++) { names.push(heads[h].textContent.trim()); }
      var rows = tables[t].querySelectorAll("tbody tr");
      for (var r = 0; r < rows.length; r++) {
        var cells = rows[r].children;
        for (var c = 0; c < cells.length && c < names.length; c++) {
          if (cells[c].tagName === "TD" && !cells[c].hasAttribute("data-label")) {
            cells[c].setAttribute("data-label", names[c]);
          }
        }
      }
    }
  }

  // --- copy buttons ---------------------------------------------------------------------------
  function copyButtons() {
    var buttons = document.querySelectorAll("button[data-copy]");
    for (var i = 0; i < buttons.length; i++) {
      (function (button) {
        var field = document.getElementById(button.getAttribute("data-copy"));
        if (!field) { return; }
        button.hidden = false;
        var label = button.textContent;
        button.addEventListener("click", function () {
          var text = field.value !== undefined ? field.value : field.textContent;
          function done(ok) {
            button.textContent = word(ok ? "copied" : "copy-by-hand", ok ? "Copied" : "Select and copy it");
            setTimeout(function () { button.textContent = label; }, 2500);
          }
          if (navigator.clipboard && window.isSecureContext) {
            navigator.clipboard.writeText(text).then(function () { done(true); },
              function () { field.select(); done(false); });
          } else {
            field.select();
            var ok = false;
            try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
            done(ok);
          }
        });
      })(buttons[i]);
    }
  }

  // --- confirmations --------------------------------------------------------------------------
  // <form data-confirm-title="..." data-confirm-text="..." data-confirm-button="...">, with a
  // checkbox name="confirm" inside. With data-confirm-fields="keep from", {keep} and {from} in
  // the texts are the chosen options' data-name (or text) of the form's selects of those names.
  var dialog = null;
  function confirmDialog() {
    if (dialog) { return dialog; }
    dialog = document.createElement("dialog");
    dialog.className = "confirm";
    dialog.setAttribute("aria-labelledby", "confirm-title");
    dialog.setAttribute("aria-describedby", "confirm-text");
    var title = document.createElement("h2");
    title.id = "confirm-title";
    var text = document.createElement("p");
    text.id = "confirm-text";
    var actions = document.createElement("div");
    actions.className = "confirm-actions";
    var yes = document.createElement("button");
    yes.type = "button";
    yes.className = "danger";
    yes.id = "confirm-yes";
    var no = document.createElement("button");
    no.type = "button";
    no.className = "secondary";
    no.id = "confirm-cancel";
    no.textContent = word("cancel", "Cancel");
    actions.appendChild(yes);
    actions.appendChild(no);
    dialog.appendChild(title);
    dialog.appendChild(text);
    dialog.appendChild(actions);
    no.addEventListener("click", function () { dialog.close("cancel"); });
    document.body.appendChild(dialog);
    return dialog;
  }

  function chosen(form, name) {
    var field = form.elements.namedItem(name);
    if (!field || field.tagName !== "SELECT") { return null; }
    var option = field.options[field.selectedIndex];
    if (!option || !option.value) { return null; }
    return option.getAttribute("data-name") || option.textContent.trim();
  }

  function filled(form, template) {
    // Only the fields the form names in data-confirm-fields are filled in: a name typed by a
    // person may contain braces too.
    var names = (form.getAttribute("data-confirm-fields") || "").split(" ");
    var text = template;
    for (var i = 0; i < names.length; i++) {
      if (!names[i]) { continue; }
      var value = chosen(form, names[i]);
      if (value === null) { return null; }
      text = text.split("{" + names[i] + "}").join(value);
    }
    return text;
  }

  function confirmations() {
    var forms = document.querySelectorAll("form[data-confirm-title]");
    for (var i = 0; i < forms.length; i++) {
      (function (form) {
        var box = form.querySelector("input[type=checkbox][name=confirm]");
        var wrapper = box && box.closest(".confirm-check");
        if (!box) { return; }
        if (wrapper) { wrapper.hidden = true; }
        box.required = false;
        form.addEventListener("submit", function (event) {
          if (box.checked) { return; }  // confirmed in the dialog just now
          var title = filled(form, form.getAttribute("data-confirm-title"));
          var text = filled(form, form.getAttribute("data-confirm-text") || "");
          if (title === null || text === null) { return; }  // a choice is missing: the server says so
          event.preventDefault();
          var opener = event.submitter || form.querySelector("button[type=submit]");
          var d = confirmDialog();
          d.querySelector("#confirm-title").textContent = title;
          d.querySelector("#confirm-text").textContent = text;
          var yes = d.querySelector("#confirm-yes");
          yes.textContent = form.getAttribute("data-confirm-button") || "Yes, do it";
          yes.onclick = function () {
            box.checked = true;
            d.close("yes");
            form.submit();
          };
          d.onclose = function () { if (d.returnValue !== "yes" && opener) { opener.focus(); } };
          d.returnValue = "";
          d.showModal();
          d.querySelector("#confirm-cancel").focus();
        });
      })(forms[i]);
    }
  }

  function start() {
    menu();
    tableLabels();
    // A region that the live updates refill (Tonight) gets its labels again.
    var live = document.querySelectorAll("[data-live]");
    if (window.MutationObserver) {
      for (var l = 0; l < live.length; l++) {
        new MutationObserver(tableLabels).observe(live[l], { childList: true, subtree: true });
      }
    }
    copyButtons();
    confirmations();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
