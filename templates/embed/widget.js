/* Donation goal widget (tracker): puts the widget in an iframe where this script tag stands. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src || !script.parentNode) return;
  var frameUrl = new URL({{ frame_path|tojson }}, script.src);
  // Where the donation comes from: this page (origin and path) and its utm_ campaign
  // tags, in the fragment, so the widget's cached answer is the same for every page.
  var here = new URL(window.location.href);
  var from = new URLSearchParams();
  if (here.protocol === "https:" || here.protocol === "http:") {
    from.set("ref", (here.origin + here.pathname).slice(0, 500));
    ["utm_source", "utm_medium", "utm_campaign"].forEach(function (key) {
      var value = here.searchParams.get(key);
      if (value) from.set(key, value.slice(0, 500));
    });
  }
  frameUrl.hash = from.toString();
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
