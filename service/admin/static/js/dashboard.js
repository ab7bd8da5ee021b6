// The dashboard's charts, drawn with the vendored Chart.js from the JSON block the page
// carries (#dashboard-data): no inline script, nothing loaded from another host.
(function () {
  "use strict";
  var source = document.getElementById("dashboard-data");
  if (!source || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var colours = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#4b5563"];
  var common = {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    interaction: { mode: "index", intersect: false },
    scales: { y: { beginAtZero: true, ticks: { precision: 0 } } }
  };

  new Chart(document.getElementById("readers-chart"), {
    type: "line",
    data: {
      labels: data.readers.weeks,
      datasets: data.readers.lists.map(function (list, i) {
        return { label: list.name, data: list.readers, borderColor: colours[i % colours.length],
                 backgroundColor: colours[i % colours.length], pointRadius: 0, tension: 0.2 };
      })
    },
    options: common
  });

  var activity = data.activity;
  new Chart(document.getElementById("activity-chart"), {
    type: "bar",
    data: {
      labels: activity.weeks,
      datasets: [
        { label: "confirmed", data: activity.confirmed, backgroundColor: "#16a34a" },
        { label: "unsubscribed", data: activity.unsubscribed, backgroundColor: "#9ca3af" },
        { label: "bounced", data: activity.bounced, backgroundColor: "#dc2626" }
      ]
    },
    options: common
  });
}());
