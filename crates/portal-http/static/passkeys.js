// passkeys.js: the portal's one script, for the pages that register or use a passkey.
// Same-origin, no third-party code; the pages that load it allow `script-src 'self'`.
//
// The page marks a form; this script runs the WebAuthn ceremony the form's options describe and
// posts the browser's answer in a hidden field. Everything else (which ceremony, the texts in the
// page's language, where the form posts) is the page's:
//
//   <form method="post" action="…" data-passkey="create"            create | get
//         data-passkey-options="{&#34;publicKey&#34;:…}"              the challenge JSON, or
//         data-passkey-options-from="passkey-options"               the id of a
//                                                                   <script type="application/json">
//         data-passkey-unsupported="This browser cannot use passkeys."
//         data-passkey-failed="The passkey was not used. Try again."
//         data-passkey-exists="This device already holds a passkey for you."   (create, optional)
//         data-passkey-autofill>                                    (get, optional: offer passkeys
//                                                                   in the username field's autofill,
//                                                                   which needs autocomplete="username webauthn")
//     <input type="hidden" name="csrf" value="…">
//     <input type="hidden" name="passkey_response" data-passkey-response>
//     <p class="errors" role="alert" data-passkey-error hidden></p>
//     <button type="submit">Use a passkey</button>
//   </form>
//
// The challenge JSON is what portal-passkeys made: binary members (challenge, user id,
// credential ids) in base64url. In the attribute it is escaped as any attribute value (askama
// does it); in a <script type="application/json"> element it goes unescaped, which is safe
// because the port's challenge never contains <, > or &. The answer is the PublicKeyCredential as JSON with its binary
// members in base64url, the shape portal-passkeys reads.
(function () {
  "use strict";

  var TEXTS = {
    unsupported: "This browser cannot use passkeys. Use another way to sign in, or another browser.",
    failed: "The passkey was not used. Please try again.",
  };

  function bufferFromBase64url(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4 !== 0) {
      base64 += "=";
    }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function base64urlFromBuffer(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withBufferIds(descriptors) {
    return (descriptors || []).map(function (descriptor) {
      var copy = Object.assign({}, descriptor);
      copy.id = bufferFromBase64url(descriptor.id);
      return copy;
    });
  }

  // The challenge JSON as navigator.credentials.create() takes it.
  function creationOptions(json) {
    var publicKey = Object.assign({}, json.publicKey);
    publicKey.challenge = bufferFromBase64url(publicKey.challenge);
    publicKey.user = Object.assign({}, publicKey.user, { id: bufferFromBase64url(publicKey.user.id) });
    if (publicKey.excludeCredentials) {
      publicKey.excludeCredentials = withBufferIds(publicKey.excludeCredentials);
    }
    return { publicKey: publicKey };
  }

  // The challenge JSON as navigator.credentials.get() takes it.
  function requestOptions(json) {
    var publicKey = Object.assign({}, json.publicKey);
    publicKey.challenge = bufferFromBase64url(publicKey.challenge);
    if (publicKey.allowCredentials) {
      publicKey.allowCredentials = withBufferIds(publicKey.allowCredentials);
    }
    var options = { publicKey: publicKey };
    if (json.mediation) {
      options.mediation = json.mediation;
    }
    return options;
  }

  function extensionResults(credential) {
    return typeof credential.getClientExtensionResults === "function" ? credential.getClientExtensionResults() : {};
  }

  // What create() gave, as the JSON portal-passkeys reads.
  function creationAnswer(credential) {
    var response = credential.response;
    var answer = {
      attestationObject: base64urlFromBuffer(response.attestationObject),
      clientDataJSON: base64urlFromBuffer(response.clientDataJSON),
    };
    if (typeof response.getTransports === "function") {
      answer.transports = response.getTransports();
    }
    return {
      id: credential.id,
      rawId: base64urlFromBuffer(credential.rawId),
      type: credential.type,
      response: answer,
      clientExtensionResults: extensionResults(credential),
    };
  }

  // What get() gave, as the JSON portal-passkeys reads.
  function requestAnswer(credential) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: base64urlFromBuffer(credential.rawId),
      type: credential.type,
      response: {
        authenticatorData: base64urlFromBuffer(response.authenticatorData),
        clientDataJSON: base64urlFromBuffer(response.clientDataJSON),
        signature: base64urlFromBuffer(response.signature),
        userHandle: response.userHandle ? base64urlFromBuffer(response.userHandle) : null,
      },
      clientExtensionResults: extensionResults(credential),
    };
  }

  function supported() {
    return (
      typeof window !== "undefined" &&
      typeof window.PublicKeyCredential === "function" &&
      typeof navigator !== "undefined" &&
      !!navigator.credentials &&
      typeof navigator.credentials.create === "function" &&
      typeof navigator.credentials.get === "function"
    );
  }

  function optionsOf(form) {
    var from = form.getAttribute("data-passkey-options-from");
    var text = from ? document.getElementById(from).textContent : form.getAttribute("data-passkey-options");
    return JSON.parse(text);
  }

  function showError(form, text) {
    var place = form.querySelector("[data-passkey-error]");
    if (!place) {
      place = document.createElement("p");
      place.className = "errors";
      place.setAttribute("role", "alert");
      place.setAttribute("data-passkey-error", "");
      form.insertBefore(place, form.firstChild);
    }
    place.textContent = text;
    place.hidden = false;
  }

  function clearError(form) {
    var place = form.querySelector("[data-passkey-error]");
    if (place) {
      place.hidden = true;
      place.textContent = "";
    }
  }

  function setBusy(form, busy) {
    var buttons = form.querySelectorAll("button, input[type=submit]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].disabled = busy;
    }
    form.setAttribute("aria-busy", busy ? "true" : "false");
  }

  function textOf(form, name) {
    return form.getAttribute("data-passkey-" + name) || TEXTS[name] || TEXTS.failed;
  }

  // Posts the answer: the hidden field, then the form itself (submit() fires no submit event,
  // so the handler below does not run again).
  function post(form, answer) {
    var field = form.querySelector("[data-passkey-response]");
    field.value = JSON.stringify(answer);
    form.submit();
  }

  function failed(form, error) {
    setBusy(form, false);
    var exists = error && error.name === "InvalidStateError" && form.getAttribute("data-passkey") === "create";
    showError(form, textOf(form, exists ? "exists" : "failed"));
  }

  function ceremony(form, signal) {
    var json = optionsOf(form);
    if (form.getAttribute("data-passkey") === "create") {
      return navigator.credentials.create(creationOptions(json)).then(creationAnswer);
    }
    var options = requestOptions(json);
    if (signal) {
      options.mediation = "conditional";
      options.signal = signal;
    }
    return navigator.credentials.get(options).then(requestAnswer);
  }

  // Passkeys offered in the username field's autofill, until the person presses the button.
  function offerAutofill(form) {
    if (typeof window.AbortController !== "function") {
      return null;
    }
    var check = window.PublicKeyCredential.isConditionalMediationAvailable;
    if (typeof check !== "function") {
      return null;
    }
    var controller = new AbortController();
    check.call(window.PublicKeyCredential).then(function (available) {
      if (!available || controller.signal.aborted) {
        return;
      }
      ceremony(form, controller.signal).then(
        function (answer) {
          post(form, answer);
        },
        function () {
          // Aborted by the button, or dismissed: the button still works.
        }
      );
    });
    return controller;
  }

  function prepare(form) {
    if (!supported()) {
      showError(form, textOf(form, "unsupported"));
      setBusy(form, true);
      return;
    }
    var autofill = form.getAttribute("data-passkey") === "get" && form.hasAttribute("data-passkey-autofill")
      ? offerAutofill(form)
      : null;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (autofill) {
        autofill.abort();
        autofill = null;
      }
      clearError(form);
      setBusy(form, true);
      ceremony(form, null).then(
        function (answer) {
          post(form, answer);
        },
        function (error) {
          failed(form, error);
        }
      );
    });
  }

  function start() {
    var forms = document.querySelectorAll("form[data-passkey]");
    for (var i = 0; i < forms.length; i++) {
      prepare(forms[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
