/* Enhancements of the report pages; every form works without them.
   - the "give a point" map (Leaflet over the city's own streets, no tiles, no other host): one click, or Enter
     on the focused map, or the "choose the centre" button fills the latitude and longitude fields; arrow keys
     pan and + / − zoom. Nothing is ever dragged (WCAG 2.2, 2.5.7);
   - the description's "characters left" counter, said politely after typing pauses. */
(function () {
  "use strict";

  function counter() {
    var box = document.getElementById("description");
    var out = document.getElementById("description-count");
    if (!box || !out) { return; }
    var max = parseInt(box.getAttribute("data-max"), 10);
    var template = box.getAttribute("data-left") || "{n}";
    var timer = null;
    function show() { out.textContent = template.replace("{n}", String(Math.max(0, max - box.value.length))); }
    box.addEventListener("input", function () {
      if (timer) { window.clearTimeout(timer); }
      timer = window.setTimeout(show, 600);
    });
  }

  function pointMap() {
    var host = document.getElementById("report-map");
    if (!host || typeof L === "undefined") { return; }
    var latField = document.getElementById(host.dataset.lat);
    var lonField = document.getElementById(host.dataset.lon);
    var status = document.getElementById(host.dataset.status);
    if (!latField || !lonField) { return; }
    var marker = null;

    function say(text) {
      if (!status) { return; }
      status.textContent = "";
      var p = document.createElement("p");
      p.className = "notice";
      p.textContent = text;
      status.appendChild(p);
    }

    host.hidden = false;
    var map = L.map(host, { keyboard: true, zoomControl: true, attributionControl: true });
    map.attributionControl.setPrefix(false);
    map.attributionControl.addAttribution("© OpenStreetMap contributors");
    var container = map.getContainer();
    container.setAttribute("aria-label", host.dataset.label);
    container.setAttribute("role", "application");
    var cross = document.createElement("div");
    cross.className = "crosshair";
    cross.setAttribute("aria-hidden", "true");
    container.appendChild(cross);

    function choose(latlng) {
      latField.value = latlng.lat.toFixed(6);
      lonField.value = latlng.lng.toFixed(6);
      if (marker) { marker.setLatLng(latlng); }
      else {
        marker = L.circleMarker(latlng, { radius: 9, color: "#ffffff", weight: 3, fillColor: "#c2410c",
          fillOpacity: 1, interactive: false });
        marker.addTo(map);
      }
      say(host.dataset.chosen);
    }

    var area = null;
    var b = (host.dataset.bounds || "").split(",").map(Number);
    if (b.length === 4 && b.every(isFinite)) {
      area = L.latLngBounds([b[1], b[0]], [b[3], b[2]]);
      map.fitBounds(area);
      L.rectangle(area, { interactive: false, fill: false, color: "#c2410c", weight: 2, dashArray: "6 4" }).addTo(map);
    }
    map.on("click", function (e) { choose(e.latlng); });
    container.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && e.target === container) { e.preventDefault(); choose(map.getCenter()); }
    });
    var button = document.createElement("button");
    button.type = "button";
    button.id = "report-map-choose";
    button.className = "button-secondary";
    button.textContent = host.dataset.choose;
    button.addEventListener("click", function () { choose(map.getCenter()); });
    host.parentNode.insertBefore(button, host.nextSibling);

    fetch(host.dataset.streets, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var layer = L.geoJSON(data, { interactive: false,
          style: function () { return { color: "#4b5663", weight: 1.5, opacity: 0.8 }; } });
        if (!area) { map.fitBounds(layer.getBounds()); }
        layer.addTo(map);
      })
      .catch(function (err) { if (window.console) { console.error(err); } host.hidden = true; button.hidden = true; });
  }

  counter();
  pointMap();
})();
