// Small behaviours of the pages, without inline scripts (the Content-Security-Policy forbids them).
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-imprimer]")) { window.print(); }
  });
  document.addEventListener("submit", function (event) {
    var question = event.target.dataset && event.target.dataset.confirmer;
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });
}());
