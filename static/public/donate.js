// The donate page: a typed amount clears the presets, a preset clears the typed amount.
"use strict";
(function () {
  var custom = document.getElementById("custom-amount");
  if (!custom) return;
  var presets = document.querySelectorAll("input[type=radio][name=amount]");
  custom.addEventListener("input", function () {
    if (custom.value) { presets.forEach(function (r) { r.checked = false; }); }
  });
  presets.forEach(function (r) {
    r.addEventListener("change", function () { custom.value = ""; });
  });
})();
