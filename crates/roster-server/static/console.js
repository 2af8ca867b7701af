// Roster console — the little JavaScript the pages use. Every page works without it; it only
// adds conveniences. Loaded from this file (the Content-Security-Policy forbids inline script).
//
//   <button class="copy" data-copy="#scim-token">Copy</button>   copies the target's text
//   <form data-confirm="Revoke this token?">                      asks before submitting
//   roster.csrf()                          the session's CSRF token (from <meta name="csrf">)
//   roster.api(path, {method, body})       fetch() to the admin API with the session's cookie and
//                                          x-csrf-token; resolves to the parsed JSON or throws
"use strict";

(function () {
  function csrf() {
    var meta = document.querySelector('meta[name="csrf"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function api(path, options) {
    options = options || {};
    var headers = { "Accept": "application/json", "x-csrf-token": csrf() };
    var body = options.body;
    if (body !== undefined && typeof body !== "string") {
      body = JSON.stringify(body);
      headers["Content-Type"] = "application/json";
    }
    return fetch(path, {
      method: options.method || "GET",
      headers: headers,
      body: body,
      credentials: "same-origin",
    }).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
        if (!response.ok) {
          var error = new Error((data && (data.error || data.detail)) || response.statusText);
          error.status = response.status;
          error.body = data;
          throw error;
        }
        return data;
      });
    });
  }

  // Clipboard access needs a secure context (HTTPS or localhost); elsewhere fall back to a
  // selection and execCommand, and failing that leave the text selected for Ctrl+C.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(area);
      if (ok) { resolve(); } else { reject(new Error("copy refused")); }
    });
  }

  function selectContents(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function setupCopyButtons() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var target = document.querySelector(button.getAttribute("data-copy"));
        if (!target) { return; }
        var text = ("value" in target && target.value !== undefined) ? target.value : target.textContent;
        var label = button.getAttribute("data-label") || button.textContent;
        button.setAttribute("data-label", label);
        copyText(text.trim()).then(function () {
          button.textContent = "Copied";
          button.classList.add("copied");
        }, function () {
          selectContents(target);
          button.textContent = "Press Ctrl+C";
        }).then(function () {
          window.setTimeout(function () {
            button.textContent = label;
            button.classList.remove("copied");
          }, 2000);
        });
      });
    });
  }

  function setupConfirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) {
          event.preventDefault();
        }
      });
    });
  }

  window.roster = { csrf: csrf, api: api, copyText: copyText };

  document.addEventListener("DOMContentLoaded", function () {
    setupCopyButtons();
    setupConfirmations();
  });
})();
