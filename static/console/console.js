/* Console behaviour that needs JavaScript: focus after htmx edits, a prompt before losing
   unsaved edits. Every page works without it; nothing here changes what the server stores. */
(function () {
  "use strict";

  // A working list re-rendered by htmx names the control that keeps the keyboard focus
  // (data-focus="up:7"); without this, focus falls back to the page body.
  function restoreFocus() {
    document.querySelectorAll("form[data-focus]").forEach(function (panel) {
      var key = panel.getAttribute("data-focus");
      panel.removeAttribute("data-focus");
      var target = panel.querySelector('[data-control="' + CSS.escape(key) + '"]');
      if (!target || target.disabled) {
        target = panel.querySelector('[data-control="save"]');
      }
      if (target) {
        target.focus();
      }
    });
  }
  document.addEventListener("htmx:afterSettle", restoreFocus);

  // A table re-rendered in place (the Connectors table refreshes every few seconds) keeps
  // how far it was scrolled sideways; htmx itself keeps the focus on an element with an id.
  var scrolled = {};
  document.addEventListener("htmx:beforeSwap", function () {
    document.querySelectorAll(".table-scroll[id]").forEach(function (el) {
      scrolled[el.id] = el.scrollLeft;
    });
  });
  document.addEventListener("htmx:afterSwap", function () {
    Object.keys(scrolled).forEach(function (id) {
      var el = document.getElementById(id);
      if (el) {
        el.scrollLeft = scrolled[id];
      }
    });
    scrolled = {};
  });

  // Forms marked data-warn-unsaved count as edited once a field changes; a working list
  // says so itself (data-unsaved, rendered by the server).
  var submitting = false;
  function markEdited(event) {
    var form = event.target.form || event.target.closest("form");
    if (form && form.hasAttribute("data-warn-unsaved")) {
      form.setAttribute("data-edited", "true");
    }
  }
  document.addEventListener("input", markEdited);
  document.addEventListener("change", markEdited);
  // htmx cancels the submissions it sends itself; any other one leaves the page on purpose.
  document.addEventListener("submit", function (event) {
    if (!event.defaultPrevented) {
      submitting = true;
    }
  });
  window.addEventListener("pageshow", function () {
    submitting = false;
  });
  window.addEventListener("beforeunload", function (event) {
    if (submitting) {
      return;
    }
    if (document.querySelector('[data-unsaved="true"], form[data-warn-unsaved][data-edited="true"]')) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
})();
