// Horizon and region selectors: every horizon's table is in the page (the site works from file://);
// the buttons only show one horizon and one region's columns, and the horizon is kept in the URL hash.
(function () {
  function press(buttons, key, value) {
    buttons.forEach(function (b) { b.setAttribute("aria-pressed", String(b.dataset[key] === value)); });
  }
  function showHorizon(section, horizon) {
    section.querySelectorAll(".horizon").forEach(function (t) { t.hidden = t.dataset.horizon !== horizon; });
    press(section.querySelectorAll(".selector button[data-horizon]"), "horizon", horizon);
  }
  function showRegion(section, region) {
    section.dataset.region = region;
    press(section.querySelectorAll(".selector button[data-region]"), "region", region);
  }
  document.querySelectorAll("section.task").forEach(function (section) {
    section.querySelectorAll(".selector button[data-horizon]").forEach(function (b) {
      b.addEventListener("click", function () {
        showHorizon(section, b.dataset.horizon);
        history.replaceState(null, "", "#" + b.dataset.horizon);
      });
    });
    section.querySelectorAll(".selector button[data-region]").forEach(function (b) {
      b.addEventListener("click", function () { showRegion(section, b.dataset.region); });
    });
    var wanted = section.querySelector('.selector button[data-horizon="' + location.hash.slice(1) + '"]');
    var first = section.querySelector(".selector button[data-horizon]");
    if (wanted || first) { showHorizon(section, (wanted || first).dataset.horizon); }
    showRegion(section, "full");
  });
})();
