// strongroom: WebAuthn ceremonies for buttons marked data-webauthn="register" or "login".
// Served as a static file (the CSP forbids inline script). The server sends the options as
// JSON with base64url binary fields; this file converts them for navigator.credentials and
// converts the answer back, then follows the server's redirect.
"use strict";
(function () {
  function b64urlToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function bufToB64url(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function creationOptions(pk) {
    pk.challenge = b64urlToBuf(pk.challenge);
    // a passkey must be discoverable to log in without a username
    pk.authenticatorSelection = pk.authenticatorSelection || {};
    if (pk.authenticatorSelection.residentKey !== "required") {
      pk.authenticatorSelection.residentKey = "preferred";
    }
    pk.user.id = b64urlToBuf(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
    return pk;
  }
  function requestOptions(pk) {
    pk.challenge = b64urlToBuf(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
    return pk;
  }
  function credentialJson(cred) {
    var r = cred.response, resp = { clientDataJSON: bufToB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      resp.attestationObject = bufToB64url(r.attestationObject);
      if (r.getTransports) resp.transports = r.getTransports();
    } else {
      resp.authenticatorData = bufToB64url(r.authenticatorData);
      resp.signature = bufToB64url(r.signature);
      resp.userHandle = r.userHandle ? bufToB64url(r.userHandle) : null;
    }
    return { id: cred.id, rawId: bufToB64url(cred.rawId), type: cred.type, response: resp, extensions: {} };
  }
  function post(url, csrf, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {})
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (data.redirect && !res.ok) { window.location.assign(data.redirect); throw new Error(data.error || "redirecting"); }
        if (!res.ok) throw new Error(data.error || ("The server answered " + res.status));
        return data;
      });
    });
  }
  // recovery codes made with a first security key: shown once, in the page (text only)
  function showCodes(codes, next) {
    var main = document.getElementById("main");
    while (main.firstChild) main.removeChild(main.firstChild);
    var section = document.createElement("section");
    section.className = "panel narrow";
    var h = document.createElement("h1");
    h.textContent = "Your recovery codes";
    var warn = document.createElement("p");
    warn.className = "warning";
    warn.textContent = "Save these codes somewhere safe now. They are shown only once. Each works once.";
    var list = document.createElement("ul");
    list.className = "codes";
    list.id = "recovery-codes";
    codes.forEach(function (c) {
      var li = document.createElement("li"), code = document.createElement("code");
      code.textContent = c;
      li.appendChild(code);
      list.appendChild(li);
    });
    var done = document.createElement("a");
    done.className = "button";
    done.id = "recovery-done";
    done.href = next;
    done.textContent = "I have saved them";
    section.appendChild(h); section.appendChild(warn); section.appendChild(list); section.appendChild(done);
    main.appendChild(section);
  }

  function run(button) {
    var status = document.getElementById("webauthn-status");
    var say = function (msg) { if (status) status.textContent = msg; };
    var kind = button.getAttribute("data-webauthn");
    var csrf = button.getAttribute("data-csrf") || "";
    var label = "";
    var labelInput = button.getAttribute("data-label-input");
    if (labelInput) label = (document.getElementById(labelInput) || {}).value || "";
    if (!window.PublicKeyCredential || !navigator.credentials) {
      say("This browser does not support security keys or passkeys.");
      return;
    }
    button.disabled = true;
    say(kind === "register" ? "Waiting for your security key…" : "Waiting for your passkey…");
    post(button.getAttribute("data-begin"), csrf, {}).then(function (begin) {
      var options = begin.options;
      if (kind === "register") {
        return navigator.credentials.create({ publicKey: creationOptions(options.publicKey) }).then(function (cred) {
          return post(button.getAttribute("data-finish"), csrf, { state_id: begin.state_id, label: label, response: credentialJson(cred) });
        });
      }
      return navigator.credentials.get({ publicKey: requestOptions(options.publicKey) }).then(function (cred) {
        return post(button.getAttribute("data-finish"), csrf, { state_id: begin.state_id, next: button.getAttribute("data-next") || "", response: credentialJson(cred) });
      });
    }).then(function (done) {
      var codes = done.recovery_codes || [];
      if (codes.length) {
        showCodes(codes, done.redirect || "/");
        return;
      }
      say("Done.");
      window.location.assign(done.redirect || "/");
    }).catch(function (err) {
      say("That did not work: " + (err && err.message ? err.message : err));
      button.disabled = false;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var buttons = document.querySelectorAll("[data-webauthn]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].addEventListener("click", function (ev) { run(ev.currentTarget); });
    }
  });
})();
