// New-notice form: text or a recording, and the recording's size checked before uploading.
(function () {
  "use strict";

  var form = document.getElementById("notice-form");
  if (!form) return;
  var body = document.getElementById("body");
  var file = document.getElementById("audio");
  var sizeError = document.getElementById("audio-size-error");
  var limit = Number(form.dataset.uploadLimit) || 0;

  function kind() {
    var chosen = form.querySelector('input[name="kind"]:checked');
    return chosen ? chosen.value : "text";
  }

  // Show the parts of the chosen kind; the others are hidden and not sent.
  function sync() {
    var current = kind();
    form.querySelectorAll("[data-kind-show]").forEach(function (part) {
      var shown = part.dataset.kindShow === current;
      part.hidden = !shown;
      part.querySelectorAll("input, select, textarea, button").forEach(function (control) {
        control.disabled = !shown;
      });
    });
    body.required = current === "text";
    file.required = current === "recording";
  }

  function checkSize() {
    var chosen = file.files && file.files[0];
    var message = "";
    if (chosen && limit && chosen.size > limit) {
      message = "录音文件不能超过 " + Math.floor(limit / 1048576) + " MB，请重新选择";
    }
    file.setCustomValidity(message);
    sizeError.textContent = message;
    sizeError.hidden = !message;
    return !message;
  }

  form.addEventListener("change", function (event) {
    if (event.target.name === "kind") sync();
    if (event.target === file) checkSize();
  });
  form.addEventListener("submit", function (event) {
    if (kind() === "recording" && !checkSize()) {
      event.preventDefault();
      file.focus();
      return;
    }
    document.getElementById("notice-submit").disabled = true;
    document.getElementById("notice-saving").hidden = false;
  });
  sync();
  checkSize();
})();
