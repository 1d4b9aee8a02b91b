/* Enhancements of the report pages; every form works without them.
   - the "give a point" map of pointmap.js (one click, Enter on the focused map, or the "choose the centre"
     button fills the latitude and longitude fields; nothing is ever dragged, WCAG 2.2, 2.5.7);
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
    if (!host || typeof L === "undefined" || !window.exquisitePoint) { return; }
    var latField = document.getElementById(host.dataset.lat);
    var lonField = document.getElementById(host.dataset.lon);
    if (!latField || !lonField) { return; }
    window.exquisitePoint.map(host, latField, lonField, document.getElementById(host.dataset.status),
      "report-map-choose");
  }

  counter();
  pointMap();
})();
