// Horizon selector: every horizon's table is rendered into the page (the site works from file://);
// the buttons only show one and hide the others, and the choice is kept in the URL hash.
(function () {
  function show(section, horizon) {
    section.querySelectorAll(".horizon").forEach(function (t) { t.hidden = t.dataset.horizon !== horizon; });
    section.querySelectorAll(".selector button").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.dataset.horizon === horizon));
    });
  }
  document.querySelectorAll("section.task").forEach(function (section) {
    section.querySelectorAll(".selector button").forEach(function (b) {
      b.addEventListener("click", function () { show(section, b.dataset.horizon); history.replaceState(null, "", "#" + b.dataset.horizon); });
    });
    var wanted = location.hash.slice(1);
    var first = section.querySelector(".selector button");
    var pick = section.querySelector('.selector button[data-horizon="' + wanted + '"]') || first;
    if (pick) { show(section, pick.dataset.horizon); }
  });
})();
