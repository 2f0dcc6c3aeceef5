// Programme editor: reorder by drag and drop (HTML5) or the ↑ ↓ buttons, add and remove
// items, and keep the total duration up to date. Without script the same buttons post the
// form and the server applies them.
(function () {
  "use strict";

  var list = document.getElementById("items");
  var form = document.getElementById("programme-form");
  if (!list || !form) return;
  var total = document.getElementById("total");
  var empty = document.getElementById("items-empty");
  var template = document.getElementById("item-template");
  var dragged = null;

  function duration(ms) {
    var s = Math.round(ms / 1000);
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function refresh() {
    var sum = 0;
    Array.prototype.forEach.call(list.children, function (li, i) {
      sum += Number(li.dataset.ms || 0);
      li.querySelectorAll("[data-move]").forEach(function (b) {
        b.value = b.dataset.move + ":" + i;
      });
    });
    total.dataset.ms = String(sum);
    total.textContent = duration(sum);
    empty.hidden = list.children.length > 0;
  }

  function add(value, title, ms, kind) {
    var li = template.content.firstElementChild.cloneNode(true);
    li.dataset.ms = String(ms);
    li.classList.add("kind-" + kind);
    li.querySelector(".prog-title").textContent = title;
    li.querySelector(".prog-len").textContent = duration(ms);
    li.querySelector("input").value = value;
    li.querySelectorAll("[data-move]").forEach(function (b) {
      b.setAttribute("aria-label", b.getAttribute("aria-label") + " " + title);
    });
    list.appendChild(li);
    refresh();
  }

  form.addEventListener("click", function (event) {
    var button = event.target.closest("button");
    if (!button) return;
    if (button.dataset.move) {
      event.preventDefault();
      var li = button.closest("li");
      if (button.dataset.move === "up" && li.previousElementSibling) {
        list.insertBefore(li, li.previousElementSibling);
      } else if (button.dataset.move === "down" && li.nextElementSibling) {
        list.insertBefore(li.nextElementSibling, li);
      } else if (button.dataset.move === "remove") {
        li.remove();
      }
      refresh();
      if (li.isConnected) button.focus();
    } else if (button.dataset.add === "notice") {
      event.preventDefault();
      var select = document.getElementById("add_notice");
      var option = select.options[select.selectedIndex];
      if (!option || !option.value) {
        select.focus();
        return;
      }
      var title = option.textContent.replace(/（[0-9:]+）$/, "").replace(/^【录音】/, "");
      add("notice:" + option.value, title, Number(option.dataset.ms), option.dataset.kind || "text");
    } else if (button.dataset.add === "chime") {
      event.preventDefault();
      add("chime", "提示音", Number(button.dataset.ms), "chime");
    } else if (button.dataset.add === "silence") {
      event.preventDefault();
      var field = document.getElementById("silence");
      var seconds = parseInt(field.value, 10);
      if (!(seconds >= 1 && seconds <= Number(field.max))) {
        field.focus();
        field.setAttribute("aria-invalid", "true");
        return;
      }
      field.removeAttribute("aria-invalid");
      add("silence:" + seconds, "静音 " + seconds + " 秒", seconds * 1000, "silence");
    }
  });

  // Saving: the Enter key in a field must not press the first ↑ button.
  form.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && event.target.tagName === "INPUT") {
      event.preventDefault();
      if (event.target.id === "silence") form.querySelector('[data-add="silence"]').click();
    }
  });

  list.addEventListener("dragstart", function (event) {
    dragged = event.target.closest("li");
    if (!dragged) return;
    dragged.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", dragged.querySelector("input").value);
  });
  list.addEventListener("dragover", function (event) {
    if (!dragged) return;
    event.preventDefault();
    var over = event.target.closest("li");
    if (!over || over === dragged || over.parentNode !== list) return;
    var box = over.getBoundingClientRect();
    var after = event.clientY > box.top + box.height / 2;
    list.insertBefore(dragged, after ? over.nextElementSibling : over);
  });
  list.addEventListener("drop", function (event) {
    event.preventDefault();
  });
  list.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("dragging");
    dragged = null;
    refresh();
  });
  refresh();
})();
