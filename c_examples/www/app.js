// app.js: served by server_static_ex; clients that accept gzip get app.js.gz
// (the same bytes, compressed ahead of time with `gzip -9 -k -n app.js`).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var status = document.getElementById("status");
  status.textContent = "JavaScript ran: app.js was loaded from /static/app.js.";
  status.className = "ok";
});
