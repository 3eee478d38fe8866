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

// The error summary's links move the focus to their field (a plain fragment link scrolls to it
// but leaves the focus where it was), its label in view.
document.addEventListener("click", function (event) {
  var link = event.target.closest && event.target.closest(".error-summary a[data-field]");
  var control = link && document.getElementById(link.dataset.field);
  if (!control) {
    return;
  }
  event.preventDefault();
  var label = document.querySelector('label[for="' + CSS.escape(control.id) + '"]');
  (label || control).scrollIntoView({ block: "center" });
  control.focus({ preventScroll: true });
});

// markField marks a form control at fault as the server-rendered page does (aria-invalid, its
// message as #ID-error, described by it), or clears those marks when message is "".
function markField(control, message) {
  var errorID = control.id + "-error";
  var error = document.getElementById(errorID);
  var described = (control.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (t) {
    return t && t !== errorID;
  });
  if (message) {
    if (!error) {
      error = document.createElement("p");
      error.id = errorID;
      error.className = "error";
      control.insertAdjacentElement("afterend", error);
    }
    error.textContent = message;
    control.setAttribute("aria-invalid", "true");
    described.unshift(errorID);
  } else {
    if (error) {
      error.remove();
    }
    control.removeAttribute("aria-invalid");
  }
  control.setAttribute("aria-describedby", described.join(" "));
  var field = control.closest(".field");
  if (field) {
    field.classList.toggle("has-error", !!message);
  }
}

// After "Test before saving" (or a provider switch) with htmx, the error summary swapped in
// out of band (data-apply) says which fields are at fault: mark those, clear the others. The
// inputs themselves are never swapped, so the secrets typed stay. With faults, the focus goes
// to the summary, whose links lead to each field.
document.addEventListener("htmx:afterSettle", function () {
  var summary = document.querySelector("#error-summary[data-apply]");
  var form = document.getElementById("scm-form");
  if (!summary || !form) {
    return;
  }
  summary.removeAttribute("data-apply");
  var faults = {};
  summary.querySelectorAll("a[data-field]").forEach(function (a) {
    faults[a.dataset.field] = a.textContent.trim();
  });
  form.querySelectorAll("input[id]:not([type=hidden]), select[id]").forEach(function (control) {
    markField(control, faults[control.id] || "");
  });
  if (!summary.hidden) {
    summary.focus();
  }
});
