// Hand every htmx request the CSRF token of the page (SPEC: X-CSRF-Token, from the meta tag).
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) {
    event.detail.headers["X-CSRF-Token"] = meta.content;
  }
});

// Copy buttons: <button data-copy="ID"> copies the text of the element with that id. Where the
// clipboard API is missing (a plain-http host), the text is selected and the note beside the
// button says to press Ctrl+C.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) {
    return;
  }
  var source = document.getElementById(button.dataset.copy);
  var note = button.parentNode.querySelector(".copy-note");
  var say = function (text) {
    if (note) {
      note.textContent = text;
    }
  };
  var selectIt = function () {
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    say("Selected: press Ctrl+C (⌘C on a Mac) to copy.");
  };
  if (!navigator.clipboard || !window.isSecureContext) {
    selectIt();
    return;
  }
  navigator.clipboard.writeText(source.textContent.trim()).then(function () {
    button.textContent = "Copied";
    say("");
  }, selectIt);
});

// After a row's action (htmx), the focus returns to the same row of the new table: to the
// button of the same action, else its first one; to the status message when the row is gone.
// It never falls to <body>.
var rowAction = null;
document.addEventListener("htmx:beforeRequest", function (event) {
  var elt = event.detail.elt;
  var row = elt.closest && elt.closest("tr[data-scm-id]");
  if (row) {
    rowAction = { id: row.dataset.scmId, label: (elt.textContent || "").trim() };
  }
});
document.addEventListener("htmx:afterSettle", function () {
  if (!rowAction || document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling")) {
    return;
  }
  var done = rowAction;
  rowAction = null;
  var row = document.querySelector('tr[data-scm-id="' + CSS.escape(done.id) + '"]');
  var target = null;
  if (row) {
    var buttons = Array.prototype.slice.call(row.querySelectorAll("button, a.button"));
    target = buttons.find(function (b) { return b.textContent.trim() === done.label; }) ||
      (done.label === "Cancel" && row.querySelector("a.danger")) ||
      row.querySelector(".row-buttons button, .row-buttons a") || row.querySelector("a");
  } else {
    target = document.querySelector("#messages [role=status], #messages [role=alert]");
  }
  if (target) {
    target.focus();
  }
});

// Escape cancels the in-place delete confirmation.
document.addEventListener("keydown", function (event) {
  if (event.key !== "Escape") {
    return;
  }
  var confirm = (event.target.closest && event.target.closest("tr.confirm")) || document.querySelector("tr.confirm");
  var cancel = confirm && confirm.querySelector("a.cancel");
  if (cancel) {
    event.preventDefault();
    cancel.click();
  }
});
