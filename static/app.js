// Rewind's page behaviour: htmx settings, CSRF header, confirmations, the
// unified/side-by-side diff toggle, focus after swaps, dismissable flash
// messages and local times. No framework, no inline scripts, no eval, so the
// pages run under "Content-Security-Policy: script-src 'self'; style-src 'self'".
//
// Conventions pages rely on (all plain HTML attributes):
//   <meta name="csrf-token" content="...">  sent as X-CSRF-Token on every htmx request
//   data-confirm="Question?"                 on a <form>, or on a submit button/link:
//                                            asks before a plain (non-htmx) submit or
//                                            navigation; htmx elements use hx-confirm
//   data-diff-mode="unified|split"          on toggle buttons/links: the choice is stored
//                                            (localStorage "rewind.diffView") and shown
//                                            with aria-pressed; links and hx-get still go
//                                            to the server for the other rendering
//   data-diff-view="unified|split"          on a container holding both renderings:
//                                            its buttons (inside, or aria-controls=<id>)
//                                            switch it client side, restored on load
//   data-autofocus                           focused after load or swap; a field with
//                                            aria-invalid="true" wins over it
//   data-dismiss                             on a button inside .flash: removes the flash
//   <time data-local datetime="...">        title becomes the time in the reader's zone
//   data-filter="#list"                      on a text input: hides the elements of #list
//                                            with data-filter-item not containing its text
(function () {
  "use strict";

  var DIFF_STORAGE_KEY = "rewind.diffView";
  var DIFF_MODES = ["unified", "split"];

  // htmx settings. app.js is loaded (deferred) right after htmx, so these are
  // in place before htmx processes the document on DOMContentLoaded.
  if (window.htmx) {
    var cfg = window.htmx.config;
    cfg.allowEval = false; // no hx-on, no js: values, no eval under CSP
    cfg.allowScriptTags = false; // never run <script> found in swapped content
    cfg.includeIndicatorStyles = false; // indicator CSS lives in app.css
    cfg.selfRequestsOnly = true;
    cfg.historyCacheSize = 0; // never copy pages into localStorage
    cfg.refreshOnHistoryMiss = true; // back button reloads the full page
    cfg.historyRestoreAsHxRequest = false; // server answers HX-Request with partials
    // 422 carries a form re-rendered with its errors: swap it like a success.
    cfg.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "422", swap: true },
      { code: "[45]..", swap: false, error: true },
    ];
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  document.addEventListener("htmx:configRequest", function (evt) {
    var token = csrfToken();
    if (token) {
      evt.detail.headers["X-CSRF-Token"] = token;
    }
  });

  // Flash messages.
  function flashArea() {
    return document.getElementById("flashes");
  }

  function showFlash(kind, text) {
    var area = flashArea();
    if (!area) {
      return;
    }
    var div = document.createElement("div");
    div.className = "flash flash-" + kind;
    div.setAttribute("data-testid", "flash");
    div.setAttribute("data-kind", kind);
    var span = document.createElement("span");
    span.className = "flash-text";
    span.textContent = text;
    div.appendChild(span);
    div.appendChild(dismissButton());
    area.appendChild(div);
  }

  function dismissButton() {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "flash-close";
    button.setAttribute("data-dismiss", "");
    button.setAttribute("aria-label", "Dismiss");
    button.textContent = "\u00d7";
    return button;
  }

  document.addEventListener("htmx:responseError", function (evt) {
    var xhr = evt.detail.xhr;
    var status = xhr ? xhr.status : 0;
    var message = xhr ? xhr.getResponseHeader("X-Rewind-Error") : null;
    if (message) {
      showFlash("error", decodeURIComponent(message));
      return;
    }
    showFlash("error", "The request failed (HTTP " + status + "). Reload the page and try again.");
  });

  document.addEventListener("htmx:sendError", function () {
    showFlash("error", "Rewind could not be reached. Check your connection and try again.");
  });

  document.addEventListener("click", function (evt) {
    var button = evt.target.closest("[data-dismiss]");
    if (!button) {
      return;
    }
    var flash = button.closest(".flash");
    if (flash) {
      flash.remove();
    }
  });

  // Confirmations for plain forms and links (htmx elements use hx-confirm).
  document.addEventListener(
    "submit",
    function (evt) {
      var form = evt.target;
      var submitter = evt.submitter;
      var question =
        (submitter && submitter.getAttribute("data-confirm")) ||
        form.getAttribute("data-confirm");
      if (question && !window.confirm(question)) {
        evt.preventDefault();
        evt.stopImmediatePropagation();
      }
    },
    true
  );

  document.addEventListener(
    "click",
    function (evt) {
      var link = evt.target.closest("a[data-confirm]");
      if (link && !window.confirm(link.getAttribute("data-confirm"))) {
        evt.preventDefault();
        evt.stopImmediatePropagation();
      }
    },
    true
  );

  // Unified / side-by-side diff toggle.
  function storedDiffMode() {
    try {
      var mode = window.localStorage.getItem(DIFF_STORAGE_KEY);
      return DIFF_MODES.indexOf(mode) >= 0 ? mode : null;
    } catch (e) {
      return null;
    }
  }

  function storeDiffMode(mode) {
    try {
      window.localStorage.setItem(DIFF_STORAGE_KEY, mode);
    } catch (e) {
      // Storage may be disabled; the toggle still works for this page.
    }
  }

  function setDiffMode(container, mode) {
    container.setAttribute("data-diff-view", mode);
    var buttons = diffButtonsFor(container);
    for (var i = 0; i < buttons.length; i++) {
      var pressed = buttons[i].getAttribute("data-diff-mode") === mode;
      buttons[i].setAttribute("aria-pressed", pressed ? "true" : "false");
    }
  }

  function diffButtonsFor(container) {
    var found = Array.prototype.slice.call(container.querySelectorAll("[data-diff-mode]"));
    if (container.id) {
      var outside = document.querySelectorAll(
        '[data-diff-mode][aria-controls="' + container.id + '"]'
      );
      for (var i = 0; i < outside.length; i++) {
        if (found.indexOf(outside[i]) < 0) {
          found.push(outside[i]);
        }
      }
    }
    return found;
  }

  function diffContainerFor(button) {
    var id = button.getAttribute("aria-controls");
    if (id) {
      var byID = document.getElementById(id);
      if (byID && byID.hasAttribute("data-diff-view")) {
        return byID;
      }
    }
    return button.closest("[data-diff-view]");
  }

  // A mode button either switches a container on this page (client side) or
  // is a link / hx-get that asks the server for the other mode; in both cases
  // the choice is remembered and the buttons of its group show it.
  document.addEventListener("click", function (evt) {
    var button = evt.target.closest("[data-diff-mode]");
    if (!button) {
      return;
    }
    var mode = button.getAttribute("data-diff-mode");
    if (DIFF_MODES.indexOf(mode) < 0) {
      return;
    }
    storeDiffMode(mode);
    var container = diffContainerFor(button);
    if (container) {
      setDiffMode(container, mode);
      return;
    }
    var group = button.closest(".segmented, [role=group]");
    var siblings = group ? group.querySelectorAll("[data-diff-mode]") : [button];
    for (var i = 0; i < siblings.length; i++) {
      var pressed = siblings[i].getAttribute("data-diff-mode") === mode;
      siblings[i].setAttribute("aria-pressed", pressed ? "true" : "false");
    }
  });

  function restoreDiffModes(root) {
    var mode = storedDiffMode();
    var containers = root.querySelectorAll("[data-diff-view]");
    for (var i = 0; i < containers.length; i++) {
      setDiffMode(containers[i], mode || containers[i].getAttribute("data-diff-view"));
    }
    if (root.hasAttribute && root.hasAttribute("data-diff-view")) {
      setDiffMode(root, mode || root.getAttribute("data-diff-view"));
    }
  }

  // Focus: the first invalid field, else an element marked data-autofocus.
  function autoFocus(root) {
    var target = firstMatch(root, '[aria-invalid="true"]') || firstMatch(root, "[data-autofocus]");
    if (target && typeof target.focus === "function") {
      target.focus();
    }
  }

  function firstMatch(root, selector) {
    if (root.matches && root.matches(selector)) {
      return root;
    }
    return root.querySelector(selector);
  }

  // Local times: keep the server's text, show the reader's zone on hover.
  function localTimes(root) {
    var times = root.querySelectorAll("time[data-local][datetime]");
    for (var i = 0; i < times.length; i++) {
      var when = new Date(times[i].getAttribute("datetime"));
      if (!isNaN(when.getTime())) {
        times[i].title = when.toLocaleString(undefined, {
          dateStyle: "medium",
          timeStyle: "long",
        });
      }
    }
  }

  // Filters: an input with data-filter="#list" hides the [data-filter-item]
  // elements of #list whose value does not contain the typed text.
  document.addEventListener("input", function (evt) {
    var input = evt.target;
    if (!input.hasAttribute || !input.hasAttribute("data-filter")) {
      return;
    }
    var list = document.querySelector(input.getAttribute("data-filter"));
    if (!list) {
      return;
    }
    var text = input.value.trim().toLowerCase();
    var items = list.querySelectorAll("[data-filter-item]");
    for (var i = 0; i < items.length; i++) {
      var match = items[i].getAttribute("data-filter-item").toLowerCase().indexOf(text) >= 0;
      items[i].hidden = !match;
    }
  });

  function enhance(root) {
    restoreDiffModes(root);
    localTimes(root);
  }

  document.addEventListener("DOMContentLoaded", function () {
    enhance(document);
    autoFocus(document);
  });

  // htmx:load fires for every element htmx adds to the page.
  document.addEventListener("htmx:load", function (evt) {
    if (evt.target === document.body) {
      return; // the initial load is handled above
    }
    enhance(evt.target);
    autoFocus(evt.target);
  });
})();
