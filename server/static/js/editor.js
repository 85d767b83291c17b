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

  var yasgui = new Yasgui(document.getElementById("yasgui"), {
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
  var root = document.getElementById("yasgui");
  if (!root || !base) { return; }

  function localHref(iri) {
    if (iri.indexOf(base) === 0) {
      var rest = iri.slice(base.length);
      if (/^(id|graph)\//.test(rest) && !/[#?%]/.test(rest)) { return "/" + rest; }
      if (rest === "ontology" || rest.indexOf("ontology#") === 0) { return "/" + rest; }
    }
    return "/resource?iri=" + encodeURIComponent(iri);
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
    search.href = "/search?q=" + encodeURIComponent(localName(href));
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
