// The matches' map: the client's origin, the distance circle, one numbered marker per offer.
// Tiles come from MATCHER_MAP_TILES when set; without them the markers stand on a plain
// background, so the map works offline.
(function () {
  "use strict";
  // Leaflet puts a string tooltip in as HTML: give it a text node, never markup from records.
  function asText(text) { return document.createTextNode(text); }

  function draw() {
    var element = document.getElementById("carte");
    if (!element || element.dataset.drawn || typeof L === "undefined") { return; }
    element.dataset.drawn = "1";
    var points = JSON.parse(element.dataset.points || "[]");
    var origin = JSON.parse(element.dataset.origin || "null");
    var map = L.map(element, { attributionControl: Boolean(element.dataset.tiles) });
    if (element.dataset.tiles) {
      L.tileLayer(element.dataset.tiles, { maxZoom: 18, attribution: "Fond de carte : " + new URL(element.dataset.tiles).host }).addTo(map);
    }
    var bounds = [];
    if (origin) {
      L.circleMarker([origin.lat, origin.lon], { radius: 8, color: "#7a4b00", fillOpacity: 0.9, className: "marqueur-origine" })
        .bindTooltip(asText("Habite : " + (origin.label || "origine"))).addTo(map);
      bounds.push([origin.lat, origin.lon]);
      var radius = parseFloat(element.dataset.radiusKm);
      if (radius > 0) {
        L.circle([origin.lat, origin.lon], { radius: radius * 1000, color: "#7a4b00", fill: false, dashArray: "6 4", className: "cercle-distance" }).addTo(map);
        var reach = L.latLng(origin.lat, origin.lon).toBounds(radius * 2000);
        bounds.push(reach.getNorthEast(), reach.getSouthWest());
      }
    }
    points.forEach(function (point) {
      var icon = L.divIcon({ className: "marqueur-offre", html: String(point.rank), iconSize: [26, 26] });
      L.marker([point.lat, point.lon], { icon: icon, title: point.rank + ". " + point.title, keyboard: true })
        .on("click", function () {
          var card = document.getElementById("offre-" + point.id);
          if (card) { card.scrollIntoView({ behavior: "smooth" }); }
        })
        .addTo(map);
      bounds.push([point.lat, point.lon]);
    });
    if (bounds.length) { map.fitBounds(bounds, { padding: [20, 20], maxZoom: 11 }); } else { map.setView([46.6, 2.4], 5); }
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
}());
