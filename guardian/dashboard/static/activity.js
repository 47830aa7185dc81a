// Activity: every hour of the heatmap can be read by keyboard (one Tab stop per chart, then the
// arrow keys, Home and End) and by touch or mouse (a tap); what it says appears below the chart.
(function () {
  "use strict";
  var charts = document.querySelectorAll("svg.heatmap");
  Array.prototype.forEach.call(charts, function (svg) {
    var cells = Array.prototype.slice.call(svg.querySelectorAll("g.cell"));
    if (!cells.length) { return; }
    var readout = document.getElementById(svg.getAttribute("data-readout"));
    var grid = {};
    cells.forEach(function (cell) {
      grid[cell.getAttribute("data-row") + ":" + cell.getAttribute("data-col")] = cell;
    });
    var current = cells[0];
    function show(cell, focus) {
      current.setAttribute("tabindex", "-1");
      current.classList.remove("selected");
      cell.setAttribute("tabindex", "0");
      cell.classList.add("selected");
      current = cell;
      if (readout) { readout.textContent = cell.getAttribute("aria-label"); }
      if (focus) { cell.focus(); }
    }
    svg.addEventListener("keydown", function (event) {
      var row = Number(current.getAttribute("data-row"));
      var col = Number(current.getAttribute("data-col"));
      if (event.key === "ArrowLeft") { col -= 1; }
      else if (event.key === "ArrowRight") { col += 1; }
      else if (event.key === "ArrowUp") { row -= 1; }
      else if (event.key === "ArrowDown") { row += 1; }
      else if (event.key === "Home") { col = 0; }
      else if (event.key === "End") { col = 23; }
      else { return; }
      event.preventDefault();
      var next = grid[row + ":" + col];
      if (next) { show(next, true); }
    });
    cells.forEach(function (cell) {
      cell.addEventListener("focus", function () { if (cell !== current || !cell.classList.contains("selected")) { show(cell, false); } });
      cell.addEventListener("click", function () { show(cell, true); });
    });
  });
})();
