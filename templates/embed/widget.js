/* Donation goal widget (tracker): puts the widget in an iframe where this script tag stands. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src || !script.parentNode) return;
  var frameUrl = new URL({{ frame_path|tojson }}, script.src);
  var iframe = document.createElement("iframe");
  var style = iframe.style;
  iframe.src = frameUrl.href;
  iframe.title = {{ title|tojson }};
  iframe.setAttribute("scrolling", "no");
  iframe.setAttribute("loading", "lazy");
  iframe.setAttribute("sandbox", "allow-scripts allow-same-origin allow-popups allow-popups-to-escape-sandbox");
  style.border = "0";
  style.display = "block";
  style.width = "100%";
  style.height = "{{ height }}px";
  style.overflow = "hidden";
  window.addEventListener("message", function (event) {
    if (event.origin !== frameUrl.origin || event.source !== iframe.contentWindow) return;
    var data = event.data;
    if (!data || data.type !== "tracker:height") return;
    var height = Math.ceil(Number(data.height));
    if (height > 0 && height < 4000) style.height = height + "px";
  });
  script.parentNode.insertBefore(iframe, script.nextSibling);
})();
