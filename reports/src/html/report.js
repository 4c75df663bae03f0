/* sockspec report: filters, lazy case bodies, deep links, print. No network access. */
(function () {
  'use strict';
  var list = document.getElementById('case-list');
  if (!list) { return; }
  var cases = Array.prototype.slice.call(list.querySelectorAll('details.case'));
  var bodies = null;

  /* Case bodies of collapsed cases are kept as HTML strings until first opened. */
  function fill(d) {
    var body = d.querySelector('.case-body[data-lazy]');
    if (!body) { return; }
    if (bodies === null) {
      var blob = document.getElementById('lazy-bodies');
      bodies = blob ? JSON.parse(blob.textContent) : [];
    }
    var html = bodies[Number(body.getAttribute('data-lazy'))];
    if (typeof html === 'string') { body.innerHTML = html; }
    body.removeAttribute('data-lazy');
  }
  list.addEventListener('toggle', function (e) {
    var d = e.target;
    if (d && d.classList && d.classList.contains('case') && d.open) { fill(d); }
  }, true);

  var outcomes = ['pass', 'fail', 'error', 'skip'];
  var theme = document.getElementById('filter-theme');
  var tag = document.getElementById('filter-tag');
  var search = document.getElementById('search');
  var count = document.getElementById('shown-count');

  function apply() {
    var allowed = {};
    outcomes.forEach(function (o) {
      var box = document.getElementById('filter-outcome-' + o);
      allowed[o] = !box || box.checked;
    });
    var th = theme ? theme.value : '';
    var tg = tag ? tag.value : '';
    var q = search ? search.value.trim().toLowerCase() : '';
    var shown = 0;
    for (var i = 0; i < cases.length; i++) {
      var d = cases[i];
      var ok = allowed[d.getAttribute('data-outcome')] &&
        (!th || d.getAttribute('data-theme') === th) &&
        (!tg || (' ' + d.getAttribute('data-tags') + ' ').indexOf(' ' + tg + ' ') >= 0) &&
        (!q || d.getAttribute('data-search').indexOf(q) >= 0);
      d.hidden = !ok;
      if (ok) { shown++; }
    }
    if (count) { count.textContent = shown + ' of ' + cases.length + ' cases shown'; }
  }
  document.getElementById('filters').addEventListener('input', apply);
  document.getElementById('filters').addEventListener('change', apply);

  function resetFilters() {
    outcomes.forEach(function (o) {
      var box = document.getElementById('filter-outcome-' + o);
      if (box) { box.checked = true; }
    });
    if (theme) { theme.value = ''; }
    if (tag) { tag.value = ''; }
    if (search) { search.value = ''; }
    apply();
  }

  function setAll(open) {
    cases.forEach(function (d) {
      if (!d.hidden) { if (open) { fill(d); } d.open = open; }
    });
  }
  var expand = document.getElementById('expand-all');
  var collapse = document.getElementById('collapse-all');
  if (expand) { expand.addEventListener('click', function () { setAll(true); }); }
  if (collapse) { collapse.addEventListener('click', function () { setAll(false); }); }

  /* A link to a case opens it, even when filters hid it. */
  function reveal() {
    var id = window.location.hash.slice(1);
    var el = id && document.getElementById(id);
    if (!el || !el.classList.contains('case')) { return; }
    if (el.hidden) { resetFilters(); }
    fill(el);
    el.open = true;
    if (el.scrollIntoView) { el.scrollIntoView(); }
  }
  window.addEventListener('hashchange', reveal);

  /* Printing shows every case that the filters show, expanded. */
  window.addEventListener('beforeprint', function () {
    cases.forEach(function (d) { if (!d.hidden) { fill(d); d.open = true; } });
  });

  apply();
  reveal();
}());
