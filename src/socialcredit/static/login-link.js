// A sign-in link carries its one-time token in the fragment (/login/link#token=scl_...), which
// the browser never sends: no server, proxy or access log sees it. This moves it into the
// form and takes it out of the address bar (and so out of the history).
(function () {
  "use strict";
  var match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  var field = document.getElementById("token");
  if (match && field) {
    field.value = decodeURIComponent(match[1]);
    window.history.replaceState(null, "", window.location.pathname);
  }
})();
