/* Enhancements of the service finder's "give a point" form; the form works without them.
   - a Leaflet map of the city's own streets (no tiles, no other host): a click, or Enter on the focused map,
     fills the latitude and longitude fields; arrow keys pan and + / − zoom (Leaflet's keyboard handler);
   - "Use my location" (the browser's geolocation) fills the same fields.
   Nothing is ever dragged: choosing a point is one click or one key press (WCAG 2.2, 2.5.7). */
(function () {
  "use strict";
  var host = document.getElementById("finder-map");
  var latField = document.getElementById("finder-lat");
  var lonField = document.getElementById("finder-lon");
  var status = document.getElementById("finder-status");
  if (!host || !latField || !lonField) { return; }

  function say(text) {
    if (!status) { return; }
    status.textContent = "";
    var p = document.createElement("p");
    p.className = "notice";
    p.textContent = text;
    status.appendChild(p);
  }

  function fill(lat, lon) {
    latField.value = lat.toFixed(6);
    lonField.value = lon.toFixed(6);
  }

  var locate = document.getElementById("finder-locate");
  if (locate && navigator.geolocation) {
    locate.hidden = false;
    locate.addEventListener("click", function () {
      navigator.geolocation.getCurrentPosition(function (pos) {
        fill(pos.coords.latitude, pos.coords.longitude);
        if (marker) { marker.setLatLng([pos.coords.latitude, pos.coords.longitude]); }
        say(host.dataset.located);
      }, function () { say(host.dataset.failed); }, { timeout: 10000 });
    });
  }

  if (typeof L === "undefined") { return; }
  var marker = null;
  host.hidden = false;
  var map = L.map(host, { keyboard: true, zoomControl: true, attributionControl: true, preferCanvas: false });
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
    fill(latlng.lat, latlng.lng);
    if (marker) { marker.setLatLng(latlng); }
    else {
      marker = L.circleMarker(latlng, { radius: 9, color: "#ffffff", weight: 3, fillColor: "#c2410c", fillOpacity: 1,
        interactive: false });
      marker.addTo(map);
    }
    say(host.dataset.chosen);
  }

  // the study area: the map opens on it and outlines it (points outside it cannot be answered)
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

  var choose_button = document.createElement("button");
  choose_button.type = "button";
  choose_button.id = "finder-map-choose";
  choose_button.className = "button-secondary";
  choose_button.textContent = host.dataset.choose;
  choose_button.addEventListener("click", function () { choose(map.getCenter()); });
  host.parentNode.insertBefore(choose_button, host.nextSibling);

  fetch(host.dataset.streets, { credentials: "same-origin" })
    .then(function (r) { return r.json(); })
    .then(function (data) {
      var layer = L.geoJSON(data, { interactive: false, style: function () { return { color: "#4b5663", weight: 1.5, opacity: 0.8 }; } });
      if (!area) { map.fitBounds(layer.getBounds()); }
      layer.addTo(map);
    })
    .catch(function (err) { if (window.console) { console.error(err); } host.hidden = true; choose_button.hidden = true; });
})();
