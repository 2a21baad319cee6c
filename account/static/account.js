// keygate account pages: copy to clipboard and the API set lists.
// Plain JavaScript, no inline handlers (the pages' CSP allows scripts from
// keygate only).
"use strict";

function announce(el, text) {
  var card = el.closest(".card") || document;
  var status = card.querySelector(".copied");
  if (status) { status.textContent = text; }
}

function copyFrom(button) {
  var source = document.getElementById(button.dataset.copy);
  if (!source) { return; }
  var text = source.value !== undefined ? source.value : source.textContent;
  var done = function () {
    button.classList.add("done");
    announce(button, "Copied to clipboard.");
  };
  var fallback = function () {
    source.focus();
    source.select();
    try {
      if (document.execCommand("copy")) { done(); return; }
    } catch (e) { /* below */ }
    announce(button, "Press Ctrl+C (⌘C) to copy the selected text.");
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, fallback);
  } else {
    fallback();
  }
}

function move(from, to) {
  Array.prototype.slice.call(from.selectedOptions).forEach(function (opt) {
    opt.selected = false;
    to.appendChild(opt);
  });
  var sorted = Array.prototype.slice.call(to.options).sort(function (a, b) {
    return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
  });
  sorted.forEach(function (opt) { to.appendChild(opt); });
}

// confirmFirst asks before a form that changes something for good is sent:
// the page's <dialog id="confirm"> with the form's data-confirm sentence and
// a button named after the action. Cancel, Escape or a click outside the
// buttons send nothing.
function confirmFirst(form) {
  var dialog = document.getElementById("confirm");
  if (!dialog || typeof dialog.showModal !== "function") {
    if (window.confirm(form.dataset.confirm)) { form.submit(); }
    return;
  }
  document.getElementById("confirm-text").textContent = form.dataset.confirm;
  var ok = document.getElementById("confirm-ok");
  ok.textContent = form.dataset.confirmButton || "OK";
  dialog.returnValue = "";
  dialog.onclose = function () {
    if (dialog.returnValue === "ok") { form.submit(); }
  };
  dialog.showModal();
}

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button.copy").forEach(function (b) {
    b.addEventListener("click", function () { copyFrom(b); });
  });
  // form.submit() does not fire "submit" again, so a confirmed form goes.
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      e.preventDefault();
      confirmFirst(f);
    });
  });

  var available = document.getElementById("available");
  var selected = document.getElementById("selected");
  if (available && selected) {
    document.getElementById("add-api").addEventListener("click", function () { move(available, selected); });
    document.getElementById("remove-api").addEventListener("click", function () { move(selected, available); });
    available.addEventListener("dblclick", function () { move(available, selected); });
    selected.addEventListener("dblclick", function () { move(selected, available); });
    // Every name in Selected API is sent, chosen or not.
    document.getElementById("new-key").addEventListener("submit", function () {
      Array.prototype.forEach.call(selected.options, function (opt) { opt.selected = true; });
    });
  }
});
