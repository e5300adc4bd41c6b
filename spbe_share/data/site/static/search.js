/* spbe-share web catalog: client-side search and filters over search-index.json.
   No framework, no network beyond this site. Without JavaScript the full list stays visible. */
(function () {
  "use strict";
  var form = document.getElementById("saringan");
  var list = document.getElementById("daftar");
  if (!form || !list) { return; }
  var noJs = document.getElementById("tanpa-js");
  if (noJs) { noJs.hidden = true; }
  var count = document.getElementById("jumlah");
  var empty = document.getElementById("kosong");
  var cards = Array.prototype.slice.call(list.querySelectorAll("li[data-app]"));
  var fields = ["q", "jenis", "layanan", "domain", "donor", "regulasi"];

  function norm(s) {
    return String(s || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }
  function words(s) { return norm(s).split(/[^\p{L}\p{N}]+/u).filter(Boolean); }
  function fmt(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, k) { return values[k]; });
  }

  function apply(index) {
    var want = {};
    fields.forEach(function (f) { want[f] = form.elements[f] ? form.elements[f].value : ""; });
    var qwords = words(want.q);
    var shown = 0;
    cards.forEach(function (card) {
      var app = index[card.getAttribute("data-app")];
      var ok = !!app;
      if (ok && want.jenis) { ok = app.jenis === want.jenis; }
      if (ok && want.layanan) { ok = app.layanan === want.layanan; }
      if (ok && want.domain) { ok = app.domain === want.domain; }
      if (ok && want.donor) { ok = app.donor === want.donor; }
      if (ok && want.regulasi) { ok = app.regulations.indexOf(want.regulasi) >= 0; }
      for (var i = 0; ok && i < qwords.length; i++) { ok = app.text.indexOf(qwords[i]) >= 0; }
      card.hidden = !ok;
      if (ok) { shown++; }
    });
    var filtered = qwords.length || fields.some(function (f) { return f !== "q" && want[f]; });
    count.textContent = filtered
      ? fmt(form.getAttribute("data-count-found"), { n: shown, total: cards.length })
      : fmt(form.getAttribute("data-count-apps"), { n: cards.length });
    empty.hidden = shown !== 0;
    var params = new URLSearchParams();
    fields.forEach(function (f) { if (want[f]) { params.set(f, want[f]); } });
    var qs = params.toString();
    if (window.history && window.history.replaceState && location.protocol !== "file:") {
      window.history.replaceState(null, "", qs ? "?" + qs : location.pathname);
    }
  }

  function start(data) {
    var index = {};
    data.apps.forEach(function (a) {
      a.text = norm([a.name, a.id, a.summary.id, a.summary.en, a.description.id, a.description.en,
                     a.domain, a.donor, a.kode_wilayah, a.keywords.join(" "), a.regulation_names.join(" ")].join(" "));
      index[a.slug] = a;
    });
    var params = new URLSearchParams(location.search);
    fields.forEach(function (f) {
      var el = form.elements[f];
      if (el && params.get(f) !== null) { el.value = params.get(f); }
    });
    form.hidden = false;
    form.addEventListener("input", function () { apply(index); });
    form.addEventListener("change", function () { apply(index); });
    form.addEventListener("submit", function (ev) { ev.preventDefault(); apply(index); });
    form.addEventListener("reset", function () { setTimeout(function () { apply(index); }, 0); });
    apply(index);
  }

  fetch(form.getAttribute("data-index"))
    .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
    .then(start)
    .catch(function () {
      var p = document.createElement("p");
      p.className = "note";
      p.textContent = form.getAttribute("data-needs-server");
      form.parentNode.insertBefore(p, form);
    });
})();
