// strongroom: copy buttons. A button with data-copy="ID" copies the text of the element with
// that id (a list: one item a line). Buttons start hidden and are shown only here, so a page
// without this script offers none that do nothing. Loaded from /static/ under the CSP
// (script-src 'self'): no inline script anywhere.
(function () {
  "use strict";

  function textOf(el) {
    var items = el.querySelectorAll("li");
    if (items.length) {
      return Array.prototype.map.call(items, function (li) { return li.textContent.trim(); }).join("\n") + "\n";
    }
    return el.textContent;
  }

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "copy-scratch";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); });
    }
    return fallbackCopy(text);
  }

  function announce(button, message) {
    var label = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", label);
    button.textContent = message;
    window.setTimeout(function () { button.textContent = label; }, 2000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var status = document.createElement("p");
    status.className = "visually-hidden";
    status.setAttribute("role", "status");
    status.id = "copy-status";
    document.body.appendChild(status);
    var buttons = document.querySelectorAll("button[data-copy]");
    Array.prototype.forEach.call(buttons, function (button) {
      var target = document.getElementById(button.getAttribute("data-copy"));
      if (!target) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        copy(textOf(target)).then(function () {
          announce(button, "Copied");
          status.textContent = "Copied to the clipboard.";
        }, function () {
          announce(button, "Select and copy");
          status.textContent = "The browser refused to copy: select the text and copy it.";
        });
      });
    });
  });
})();
