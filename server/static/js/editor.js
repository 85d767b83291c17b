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
