// Roster console — the settings page: problems that point into the editor, and the live
// mapping tester. Loaded from this file (the Content-Security-Policy forbids inline script);
// uses roster.api from console.js for the session's CSRF header.
//
// The tester posts the editor's text, saved or not, with a user to {data-test}:
//   {"settings": "<TOML>", "user_id": "…"}  or  {"settings": "<TOML>", "user": {SCIM user}}
// and shows the answer: the directory user, its memberships with their origin, the user's IdP
// groups through the settings, the outcome and warnings; or the problems, placed in the editor.
// Every value shown is set as text (never as HTML): it comes from the IdP.
"use strict";

(function () {
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(fn, ms);
    };
  }

  // ---- problems point into the editor ----

  function placeCaret(editor, line, column) {
    var lines = editor.value.split("\n");
    var offset = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) { offset += lines[i].length + 1; }
    var here = lines[Math.min(line, lines.length) - 1] || "";
    offset += Math.min(Math.max(column, 1) - 1, here.length);
    editor.focus();
    editor.setSelectionRange(offset, offset);
    // Scroll so that the line is visible, a few lines from the top.
    var lineHeight = parseFloat(window.getComputedStyle(editor).lineHeight) || 18;
    editor.scrollTop = Math.max(0, (line - 4) * lineHeight);
  }

  function problemItem(problem, editor) {
    var li = el("li", "problem");
    if (problem.field) {
      li.appendChild(el("code", "problem-field", problem.field));
      li.appendChild(document.createTextNode(" "));
    }
    if (problem.line) {
      var place = "line " + problem.line + (problem.column ? ", column " + problem.column : "");
      var link = el("a", "problem-place", place);
      link.href = "#settings";
      link.addEventListener("click", function (event) {
        event.preventDefault();
        placeCaret(editor, problem.line, problem.column || 1);
      });
      li.appendChild(link);
      li.appendChild(document.createTextNode(": "));
    }
    li.appendChild(el("span", "problem-message", problem.message));
    return li;
  }

  function setupProblemLinks(editor) {
    document.querySelectorAll("#settings-problems li[data-line]").forEach(function (li) {
      var link = li.querySelector(".problem-place");
      if (!link) { return; }
      link.addEventListener("click", function (event) {
        event.preventDefault();
        placeCaret(editor, Number(li.getAttribute("data-line")), Number(li.getAttribute("data-column")) || 1);
      });
    });
  }

  // ---- the mapping tester ----

  // The directory user's fields, in the order people read them; custom attributes follow.
  var FIELDS = [
    ["username", "Username"],
    ["display_name", "Display name"],
    ["email", "Email"],
    ["first_name", "First name"],
    ["last_name", "Last name"],
    ["active", "Active"],
  ];

  var ORIGINS = {
    idp: "from the IdP",
    rule: "always-assign rule",
    copied: "copied from another directory",
    local: "added by hand; kept only if never_remove covers it",
  };

  // What an outcome means here: compared with the user's directory entry now.
  var OUTCOMES = {
    created: "Not in the directory yet: syncing would create this user.",
    updated: "Syncing would change this user's directory entry as shown.",
    unchanged: "The directory already holds exactly this.",
    disabled: "Syncing would disable this user.",
    deleted: "Syncing would delete this user.",
    filtered: "Not imported: the drop condition holds, or the user is in no required group.",
    failed: "The user cannot be synced with these settings; nothing would change.",
  };

  var GROUP_STATES = {
    imported: "imported",
    filtered: "not imported: left out by only_assign or never_assign",
    failed: "its name could not be mapped:",
  };

  function show(value) {
    if (value === null || value === undefined || value === "") { return "(empty)"; }
    if (value === true) { return "yes"; }
    if (value === false) { return "no"; }
    if (typeof value === "object") { return JSON.stringify(value); }
    return String(value);
  }

  function outcomeBadge(outcome) {
    var kind = { created: "ok", updated: "info", unchanged: "off", disabled: "warn", deleted: "err", filtered: "off", failed: "err" };
    var word = String(outcome || "").split(/[:\s]/)[0];
    return el("span", "badge " + (kind[word] || "info"), outcome || "unknown");
  }

  function renderResult(out, data) {
    out.textContent = "";
    var box = el("div", "tester-result");
    box.setAttribute("data-outcome", data.outcome || "");
    var head = el("p", "tester-head");
    head.appendChild(outcomeBadge(data.outcome));
    if (data.username) {
      head.appendChild(document.createTextNode(" "));
      head.appendChild(el("strong", "tester-username", data.username));
    }
    box.appendChild(head);
    box.appendChild(el("p", "muted small", OUTCOMES[data.outcome] || ""));
    if (data.reason) { box.appendChild(el("p", "reason", data.reason)); }

    if (data.user) {
      var dl = el("dl", "kv tester-user");
      FIELDS.forEach(function (f) {
        if (!(f[0] in data.user)) { return; }
        dl.appendChild(el("dt", null, f[1]));
        dl.appendChild(el("dd", null, show(data.user[f[0]])));
      });
      var attributes = data.user.attributes || {};
      Object.keys(attributes).forEach(function (k) {
        dl.appendChild(el("dt", null, "Attribute " + k));
        dl.appendChild(el("dd", null, show(attributes[k])));
      });
      if (data.user.cleanup) {
        dl.appendChild(el("dt", null, "Cleanup"));
        dl.appendChild(el("dd", null, data.user.cleanup.action + " (" + String(data.user.cleanup.reason).replace(/_/g, " ") + ")"));
      }
      if (data.user.anonymized) {
        dl.appendChild(el("dt", null, "Anonymized"));
        dl.appendChild(el("dd", null, "yes: names and email are a pseudonym"));
      }
      if (data.user.last_login) {
        dl.appendChild(el("dt", null, "Last login"));
        dl.appendChild(el("dd", null, data.user.last_login));
      }
      box.appendChild(dl);
    } else {
      box.appendChild(el("p", "muted", "No directory user: the settings would not import this user (see the outcome and warnings)."));
    }

    box.appendChild(el("h3", null, "Memberships"));
    var memberships = data.memberships || [];
    if (memberships.length === 0) {
      box.appendChild(el("p", "faint", "None."));
    } else {
      var ul = el("ul", "tester-memberships");
      memberships.forEach(function (m) {
        var li = el("li", "membership");
        li.appendChild(el("strong", null, m.group));
        li.appendChild(document.createTextNode(" "));
        li.appendChild(el("span", "muted", "(" + (ORIGINS[m.origin] || m.origin) + ")"));
        ul.appendChild(li);
      });
      box.appendChild(ul);
    }

    var groups = data.groups || [];
    if (groups.length) {
      box.appendChild(el("h3", null, "The user's IdP groups"));
      var gl = el("ul", "tester-groups");
      groups.forEach(function (g) {
        var li = el("li", "idp-group " + g.state);
        li.appendChild(el("strong", null, g.name || g.scim_id));
        li.appendChild(document.createTextNode(" "));
        li.appendChild(el("span", "muted", GROUP_STATES[g.state] || g.state));
        if (g.error) { li.appendChild(el("span", "reason", " " + g.error)); }
        gl.appendChild(li);
      });
      box.appendChild(gl);
    }

    (data.warnings || []).forEach(function (w) {
      box.appendChild(el("p", "warning small", "Warning: " + w));
    });
    out.appendChild(box);
  }

  function renderProblems(out, title, problems, editor) {
    out.textContent = "";
    var box = el("div", "notice error tester-problems");
    box.appendChild(el("strong", null, title));
    if (problems && problems.length) {
      var ul = el("ul", "problems");
      problems.forEach(function (p) { ul.appendChild(problemItem(p, editor)); });
      box.appendChild(ul);
    }
    out.appendChild(box);
  }

  function setupTester(editor) {
    var tester = document.getElementById("mapping-tester");
    if (!tester || !window.roster) { return; }
    var out = document.getElementById("mapping-result");
    var select = document.getElementById("tester-user");
    var search = document.getElementById("tester-search");
    var pasted = document.getElementById("tester-json");
    var status = document.getElementById("tester-status");
    var count = document.getElementById("tester-count");
    var button = document.getElementById("tester-run");
    var testUrl = tester.getAttribute("data-test");
    var usersUrl = tester.getAttribute("data-users");
    var latest = 0;
    button.hidden = false;

    // The user to test: the pasted JSON when there is some, else the chosen user.
    function subject() {
      var text = pasted.value.trim();
      if (text) {
        try {
          var user = JSON.parse(text);
          if (!user || typeof user !== "object" || Array.isArray(user)) {
            return { error: "The pasted user must be a JSON object, like {\"userName\": \"…\"}." };
          }
          return { body: { user: user } };
        } catch (e) {
          return { error: "The pasted user is not valid JSON: " + e.message };
        }
      }
      if (select.value) { return { body: { user_id: select.value } }; }
      return null;
    }

    function run() {
      var which = subject();
      if (!which) {
        out.textContent = "";
        status.textContent = "Choose a provisioned user or paste one to see the result.";
        return;
      }
      if (which.error) {
        renderProblems(out, which.error, [], editor);
        status.textContent = "";
        return;
      }
      var mine = ++latest;
      status.textContent = "Testing…";
      var body = which.body;
      body.settings = editor.value;
      window.roster.api(testUrl, { method: "POST", body: body })
        .then(function (data) {
          if (mine !== latest) { return; }
          // A page instead of JSON: the session ended and the answer is the login page.
          if (!data || typeof data !== "object") {
            renderProblems(out, "Your session has ended: reload the page to sign in again.", [], editor);
            status.textContent = "";
            return;
          }
          renderResult(out, data);
          status.textContent = "Result for the text in the editor (not saved).";
        })
        .catch(function (err) {
          if (mine !== latest) { return; }
          status.textContent = "";
          var body = err.body && typeof err.body === "object" ? err.body : null;
          if (err.status === 400 && body && body.problems && body.problems.length) {
            renderProblems(out, "The settings have problems:", body.problems, editor);
          } else if (err.status === 401 || err.status === 403) {
            renderProblems(out, "Your session has ended or changed: reload the page to sign in again.", [], editor);
          } else if (body && body.error) {
            renderProblems(out, body.error, [], editor);
          } else {
            renderProblems(out, "The test failed: " + (err.message || "no answer from the server"), [], editor);
          }
        });
    }

    var runSoon = debounce(run, 600);
    button.addEventListener("click", run);
    select.addEventListener("change", run);
    pasted.addEventListener("input", runSoon);
    editor.addEventListener("input", function () {
      if (subject()) { runSoon(); }
    });

    // The picker lists a page of users; searching asks the server for others.
    var searchSoon = debounce(function () {
      var url = usersUrl + "?search=" + encodeURIComponent(search.value.trim());
      window.roster.api(url).then(function (data) {
        if (!data || !Array.isArray(data.users)) { throw new Error("not a list"); }
        var keep = select.value;
        var first = select.options[0];
        select.textContent = "";
        first.textContent = data.users.length ? "Choose a user" : "No user matches";
        select.appendChild(first);
        data.users.forEach(function (u) {
          var option = el("option", null, u.userName + (u.displayName ? " (" + u.displayName + ")" : ""));
          option.value = u.id;
          select.appendChild(option);
        });
        select.value = keep;
        if (select.value !== keep) { select.value = ""; }
        count.textContent = data.users.length + " of " + data.total + " matching user" + (data.total === 1 ? "" : "s") + " listed.";
      }, function () {
        count.textContent = "The search failed; reload the page.";
      });
    }, 300);
    search.addEventListener("input", searchSoon);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var editor = document.getElementById("settings");
    if (!editor) { return; }
    setupProblemLinks(editor);
    setupTester(editor);
  });
})();
