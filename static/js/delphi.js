/* The site's only script (the Content-Security-Policy allows no inline script): small
   behaviours switched on by data attributes, each optional — every page works without it. */
(function () {
  "use strict";

  function getJSON(url) {
    return fetch(url, {credentials: "same-origin", cache: "no-store"}).then(function (r) {
      if (!r.ok) { throw new Error(r.status); }
      return r.json();
    });
  }

  /* A round's analysis: reload the page when it is done or has failed. */
  function analysisProgress(box) {
    function poll() {
      getJSON(box.dataset.statusUrl).then(function (data) {
        var failed = data.analysis && data.analysis.status === "failed";
        if (data.state !== "closed" || failed) { window.location.reload(); } else { setTimeout(poll, 1000); }
      }).catch(function () { setTimeout(poll, 3000); });
    }
    setTimeout(poll, 1000);
  }

  /* A report version being generated: move the bar, reload when finished. */
  function reportProgress(box) {
    var bar = document.getElementById("progress-bar");
    var step = document.getElementById("progress-step");
    function poll() {
      getJSON(box.dataset.statusUrl).then(function (s) {
        bar.value = s.progress;
        bar.textContent = s.progress + "%";
        step.textContent = s.progress + "% · " + s.step;
        if (s.finished) { window.location.reload(); } else { setTimeout(poll, 1000); }
      }).catch(function () { setTimeout(poll, 3000); });
    }
    setTimeout(poll, 1000);
  }

  /* The round dashboard while the round is open: totals, groups and the panel table. */
  function liveTable(table) {
    function cellText(key, counts, rate) {
      return key === "rate" ? (rate || 0) + "%" : String(counts[key] || 0);
    }
    function update(data) {
      document.querySelectorAll("[data-count]").forEach(function (cell) {
        cell.textContent = cellText(cell.dataset.count, data.counts, data.rate);
      });
      document.querySelectorAll("[data-group]").forEach(function (row) {
        var counts = data.groups[row.dataset.group] || {};
        row.querySelectorAll("[data-group-count]").forEach(function (cell) {
          cell.textContent = cellText(cell.dataset.groupCount, counts, counts.rate);
        });
      });
      Object.keys(data.panelists || {}).forEach(function (pseudonym) {
        var row = document.querySelector('[data-panelist="' + pseudonym + '"]');
        if (!row) { return; }
        var state = data.panelists[pseudonym];
        var badge = row.querySelector('[data-field="label"]');
        if (badge) {
          badge.textContent = state.label;
          badge.className = "badge status-" + state.status;
        }
        var last = row.querySelector('[data-field="last_activity"]');
        if (last) { last.textContent = state.last_activity; }
      });
    }
    function poll() {
      getJSON(table.dataset.statusUrl).then(function (data) {
        update(data);
        if (data.state === "open") { setTimeout(poll, 5000); }
      }).catch(function () { setTimeout(poll, 15000); });
    }
    setTimeout(poll, 5000);
  }

  /* Forms whose action is hard to undo ask first (the server refuses nothing without it:
     these are reversible actions; opening and closing a round have a confirmation page). */
  function confirmForms() {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    });
  }

  /* "Copy" buttons beside a read-only field. */
  function copyButtons() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      var field = document.getElementById(button.dataset.copy);
      var done = button.parentNode.querySelector("[data-copy-done]");
      if (!field || !navigator.clipboard) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(field.value).then(function () {
          if (done) { done.hidden = false; }
        });
      });
    });
  }

  /* A page that comes back with errors: move the focus (and the reader) to their summary. */
  function focusErrors() {
    var summary = document.querySelector(".error-summary");
    if (summary) {
      summary.focus();
      summary.scrollIntoView({block: "start"});
    }
  }

  /* Set-up, criteria: the lowest and highest point matter only for an "Other" scale. */
  function customScaleFields() {
    document.querySelectorAll("select[data-scale-choice]").forEach(function (select) {
      var box = select.closest("fieldset");
      var fields = box ? box.querySelectorAll(".custom-only") : [];
      function sync() {
        fields.forEach(function (el) { el.hidden = select.value !== "custom"; });
      }
      select.addEventListener("change", sync);
      sync();
    });
  }

  /* Set-up, protocol: the rule picker writes the rule into its text field. */
  function rulePickers() {
    document.querySelectorAll("[data-rule-picker]").forEach(function (picker) {
      var target = document.getElementById(picker.dataset.rulePicker);
      var kind = picker.querySelector("[data-rule-kind]");
      var value = picker.querySelector("[data-rule-value]");
      if (!target || !kind) { return; }
      picker.hidden = false;
      var current = (target.value || "").split(":");
      if (current[0]) { kind.value = current[0]; }
      if (current[1]) { value.value = current[1]; }
      function sync() {
        var option = kind.options[kind.selectedIndex];
        value.parentNode.hidden = !(option && option.dataset.needsValue === "1");
      }
      function write() {
        sync();
        if (!kind.value) { return; }
        target.value = value.parentNode.hidden ? kind.value : kind.value + ":" + value.value;
      }
      kind.addEventListener("change", function () {
        if (kind.value === "iqr" && Number(value.value) > 4) { value.value = "1"; }
        if (kind.value === "percent" && Number(value.value) < 50) { value.value = "75"; }
        write();
      });
      sync();
      value.addEventListener("input", write);
    });
  }

  /* Round-2 feedback: one line on a phone, the charts open on a wide screen. */
  function openWideFeedback() {
    if (!window.matchMedia || !window.matchMedia("(min-width: 48rem)").matches) { return; }
    document.querySelectorAll("details[data-open-wide]").forEach(function (d) { d.open = true; });
  }

  /* Real-time mode: the panel's answers under each question, fetched every few seconds and
     swapped in (a chart or comment list the panelist opened stays open). */
  function liveFeedback(box) {
    var every = Number(box.dataset.liveEvery || 5) * 1000;
    var shown = {};
    function swap(key, html) {
      var old = document.querySelector('[data-live-cell="' + key + '"]');
      if (!old || shown[key] === html) { return; }
      shown[key] = html;
      var holder = document.createElement("template");
      holder.innerHTML = html.trim();
      var fresh = holder.content.firstElementChild;
      if (!fresh) { return; }
      ["details.feedback", "details.comments"].forEach(function (selector) {
        var before = old.querySelector(selector);
        var after = fresh.querySelector(selector);
        if (before && after) { after.open = before.open; }
        else if (after && after.hasAttribute("data-open-wide") && window.matchMedia &&
                 window.matchMedia("(min-width: 48rem)").matches) { after.open = true; }
      });
      old.replaceWith(fresh);
    }
    var version = box.dataset.liveV || "";
    function poll() {
      if (document.hidden) { setTimeout(poll, every); return; }  // a tab in the background
      getJSON(box.dataset.liveUrl + "?v=" + encodeURIComponent(version)).then(function (data) {
        version = data.v || "";
        Object.keys(data.cells || {}).forEach(function (key) { swap(key, data.cells[key]); });
        if (data.open) { setTimeout(poll, every); }
      }).catch(function () { setTimeout(poll, every * 3); });
    }
    setTimeout(poll, every);
  }

  function start() {
    var box = document.getElementById("analysis-progress");
    if (box && box.dataset.statusUrl) { analysisProgress(box); }
    var report = document.getElementById("report-progress");
    if (report && report.dataset.statusUrl) { reportProgress(report); }
    var table = document.querySelector("#response-table[data-live]");
    if (table) { liveTable(table); }
    var live = document.getElementById("live-feedback");
    if (live && live.dataset.liveUrl) { liveFeedback(live); }
    confirmForms();
    copyButtons();
    focusErrors();
    customScaleFields();
    rulePickers();
    openWideFeedback();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
