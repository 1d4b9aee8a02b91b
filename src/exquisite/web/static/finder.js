/* Enhancements of the service finder's "give a point" form; the form works without them.
   - the map of pointmap.js fills the latitude and longitude fields;
   - "Use my location" (the browser's geolocation) fills the same fields. */
(function () {
  "use strict";
  var host = document.getElementById("finder-map");
  var latField = document.getElementById("finder-lat");
  var lonField = document.getElementById("finder-lon");
  var status = document.getElementById("finder-status");
  var point = window.exquisitePoint;
  if (!host || !latField || !lonField || !point) { return; }
  var moveMarker = function () {};

  var locate = document.getElementById("finder-locate");
  if (locate && navigator.geolocation) {
    locate.hidden = false;
    locate.addEventListener("click", function () {
      navigator.geolocation.getCurrentPosition(function (pos) {
        point.fill(latField, lonField, pos.coords.latitude, pos.coords.longitude);
        moveMarker([pos.coords.latitude, pos.coords.longitude]);
        point.say(status, host.dataset.located);
      }, function () { point.say(status, host.dataset.failed); }, { timeout: 10000 });
    });
  }

  if (typeof L === "undefined") { return; }
  moveMarker = point.map(host, latField, lonField, status, "finder-map-choose");
})();
