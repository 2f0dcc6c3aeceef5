// Cunxiang panel: preview a notice, live playback log, small form helpers. No dependencies.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function seconds(ms) {
    var s = Math.round(ms / 1000);
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  // The text to preview, with the sound options named in data-options (fields of its form).
  function previewBody(button, text) {
    var body = { text: text };
    (button.dataset.options || "").split(" ").forEach(function (name) {
      var field = name && button.form && button.form.querySelector('[name="' + name + '"]:not([type=hidden])');
      if (!field || field.disabled) return;
      body[name] = field.type === "checkbox" ? field.checked : field.value;
    });
    return body;
  }

  // 试听: render the typed text on the server and play it here.
  document.querySelectorAll("[data-preview]").forEach(function (button) {
    var source = document.getElementById(button.dataset.source);
    var audio = document.getElementById(button.dataset.audio);
    var status = document.getElementById(button.dataset.status);
    button.addEventListener("click", function () {
      var text = source.value.trim();
      if (!text) {
        status.textContent = "请先填写通知内容";
        return;
      }
      button.disabled = true;
      status.textContent = "正在合成语音…";
      fetch(button.dataset.preview, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify(previewBody(button, text)),
      })
        .then(function (response) {
          return response.json().then(function (body) {
            if (!response.ok) throw new Error(body.message || "试听失败");
            return body;
          });
        })
        .then(function (body) {
          audio.src = body.url;
          audio.hidden = false;
          status.textContent = "时长 " + seconds(body.duration_ms);
          return audio.play().catch(function () {});
        })
        .catch(function (err) {
          status.textContent = err instanceof SyntaxError ? "试听失败，请稍后再试" : err.message;
        })
        .finally(function () {
          button.disabled = false;
        });
    });
  });

  // Live log: reload the rows while the page is visible.
  var live = document.querySelector("[data-refresh]");
  if (live) {
    var every = (Number(live.dataset.seconds) || 5) * 1000;
    setInterval(function () {
      // Not while the page is hidden, nor while a 停止 confirmation is open in the log.
      if (document.hidden || live.querySelector("details[open]")) return;
      fetch(live.dataset.refresh, { credentials: "same-origin" })
        .then(function (response) {
          return response.ok && !response.redirected ? response.text() : null;
        })
        .then(function (html) {
          if (html !== null) live.innerHTML = html;
        })
        .catch(function () {});
    }, every);
  }

  // Schedule form: show only the fields that belong to the chosen "when".
  document.querySelectorAll("[data-when]").forEach(function (group) {
    var form = group.closest("form") || document;
    function sync() {
      var chosen = group.querySelector('input[name="when"]:checked');
      form.querySelectorAll("[data-when-show]").forEach(function (part) {
        var shows = part.dataset.whenShow.split(" ");
        part.hidden = !chosen || shows.indexOf(chosen.value) < 0;
      });
    }
    group.addEventListener("change", sync);
    sync();
  });

  // A select with an "other" choice shows its text field only for that choice.
  document.querySelectorAll("select[data-other]").forEach(function (select) {
    var other = document.getElementById(select.dataset.other);
    function sync() {
      other.hidden = select.value !== "other";
    }
    select.addEventListener("change", sync);
    sync();
  });

  // 全选: tick every checkbox of one name.
  document.querySelectorAll("[data-check-all]").forEach(function (button) {
    var boxes = button.form.querySelectorAll('input[name="' + button.dataset.checkAll + '"]');
    button.hidden = boxes.length < 2;
    button.addEventListener("click", function () {
      var all = Array.prototype.every.call(boxes, function (box) { return box.checked; });
      boxes.forEach(function (box) { box.checked = !all; });
    });
  });

  // Forms that must go once (sending an emergency): ignore a second tap.
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent) {
        event.preventDefault();
        return;
      }
      form.dataset.sent = "1";
    });
  });

  // Range inputs echo their value.
  document.querySelectorAll("input[type=range][data-output]").forEach(function (input) {
    var out = document.getElementById(input.dataset.output);
    input.addEventListener("input", function () {
      out.textContent = input.value;
    });
  });
})();
