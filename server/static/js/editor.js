// The query editor: YASGUI (vendored, served from this host) wired to this server only.
// Nothing here contacts another host: prefix.cc lookups are off (prefixCcApi: null), the
// class/property autocompleters that call the LOV API are removed, the endpoint catalogue
// lists only this endpoint, and no CORS proxy is configured.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("editor-config").textContent);
  var endpoint = new URL(config.endpoint, window.location.href).href;

  Yasgui.Yasqe.defaults.autocompleters = ["prefixes", "variables"];
  Yasgui.Yasqe.defaults.prefixCcApi = null;
  // No keyboard trap: the editor takes no focus on load, and Tab / Shift+Tab leave it as
  // they leave any field (CodeMirror would indent instead; Ctrl+] / Ctrl+[ still indent).
  Yasgui.Yasqe.defaults.autofocus = false;
  Yasgui.Yasqe.defaults.extraKeys = Object.assign({}, Yasgui.Yasqe.defaults.extraKeys,
                                                  { "Tab": false, "Shift-Tab": false });
  // An error is its message as text, not the JSON body the endpoint sent it in.
  Yasgui.Yasr.defaults.errorRenderers = [renderError].concat(Yasgui.Yasr.defaults.errorRenderers || []);

  var yasgui = new Yasgui(document.getElementById("yasgui"), {
    autofocus: false,
    requestConfig: { endpoint: endpoint, method: "POST" },
    copyEndpointOnNewTab: true,
    endpointCatalogueOptions: {
      getData: function () { return [{ endpoint: endpoint }]; },
      keys: ["endpoint"],
    },
    persistenceId: "bjkg-editor",
    populateFromUrl: true,
    yasqe: { value: config.defaultQuery, prefixCcApi: null, resizeable: true, editorHeight: "320px" },
    yasr: { prefixes: config.prefixes, defaultPlugin: "table" },
  });
  window.bjkgYasgui = yasgui;

  // Every tab queries this server, whatever a persisted tab remembered.
  function pinEndpoint(tab) {
    if (tab && tab.getEndpoint && tab.getEndpoint() !== endpoint) { tab.setEndpoint(endpoint); }
  }
  pinEndpoint(yasgui.getTab());
  yasgui.on("tabSelect", function (_y, id) { pinEndpoint(yasgui.getTab(id)); });

  // A query to edit (`?edit=`, from an error page or a link) replaces the restored tab's.
  if (config.edit) { yasgui.getTab().setQuery(config.edit); }

  // The fields have names (the query text, the endpoint), and YASGUI's own interface, which
  // speaks English only, says so on a page in another language.
  var root = document.getElementById("yasgui");
  var english = (document.documentElement.lang || "").indexOf("en") !== 0;
  function label(node) {
    node.querySelectorAll(".CodeMirror textarea:not([aria-label])").forEach(function (field) {
      field.setAttribute("aria-label", config.editorLabel);
    });
    node.querySelectorAll(".controlbar input:not([aria-label])").forEach(function (field) {
      field.setAttribute("aria-label", config.endpointLabel);
    });
    if (english) {
      node.querySelectorAll(".tabsList, .controlbar, .yasr_header, .yasqe_buttons").forEach(function (part) {
        part.setAttribute("lang", "en");
      });
    }
  }
  label(root);
  new MutationObserver(function () { label(root); }).observe(root, { childList: true, subtree: true });

  function renderError(error) {
    var message = null;
    try { message = JSON.parse(error.text).error.message; } catch (e) { message = null; }
    if (typeof message !== "string") { return Promise.resolve(undefined); }
    var box = document.createElement("div");
    var head = document.createElement("p");
    head.className = "status";
    head.textContent = (error.statusText || "Error") + (error.status ? " (" + error.status + ")" : "");
    var text = document.createElement("pre");
    text.className = "errorMessage";
    text.textContent = message;
    box.appendChild(head);
    box.appendChild(text);
    return Promise.resolve(box);
  }

  // Example links open the query in the current tab and run it.
  var bySlug = {};
  config.examples.forEach(function (ex) { bySlug[ex.slug] = ex; });
  document.querySelectorAll("[data-example]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      var ex = bySlug[link.getAttribute("data-example")];
      if (!ex) { return; }
      event.preventDefault();
      var tab = yasgui.getTab();
      pinEndpoint(tab);
      tab.setName(ex.title);
      tab.setQuery(ex.query);
      tab.query();
    });
  });
})();

// Results stay on this site. YASR writes every IRI as a link that opens in a new tab; here
// an IRI under the dataset's base opens its local page (/id/…, /graph/…, /ontology#…, else
// /resource?iri=), and any other IRI becomes plain text with a "search" link, so no result
// link leads to (or makes the browser contact) another host.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("editor-config").textContent);
  var base = config.base;
  var searchWord = config.searchLabel || "search";
  var lang = config.lang;  // the page's ?lang=, which its links keep (as the server's do)
  var root = document.getElementById("yasgui");
  if (!root || !base) { return; }

  function withLang(href) {
    if (!lang) { return href; }
    var hash = href.indexOf("#");
    var path = hash < 0 ? href : href.slice(0, hash);
    var fragment = hash < 0 ? "" : href.slice(hash);
    return path + (path.indexOf("?") < 0 ? "?" : "&") + "lang=" + encodeURIComponent(lang) + fragment;
  }

  function localHref(iri) {
    if (iri.indexOf(base) === 0) {
      var rest = iri.slice(base.length);
      if (/^(id|graph)\//.test(rest) && !/[#?%]/.test(rest)) { return withLang("/" + rest); }
      if (rest === "ontology" || rest.indexOf("ontology#") === 0) { return withLang("/" + rest); }
    }
    return withLang("/resource?iri=" + encodeURIComponent(iri));
  }

  function localName(iri) {
    var tail = iri.replace(/[\/#]+$/, "");
    return tail.slice(Math.max(tail.lastIndexOf("/"), tail.lastIndexOf("#")) + 1) || iri;
  }

  function isRemote(href) {
    try { return new URL(href, window.location.href).origin !== window.location.origin; }
    catch (e) { return true; }
  }

  function fix(link) {
    if (link.dataset.bjkgLocal) { return; }
    var href = link.getAttribute("href") || "";
    link.dataset.bjkgLocal = "1";
    link.removeAttribute("target");
    link.removeAttribute("rel");
    if (href.indexOf(base) === 0) {
      link.setAttribute("href", localHref(href));
      link.title = href;
      return;
    }
    if (!isRemote(href)) { return; }
    var text = document.createElement("span");
    text.className = "iri-text";
    text.textContent = link.textContent;
    text.title = href;
    var search = document.createElement("a");
    search.className = "iri-search";
    search.href = withLang("/search?q=" + encodeURIComponent(localName(href)));
    search.textContent = searchWord;
    search.dataset.bjkgLocal = "1";
    var holder = document.createElement("span");
    holder.appendChild(text);
    holder.appendChild(document.createTextNode(" "));
    holder.appendChild(search);
    link.replaceWith(holder);
  }

  function sweep(node) {
    if (!node.querySelectorAll) { return; }
    node.querySelectorAll(".yasr a[href]").forEach(fix);
  }

  new MutationObserver(function (records) {
    records.forEach(function (record) {
      record.addedNodes.forEach(function (node) {
        if (node.nodeType !== 1) { return; }
        if (node.matches && node.matches(".yasr a[href]")) { fix(node); }
        sweep(node);
      });
    });
  }).observe(root, { childList: true, subtree: true });
  sweep(root);

  // A last guard: a click on any result link that would still leave the site does nothing.
  root.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest(".yasr a[href]");
    if (link && isRemote(link.href)) { event.preventDefault(); }
  }, true);
})();
