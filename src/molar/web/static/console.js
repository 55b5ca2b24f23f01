// Draws the dashboard's charts from the JSON the page carries; sets
// document.body.dataset.charts = "ready" when every chart has rendered (tests and the PDF
// printer wait for it).
(function () {
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  var charts = [];
  var pending = 0;
  function chart(id, option) {
    var el = document.getElementById(id);
    var c = echarts.init(el, null, { renderer: "svg" });
    pending += 1;
    c.on("finished", function () {
      c.off("finished");
      pending -= 1;
      if (pending === 0) document.body.dataset.charts = "ready";
    });
    c.setOption(option);
    charts.push(c);
    return c;
  }
  var empty = { text: data.empty, left: "center", top: "middle", textStyle: { color: "#888", fontSize: 13 } };
  function bar(labels, values) {
    return {
      title: values.length ? undefined : empty,
      grid: { left: 48, right: 16, top: 16, bottom: 48 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: labels, axisLabel: { interval: 0, rotate: labels.length > 5 ? 30 : 0 } },
      yAxis: { type: "value" },
      series: [{ type: "bar", data: values, itemStyle: { color: "#2f7ed8" } }]
    };
  }
  var d = data.daily;
  chart("chart-daily", {
    tooltip: { trigger: "axis" },
    legend: { data: d.visits_last_year ? d.names : d.names.slice(0, 2), top: 0 },
    grid: { left: 48, right: 64, top: 48, bottom: 32 },
    xAxis: { type: "category", data: d.days },
    yAxis: [{ type: "value", name: d.names[0] }, { type: "value", name: d.names[1] }],
    series: [
      { name: d.names[0], type: "line", data: d.visits, smooth: true },
      { name: d.names[1], type: "line", yAxisIndex: 1, data: d.revenue, smooth: true }
    ].concat(d.visits_last_year ? [{ name: d.names[2], type: "line", data: d.visits_last_year, smooth: true,
                                     lineStyle: { type: "dashed" } }] : [])
  });
  chart("chart-departments", bar(data.departments.labels, data.departments.values));
  chart("chart-clinics", bar(data.clinics.labels, data.clinics.values));
  chart("chart-acquisition", {
    title: data.acquisition.length ? undefined : empty,
    tooltip: { trigger: "item", formatter: "{b}: {c} ({d}%)" },
    series: [{ type: "pie", radius: ["35%", "65%"], data: data.acquisition, label: { formatter: "{b} {d}%" } }]
  });
  var hours = [];
  for (var h = 7; h <= 21; h++) hours.push(String(h));
  var select = document.getElementById("heatmap-department");
  var cellsOf = {};
  data.heatmap.departments.forEach(function (d) { cellsOf[d[0]] = d[1]; });
  var names = data.heatmap.departments.map(function (d) { return d[0]; });
  names.forEach(function (n) { var o = document.createElement("option"); o.textContent = n; select.appendChild(o); });
  var heat = chart("chart-heatmap", heatOption(names[0]));
  select.addEventListener("change", function () { heat.setOption(heatOption(select.value), true); });
  function heatOption(name) {
    var cells = (cellsOf[name] || []).map(function (c) { return [c[1] - 7, c[0], c[2]]; })
      .filter(function (c) { return c[0] >= 0 && c[0] < hours.length; });
    var max = cells.reduce(function (m, c) { return Math.max(m, c[2]); }, 1);
    return {
      title: cells.length ? undefined : empty,
      tooltip: { position: "top" },
      grid: { left: 48, right: 80, top: 16, bottom: 32 },
      xAxis: { type: "category", data: hours, splitArea: { show: true } },
      yAxis: { type: "category", data: data.heatmap.weekdays, splitArea: { show: true } },
      visualMap: { min: 0, max: max, calculable: true, orient: "vertical", right: 0, top: "middle" },
      series: [{ type: "heatmap", data: cells, label: { show: true } }]
    };
  }
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();
