/* The "give a point" map of the service finder and of the report form (a page's own script calls it).
   A Leaflet map of the city's own streets (no tiles, no other host): a click, Enter on the focused map, or the
   "choose the centre" button fills the latitude and longitude fields; arrow keys pan and + / − zoom (Leaflet's
   keyboard handler). Nothing is ever dragged: choosing a point is one click or one key press (WCAG 2.2, 2.5.7).
   The host element carries the texts and addresses: data-streets, data-bounds, data-label, data-choose,
   data-chosen. */
(function () {
  "use strict";

  /* Say ``text`` in the status region (a polite live region of the page). */
  function say(status, text) {
    if (!status) { return; }
    status.textContent = "";
    var p = document.createElement("p");
    p.className = "notice";
    p.textContent = text;
    status.appendChild(p);
  }

  /* Fill the fields with a point (six decimals, about 0.1 m). */
  function fill(latField, lonField, lat, lon) {
    latField.value = lat.toFixed(6);
    lonField.value = lon.toFixed(6);
  }

  /* Show the map in ``host``; ``buttonId`` is the id of its "choose the centre" button. Returns
     ``moveMarker(latlng)``, which moves the chosen point's marker if there is one. */
  function pointMap(host, latField, lonField, status, buttonId) {
    var marker = null;
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
      fill(latField, lonField, latlng.lat, latlng.lng);
      if (marker) { marker.setLatLng(latlng); }
      else {
        marker = L.circleMarker(latlng, { radius: 9, color: "#ffffff", weight: 3, fillColor: "#c2410c",
          fillOpacity: 1, interactive: false });
        marker.addTo(map);
      }
      say(status, host.dataset.chosen);
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
    var button = document.createElement("button");
    button.type = "button";
    button.id = buttonId;
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

    return function moveMarker(latlng) { if (marker) { marker.setLatLng(latlng); } };
  }

  window.exquisitePoint = { say: say, fill: fill, map: pointMap };
})();
