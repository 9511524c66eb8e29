// Draws each <figure class="chart" data-chart="line|bar" data-table="ID"> from the table
// named by data-table: the first cell of each body row is the category, and every cell
// with a data-value attribute is a number of the series named by its column's header.
// data-stack="true" stacks the series (they add up); otherwise they stand side by side.
// The table stays on the page: the chart is a picture of it, never the only copy.
(function () {
  "use strict";
  function read(table) {
    var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.textContent.trim();
    });
    var categories = [];
    var series = heads.slice(1).map(function (name) { return { name: name, data: [] }; });
    Array.prototype.forEach.call(table.querySelectorAll("tbody tr"), function (row) {
      var cells = row.querySelectorAll("th, td");
      if (cells.length < 2 || !cells[1].hasAttribute("data-value")) { return; }
      categories.push(cells[0].textContent.trim());
      for (var i = 1; i < cells.length && i <= series.length; i++) {
        var value = cells[i].getAttribute("data-value");
        series[i - 1].data.push(value === null ? null : Number(value));
      }
    });
    series = series.filter(function (s) { return s.data.some(function (v) { return v !== null; }); });
    return { categories: categories, series: series };
  }
  function draw(figure) {
    var table = document.getElementById(figure.getAttribute("data-table"));
    var canvas = figure.querySelector(".canvas");
    if (!table || !canvas || typeof window.echarts === "undefined") { return; }
    var data = read(table);
    if (!data.categories.length) { figure.hidden = true; return; }
    var kind = figure.getAttribute("data-chart") === "line" ? "line" : "bar";
    // Stacked only where the series add up (outcomes of the same queries), never for shares.
    var stacked = figure.getAttribute("data-stack") === "true";
    var chart = window.echarts.init(canvas, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 48, right: 16, top: 32, bottom: 48 },
      xAxis: { type: "category", data: data.categories, axisLabel: { hideOverlap: true } },
      yAxis: { type: "value" },
      series: data.series.map(function (s) {
        return { name: s.name, type: kind, data: s.data, stack: stacked ? "all" : undefined };
      })
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("figure.chart[data-table]"), draw);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
