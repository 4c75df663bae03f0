/* sockspec matrix: only-disagreements filter, text search and column sorting. */
(function () {
  'use strict';
  var table = document.getElementById('matrix');
  if (!table) { return; }
  var tbody = table.tBodies[0];
  var rows = Array.prototype.slice.call(tbody.rows);
  var only = document.getElementById('only-disagreements');
  var search = document.getElementById('search');
  var count = document.getElementById('shown-count');
  var rank = { fail: 0, error: 1, skip: 2, pass: 3, missing: 4 };

  function apply() {
    var q = search ? search.value.trim().toLowerCase() : '';
    var shown = 0;
    rows.forEach(function (r) {
      var ok = (!only || !only.checked || r.getAttribute('data-disagree') === 'true') &&
        (!q || r.getAttribute('data-case').toLowerCase().indexOf(q) >= 0);
      r.hidden = !ok;
      if (ok) { shown++; }
    });
    if (count) { count.textContent = shown + ' of ' + rows.length + ' cases shown'; }
  }
  if (only) { only.addEventListener('change', apply); }
  if (search) { search.addEventListener('input', apply); }

  var direction = {};
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
    th.addEventListener('click', function () {
      var dir = direction[col] = -(direction[col] || -1);
      var key = function (r) {
        var cell = r.cells[col];
        var o = cell.getAttribute('data-outcome');
        if (o !== null) { return rank[o]; }
        var s = cell.getAttribute('data-sort');
        return s !== null ? s : cell.textContent;
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x < y) { return -dir; }
        if (x > y) { return dir; }
        return a.getAttribute('data-case') < b.getAttribute('data-case') ? -1 : 1;
      });
      rows.forEach(function (r) { tbody.appendChild(r); });
    });
  });
  apply();
}());
