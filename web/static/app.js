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
        body: JSON.stringify({ text: text }),
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
      if (document.hidden) return;
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

  // 播放 form: show only the time field that belongs to the chosen option.
  document.querySelectorAll("[data-when]").forEach(function (group) {
    function sync() {
      var chosen = group.querySelector('input[name="when"]:checked');
      group.querySelectorAll("[data-when-show]").forEach(function (part) {
        part.hidden = !chosen || chosen.value !== part.dataset.whenShow;
      });
    }
    group.addEventListener("change", sync);
    sync();
  });

  // Range inputs echo their value.
  document.querySelectorAll("input[type=range][data-output]").forEach(function (input) {
    var out = document.getElementById(input.dataset.output);
    input.addEventListener("input", function () {
      out.textContent = input.value;
    });
  });
})();
